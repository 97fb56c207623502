import { useState, type FormEvent, type ReactNode } from 'react';
import { Link } from 'react-router';
import { ApiError, type EndReason } from '../api';
import { useAuth } from '../auth/AuthContext';
import { ErrorMessage } from '../components/Alert';
import { explainError } from '../components/ErrorText';
import { Button } from '../components/Button';
import { Field } from '../components/Field';
import { Page } from '../components/Page';
import { PasswordField } from '../components/PasswordField';
import { EMAIL_UNVERIFIED_MESSAGE } from '../mail/outcomes';
import type { MfaChallenge } from '../auth/mfa';
import { passkeyLoginError } from '../auth/mfa';
import { usePasskeyLogin } from '../auth/usePasskeyLogin';
import { MfaChallengeStep } from './MfaChallengeStep';

const NOTES: Record<EndReason, { tone: 'info' | 'warning'; text: string }> = {
  logged_out: { tone: 'info', text: 'You have logged out.' },
  account_deleted: { tone: 'info', text: 'Your account was deleted. Goodbye.' },
  logged_out_elsewhere: { tone: 'info', text: 'You were logged out in another tab or window.' },
  expired: { tone: 'info', text: 'Your session has expired. Please log in again.' },
  session_revoked: {
    tone: 'warning',
    text:
      'Your session was ended elsewhere: from another device, by “log out everywhere”, a password change or an administrator. Please log in again.',
  },
  refresh_reused: {
    tone: 'warning',
    text:
      'For your safety your session was ended: a sign-in token was used twice, which can mean it was copied. Log in again, then check your sessions and security log, and change your password if you see activity you do not recognise.',
  },
};

export function SessionNote({ reason }: { reason: EndReason | null }) {
  const note = reason ? NOTES[reason] : null;
  return (
    <div className="alert-slot" role="status" aria-live="polite" data-testid="session-note">
      {note ? <div className={`alert alert-${note.tone}`}>{note.text}</div> : null}
    </div>
  );
}

export function LoginPage() {
  const auth = useAuth();
  const note = auth.state.status === 'anonymous' ? auth.state.note : null;
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ReactNode>(null);
  const [challenge, setChallenge] = useState<MfaChallenge | null>(null);
  const passkeys = usePasskeyLogin({
    onSignedIn: auth.loggedIn,
    onError: (err) => setError(err === null ? null : (passkeyLoginError(err) ?? explainError(err))),
  });

  const onSubmit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    // The password wins: a pending autofill request would hold the one WebAuthn slot.
    await passkeys.stop();
    try {
      const step = await auth.login(email.trim(), password);
      if (step.kind === 'mfa') {
        setChallenge(step.challenge);
        setBusy(false);
      }
    } catch (err) {
      void passkeys.startAutofill();
      setError(
        err instanceof ApiError && err.code === 'invalid_credentials'
          ? 'That email and password do not match an account.'
          : err instanceof ApiError && err.code === 'email_unverified'
            ? EMAIL_UNVERIFIED_MESSAGE
            : explainError(err),
      );
      setBusy(false);
    }
  };

  if (challenge) {
    return (
      <MfaChallengeStep
        challenge={challenge}
        onSignedIn={auth.loggedIn}
        onRestart={(message) => {
          setChallenge(null);
          setPassword('');
          setError(message);
          void passkeys.startAutofill();
        }}
      />
    );
  }

  return (
    <Page title="Log in" intro="Welcome back. Log in to manage your account and sessions.">
      <SessionNote reason={note} />
      <form className="card form" onSubmit={onSubmit} noValidate={false}>
        <ErrorMessage>{error}</ErrorMessage>
        <Field
          label="Email"
          type="email"
          name="email"
          // "webauthn": the browser offers this site's passkeys in the field's autofill.
          autoComplete="username webauthn"
          required
          maxLength={254}
          value={email}
          onChange={(e) => setEmail(e.target.value)}
        />
        <PasswordField label="Password" autoComplete="current-password" value={password} onChange={setPassword} />
        <div className="form-actions">
          <Button type="submit" busy={busy} busyLabel="Logging in…">
            Log in
          </Button>
        </div>
      </form>
      {passkeys.support === 'available' ? (
        <div className="card form passkey-login">
          <Button variant="secondary" busy={passkeys.busy} busyLabel="Waiting for your passkey…" onClick={() => void passkeys.signInWithPasskey()}>
            Sign in with a passkey
          </Button>
        </div>
      ) : null}
      <p className="aside">
        <Link to="/forgot-password">Forgot password?</Link>
      </p>
      <p className="aside">
        New here? <Link to="/register">Create an account</Link>
      </p>
    </Page>
  );
}
