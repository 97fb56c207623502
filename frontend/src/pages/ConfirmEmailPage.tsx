import { Link } from 'react-router';
import { api, unwrap } from '../api';
import { MailLinkAction } from '../components/MailLinkAction';

export function ConfirmEmailPage() {
  return (
    <MailLinkAction
      title="Confirm your new address"
      intro="Your account's address changes to this one when you confirm. Every other session is then logged out."
      action="Confirm my new address"
      busyLabel="Confirming…"
      send={(token) => unwrap(api.POST('/api/auth/email/confirm', { body: { token } }))}
      done="Your address was changed and is verified. Every other session was logged out."
      renew={
        <>
          Your address is unchanged; you can ask again from your <Link to="/profile">profile</Link>.
        </>
      }
      taken={
        <>
          Another account took this address in the meantime, so yours is unchanged. You can choose another one on
          your <Link to="/profile">profile</Link>.
        </>
      }
    />
  );
}
