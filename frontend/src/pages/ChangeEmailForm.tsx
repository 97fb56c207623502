import { useState, type FormEvent } from 'react';
import { api, unwrap } from '../api';
import { withPasswordReauth } from '../api/reauth';
import { useMe } from '../auth/AuthContext';
import { ErrorMessage, StatusMessage } from '../components/Alert';
import { Button } from '../components/Button';
import { Field } from '../components/Field';
import { PasswordField } from '../components/PasswordField';
import { changeEmailFailure } from '../mail/outcomes';

/**
 * The profile's change-email form. Nothing changes until the link mailed to the new address is
 * opened (/confirm-email); the old address gets a notice.
 */
export function ChangeEmailForm() {
  const me = useMe();
  const [newEmail, setNewEmail] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [fieldErrors, setFieldErrors] = useState<{ new_email?: string; current_password?: string }>({});
  const [sent, setSent] = useState<string | null>(null);

  const onSubmit = async (event: FormEvent) => {
    event.preventDefault();
    setError(null);
    setSent(null);
    const address = newEmail.trim();
    if (address.toLowerCase() === me.email.toLowerCase()) {
      setFieldErrors({ new_email: 'This is your current address.' });
      return;
    }
    setFieldErrors({});
    setBusy(true);
    try {
      // The change needs a recent sign-in too: the password typed here proves it.
      await withPasswordReauth(
        () => unwrap(api.POST('/api/me/email', { body: { new_email: address, current_password: password } })),
        password,
      );
      setNewEmail('');
      setPassword('');
      setSent(`Check your new address: we sent a link to ${address}. Your address changes when you open it.`);
    } catch (err) {
      const failure = changeEmailFailure(err);
      if (failure.field) setFieldErrors({ [failure.field]: failure.message });
      else setError(failure.message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="card form" onSubmit={onSubmit} aria-labelledby="change-email-title">
      <h2 id="change-email-title">Email address</h2>
      <ErrorMessage>{error}</ErrorMessage>
      <StatusMessage>{sent}</StatusMessage>
      <Field
        label="New email"
        type="email"
        name="new-email"
        autoComplete="email"
        required
        maxLength={254}
        value={newEmail}
        error={fieldErrors.new_email}
        onChange={(e) => {
          setNewEmail(e.target.value);
          setFieldErrors(({ new_email: _, ...others }) => others);
        }}
      />
      <PasswordField
        label="Current password"
        autoComplete="current-password"
        name="current-password"
        value={password}
        onChange={(value) => {
          setPassword(value);
          setFieldErrors(({ current_password: _, ...others }) => others);
        }}
        error={fieldErrors.current_password}
      />
      <div className="form-actions">
        <Button type="submit" busy={busy} busyLabel="Sending…">
          Change address
        </Button>
      </div>
    </form>
  );
}
