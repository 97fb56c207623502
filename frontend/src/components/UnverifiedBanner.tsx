import { useState } from 'react';
import { api, unwrap } from '../api';
import { useAuth } from '../auth/AuthContext';
import { resendFailure } from '../mail/outcomes';
import { ErrorMessage, StatusMessage } from './Alert';
import { Button } from './Button';

/**
 * Shown to a signed-in user whose address is not verified yet (GET /api/me `email_verified`),
 * with a button that re-sends the verification mail.
 */
export function UnverifiedBanner({ email }: { email: string }) {
  const auth = useAuth();
  const [busy, setBusy] = useState(false);
  const [sent, setSent] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);

  const resend = async () => {
    setBusy(true);
    setSent(null);
    setError(null);
    try {
      await unwrap(api.POST('/api/me/email/verification'));
      setSent(`Sent. Open the link in the mail to ${email} to verify it.`);
    } catch (err) {
      const outcome = resendFailure(err);
      if (outcome.kind === 'verified') {
        // Verified elsewhere (another browser): this session's claims catch up at its next refresh.
        auth.updateMe({ email_verified: true });
        void auth.refreshIdentity();
      } else if (outcome.kind === 'error') {
        setError(outcome.message);
      }
    } finally {
      setBusy(false);
    }
  };

  return (
    <aside className="alert alert-warning banner" aria-labelledby="unverified-title" data-testid="unverified-banner">
      <p id="unverified-title">
        <strong>Your address {email} is not verified yet.</strong> Check your mail for the link.
      </p>
      <Button variant="secondary" onClick={() => void resend()} busy={busy} busyLabel="Sending…">
        Re-send the mail
      </Button>
      <StatusMessage>{sent}</StatusMessage>
      <ErrorMessage>{error}</ErrorMessage>
    </aside>
  );
}
