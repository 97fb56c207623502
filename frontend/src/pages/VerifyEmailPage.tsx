import { Link } from 'react-router';
import { api, unwrap } from '../api';
import { MailLinkAction } from '../components/MailLinkAction';

export function VerifyEmailPage() {
  return (
    <MailLinkAction
      title="Verify your address"
      intro="Confirm that this address is yours."
      action="Confirm my address"
      busyLabel="Confirming…"
      send={(token) => unwrap(api.POST('/api/auth/email/verify', { body: { token } }))}
      done="Your address is verified."
      renew={
        <>
          Ask for a new one from the banner on your <Link to="/profile">profile</Link>.
        </>
      }
    />
  );
}
