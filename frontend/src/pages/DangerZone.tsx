import { useState, type FormEvent } from 'react';
import { useNavigate } from 'react-router';
import { ApiError, api, describeError, unwrap } from '../api';
import { reauthMethods, withPasswordReauth } from '../api/reauth';
import { canRequestDeletion, confirmsDeletion, exportFileName } from '../account/deletion';
import { useAuth, useMe } from '../auth/AuthContext';
import { ErrorMessage, StatusMessage } from '../components/Alert';
import { Button } from '../components/Button';
import { Field } from '../components/Field';
import { PasswordField } from '../components/PasswordField';
import { saveFile } from '../download';

function DownloadData() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);

  const onDownload = async () => {
    setBusy(true);
    setError(null);
    setDone(null);
    try {
      const call = api.GET('/api/me/export', { parseAs: 'blob' });
      const blob = await unwrap(call);
      const { response } = await call;
      const name = exportFileName(response.headers.get('content-disposition'), new Date());
      saveFile(blob, name);
      setDone(`Saved ${name}.`);
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section aria-labelledby="download-title">
      <h3 id="download-title">Download my data</h3>
      <p>Your profile, sessions, security history, passkeys and second factors, as a JSON file.</p>
      <ErrorMessage>{error}</ErrorMessage>
      <StatusMessage>{done}</StatusMessage>
      <Button variant="secondary" busy={busy} busyLabel="Preparing…" onClick={onDownload}>
        Download my data
      </Button>
    </section>
  );
}

function DeleteAccount() {
  const me = useMe();
  const auth = useAuth();
  const navigate = useNavigate();
  const [typed, setTyped] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [passwordError, setPasswordError] = useState<string | undefined>(undefined);
  const confirmed = confirmsDeletion(typed, me.email);

  const onSubmit = async (event: FormEvent) => {
    event.preventDefault();
    if (!canRequestDeletion(typed, me.email, password)) return;
    setBusy(true);
    setError(null);
    setPasswordError(undefined);
    try {
      // Deletion needs a recent sign-in too: the password typed here proves it.
      await withPasswordReauth(() => unwrap(api.DELETE('/api/me', { body: { current_password: password } })), password);
      auth.sessionEnded('account_deleted');
      void navigate('/login', { replace: true });
    } catch (err) {
      const wrongPassword =
        reauthMethods(err) !== null ||
        (err instanceof ApiError && err.code === 'validation_failed' && /current_password/.test(err.message));
      if (wrongPassword) {
        setPasswordError('The password is not correct.');
      } else {
        setError(describeError(err));
      }
      setBusy(false);
    }
  };

  return (
    <form className="form" onSubmit={onSubmit} aria-labelledby="delete-title">
      <h3 id="delete-title">Delete account</h3>
      <p>
        This deletes your account, its sessions, history, passkeys and second factors for good, and signs you
        out everywhere. It cannot be undone.
      </p>
      <ErrorMessage>{error}</ErrorMessage>
      <Field
        label={`Type your email address (${me.email}) to confirm`}
        name="confirm-email"
        autoComplete="off"
        value={typed}
        onChange={(e) => setTyped(e.target.value)}
      />
      {confirmed ? (
        <PasswordField
          label="Current password"
          autoComplete="current-password"
          name="delete-password"
          value={password}
          onChange={(value) => {
            setPassword(value);
            setPasswordError(undefined);
          }}
          error={passwordError}
        />
      ) : null}
      <div className="form-actions">
        <Button
          type="submit"
          variant="danger"
          busy={busy}
          busyLabel="Deleting…"
          disabled={!canRequestDeletion(typed, me.email, password)}
        >
          Delete my account
        </Button>
      </div>
    </form>
  );
}

/** The profile page's irreversible actions and the data download. */
export function DangerZone() {
  return (
    <div className="card danger-zone" aria-labelledby="danger-title">
      <h2 id="danger-title">Danger zone</h2>
      <DownloadData />
      <DeleteAccount />
    </div>
  );
}
