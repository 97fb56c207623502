import { useCallback, useState, type FormEvent, type ReactNode } from 'react';
import { Link } from 'react-router';
import { ApiError } from '../api';
import { useAuth } from '../auth/AuthContext';
import { ErrorMessage, StatusMessage } from '../components/Alert';
import { explainError } from '../components/ErrorText';
import { Button } from '../components/Button';
import { Field } from '../components/Field';
import { Page } from '../components/Page';
import { PasswordField } from '../components/PasswordField';
import { EMAIL_UNVERIFIED_MESSAGE } from '../mail/outcomes';
import { passwordErrorAfterEdit, userInputsFor, WEAK_PASSWORD_ERROR, type Strength } from '../password/policy';

export function RegisterPage() {
  const auth = useAuth();
  const [name, setName] = useState('');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [strength, setStrength] = useState<Strength | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ReactNode>(null);
  const [passwordError, setPasswordError] = useState<string | null>(null);
  const [emailError, setEmailError] = useState<ReactNode>(null);
  // The server requires a verified address before the first session (TESSERA_REQUIRE_VERIFIED_EMAIL):
  // the account exists and the verification mail is on its way.
  const [unverified, setUnverified] = useState(false);
  const onStrength = useCallback((s: Strength) => {
    setStrength(s);
    setPasswordError((error) => passwordErrorAfterEdit(error, false, s));
  }, []);
  const onPassword = (value: string) => {
    setPassword(value);
    setPasswordError((error) => passwordErrorAfterEdit(error, true, strength));
  };

  const onSubmit = async (event: FormEvent) => {
    event.preventDefault();
    setError(null);
    setEmailError(null);
    setPasswordError(null);
    if (strength && !strength.acceptable && strength.estimate) {
      setPasswordError(WEAK_PASSWORD_ERROR);
      return;
    }
    setBusy(true);
    try {
      await auth.register(email.trim(), password, name.trim());
    } catch (err) {
      if (err instanceof ApiError && err.code === 'email_unverified') {
        setUnverified(true);
      } else if (err instanceof ApiError && err.code === 'email_taken') {
        setEmailError(
          <>
            An account with this email already exists. <Link to="/login">Log in instead?</Link>
          </>,
        );
      } else if (err instanceof ApiError && err.code === 'validation_failed' && /password/i.test(err.message)) {
        setPasswordError(err.message);
      } else {
        setError(explainError(err));
      }
      setBusy(false);
    }
  };

  return (
    <Page title="Create your account">
      <StatusMessage>
        {unverified ? (
          <>
            Your account was created. {EMAIL_UNVERIFIED_MESSAGE} <Link to="/login">Log in</Link>
          </>
        ) : null}
      </StatusMessage>
      {unverified ? null : (
        <form className="card form" onSubmit={onSubmit}>
          <ErrorMessage>{error}</ErrorMessage>
          <Field
            label="Name"
            name="name"
            autoComplete="name"
            required
            maxLength={100}
            value={name}
            onChange={(e) => setName(e.target.value)}
          />
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
          <PasswordField
            label="Password"
            autoComplete="new-password"
            value={password}
            onChange={onPassword}
            error={passwordError}
            strengthInputs={userInputsFor(email, name)}
            onStrength={onStrength}
          />
          <div className="form-actions">
            <Button type="submit" busy={busy} busyLabel="Creating account…">
              Create account
            </Button>
          </div>
        </form>
      )}
      <p className="aside">
        Already have an account? <Link to="/login">Log in</Link>
      </p>
    </Page>
  );
}
