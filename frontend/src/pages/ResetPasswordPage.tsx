import { useCallback, useState, type FormEvent } from 'react';
import { Link } from 'react-router';
import { api, describeError, unwrap } from '../api';
import { useAuth } from '../auth/AuthContext';
import { ErrorMessage, StatusMessage } from '../components/Alert';
import { Button } from '../components/Button';
import { Page } from '../components/Page';
import { PasswordField } from '../components/PasswordField';
import { newPasswordErrors, TOKEN_INVALID_MESSAGE, tokenFailure } from '../mail/outcomes';
import { useFragmentToken } from '../mail/useFragmentToken';
import { passwordErrorAfterEdit, type Strength } from '../password/policy';

/** The page a reset mail links to. Opening it consumes nothing; the button does. */
export function ResetPasswordPage() {
  const { token, opened } = useFragmentToken();
  // A new link opened in the same tab starts afresh.
  return <ResetPasswordForm key={opened} token={token} />;
}

function ResetPasswordForm({ token }: { token: string | null }) {
  const auth = useAuth();
  const [next, setNext] = useState('');
  const [confirm, setConfirm] = useState('');
  const [strength, setStrength] = useState<Strength | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [fieldErrors, setFieldErrors] = useState<{ next?: string; confirm?: string }>({});
  const [outcome, setOutcome] = useState<'done' | 'invalid' | null>(null);
  const reconcileNext = useCallback((edited: boolean, s: Strength | null) => {
    setFieldErrors(({ next: previous, ...others }) => {
      const next = passwordErrorAfterEdit(previous, edited, s);
      return next ? { ...others, next } : others;
    });
  }, []);
  const onStrength = useCallback(
    (s: Strength) => {
      setStrength(s);
      reconcileNext(false, s);
    },
    [reconcileNext],
  );
  const onNext = (value: string) => {
    setNext(value);
    reconcileNext(true, strength);
  };

  const onSubmit = async (event: FormEvent) => {
    event.preventDefault();
    if (!token) return;
    setError(null);
    const errors = newPasswordErrors(strength, next, confirm);
    setFieldErrors(errors);
    if (Object.keys(errors).length > 0) return;
    setBusy(true);
    try {
      await unwrap(api.POST('/api/auth/password/reset', { body: { token, new_password: next } }));
      setNext('');
      setConfirm('');
      setOutcome('done');
      // The reset ended every session of the account, this browser's too if it had one.
      if (auth.state.status === 'authenticated') auth.sessionEnded('session_revoked');
    } catch (err) {
      const failure = tokenFailure(err);
      if (failure.kind === 'invalid') setOutcome('invalid');
      else if (failure.kind === 'password') setFieldErrors({ next: failure.message });
      else setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };


  const dead = !token || outcome === 'invalid';
  return (
    <Page
      title="Reset password"
      intro={dead || outcome ? undefined : 'Choose a new password. Every session of your account will be logged out.'}
    >
      <StatusMessage>
        {outcome === 'done' ? (
          <>
            Password changed: every session of your account was logged out. <Link to="/login">Log in</Link> with
            the new password.
          </>
        ) : null}
      </StatusMessage>
      <ErrorMessage>
        {dead ? (
          <>
            {token ? TOKEN_INVALID_MESSAGE : 'This link is incomplete: open it again from the mail, or ask for a new one.'}{' '}
            <Link to="/forgot-password">Request a new link</Link>
          </>
        ) : null}
      </ErrorMessage>
      {dead || outcome ? null : (
        <form className="card form" onSubmit={onSubmit}>
          <ErrorMessage>{error}</ErrorMessage>
          <PasswordField
            label="New password"
            autoComplete="new-password"
            name="new-password"
            value={next}
            onChange={onNext}
            error={fieldErrors.next}
            // The server also counts the account's email and name against the password; this page
            // knows neither (the link carries only a token), so a rare disagreement shows the
            // server's message under the field.
            strengthInputs={[]}
            onStrength={onStrength}
          />
          <PasswordField
            label="Confirm new password"
            autoComplete="new-password"
            name="confirm-password"
            value={confirm}
            onChange={setConfirm}
            error={fieldErrors.confirm}
          />
          <div className="form-actions">
            <Button type="submit" busy={busy} busyLabel="Setting password…">
              Set new password
            </Button>
          </div>
        </form>
      )}
    </Page>
  );
}
