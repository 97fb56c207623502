import { useState, type FormEvent } from 'react';
import { Link } from 'react-router';
import { api, unwrap } from '../api';
import { ErrorMessage, StatusMessage } from '../components/Alert';
import { Button } from '../components/Button';
import { Field } from '../components/Field';
import { Page } from '../components/Page';
import { forgotFailure } from '../mail/outcomes';

/** The same words whether or not an account exists: the server answers 202 either way. */
export const FORGOT_SENT_MESSAGE =
  'If an account exists for that address, we sent a link to reset the password. The link works once, for a short time.';

export function ForgotPasswordPage() {
  const [email, setEmail] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [emailError, setEmailError] = useState<string | null>(null);
  const [sent, setSent] = useState<string | null>(null);

  const onSubmit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    setEmailError(null);
    setSent(null);
    try {
      await unwrap(api.POST('/api/auth/password/forgot', { body: { email: email.trim() } }));
      setSent(FORGOT_SENT_MESSAGE);
    } catch (err) {
      const failure = forgotFailure(err);
      if (failure.field === 'email') setEmailError(failure.message);
      else setError(failure.message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Page title="Forgot password" intro="Enter the address of your account and we will mail you a link to set a new password.">
      <form className="card form" onSubmit={onSubmit}>
        <ErrorMessage>{error}</ErrorMessage>
        <StatusMessage>{sent}</StatusMessage>
        <Field
          label="Email"
          type="email"
          name="email"
          autoComplete="username"
          required
          maxLength={254}
          value={email}
          error={emailError}
          onChange={(e) => {
            setEmail(e.target.value);
            setEmailError(null);
          }}
        />
        <div className="form-actions">
          <Button type="submit" busy={busy} busyLabel="Sending…">
            Send the link
          </Button>
        </div>
      </form>
      <p className="aside">
        Remembered it? <Link to="/login">Log in</Link>
      </p>
    </Page>
  );
}
