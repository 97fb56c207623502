import { useCallback, useState, type FormEvent } from 'react';
import { ApiError, api, describeError, unwrap } from '../api';
import { reauthMethods, withReauth } from '../api/reauth';
import { useMe } from '../auth/AuthContext';
import { ErrorMessage, StatusMessage } from '../components/Alert';
import { Button } from '../components/Button';
import { useReauthDialog } from '../components/ReauthDialog';
import { Page } from '../components/Page';
import { PasswordField } from '../components/PasswordField';
import { passwordErrorAfterEdit, userInputsFor, WEAK_PASSWORD_ERROR, type Strength } from '../password/policy';

export function PasswordPage() {
  const me = useMe();
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [confirm, setConfirm] = useState('');
  const [strength, setStrength] = useState<Strength | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [fieldErrors, setFieldErrors] = useState<{ current?: string; next?: string; confirm?: string }>({});
  const [done, setDone] = useState<string | null>(null);
  const { confirm: confirmPassword, prompt } = useReauthDialog();
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
    setError(null);
    setDone(null);
    const errors: typeof fieldErrors = {};
    if (strength && strength.estimate && !strength.acceptable) {
      errors.next = WEAK_PASSWORD_ERROR;
    }
    if (next === current && next) errors.next = 'The new password must differ from the current one.';
    if (confirm !== next) errors.confirm = 'The two new passwords do not match.';
    setFieldErrors(errors);
    if (Object.keys(errors).length > 0) return;
    setBusy(true);
    try {
      // A session that last proved the password a while ago is asked to confirm it first.
      await withReauth(
        () => unwrap(api.POST('/api/me/password', { body: { current_password: current, new_password: next } })),
        confirmPassword,
      );
      setCurrent('');
      setNext('');
      setConfirm('');
      setDone('Your password was changed. Every other session was logged out; this one stays signed in.');
    } catch (err) {
      const wrongCurrent =
        err instanceof ApiError &&
        (err.code === 'invalid_credentials' || (err.code === 'validation_failed' && /current_password/.test(err.message)));
      if (wrongCurrent) {
        setFieldErrors({ current: 'The current password is not correct.' });
      } else if (reauthMethods(err)) {
        setError('The password was not changed: your password was not confirmed.');
      } else if (err instanceof ApiError && err.code === 'validation_failed') {
        setFieldErrors({ next: err.message });
      } else {
        setError(describeError(err));
      }
    } finally {
      setBusy(false);
    }
  };

  return (
    <Page title="Change password" intro="Changing your password logs out every other session.">
      {prompt}
      <form className="card form" onSubmit={onSubmit}>
        <ErrorMessage>{error}</ErrorMessage>
        <StatusMessage>{done}</StatusMessage>
        <PasswordField
          label="Current password"
          autoComplete="current-password"
          name="current-password"
          value={current}
          onChange={setCurrent}
          error={fieldErrors.current}
        />
        <PasswordField
          label="New password"
          autoComplete="new-password"
          name="new-password"
          value={next}
          onChange={onNext}
          error={fieldErrors.next}
          strengthInputs={userInputsFor(me.email, me.name)}
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
          <Button type="submit" busy={busy} busyLabel="Changing…">
            Change password
          </Button>
        </div>
      </form>
    </Page>
  );
}
