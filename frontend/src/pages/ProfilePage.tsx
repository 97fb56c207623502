import { useState, type FormEvent } from 'react';
import { api, describeError, unwrap } from '../api';
import { useAuth, useMe } from '../auth/AuthContext';
import { ErrorMessage, StatusMessage } from '../components/Alert';
import { Button } from '../components/Button';
import { Field } from '../components/Field';
import { Page } from '../components/Page';
import { formatDateTime } from '../format';
import { DangerZone } from './DangerZone';
import { ChangeEmailForm } from './ChangeEmailForm';

export function ProfilePage() {
  const me = useMe();
  const auth = useAuth();
  const [name, setName] = useState(me.name);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [saved, setSaved] = useState<string | null>(null);
  const unchanged = name.trim() === me.name;

  const onSubmit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    setSaved(null);
    try {
      const { user } = await unwrap(api.PATCH('/api/me', { body: { name: name.trim() } }));
      auth.updateMe({ name: user.name });
      setName(user.name);
      setSaved('Your name was saved.');
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <Page title="Profile" intro={`Signed in as ${me.email}.`}>
      <div className="grid-2">
        <form className="card form" onSubmit={onSubmit} aria-labelledby="profile-form-title">
          <h2 id="profile-form-title">Display name</h2>
          <ErrorMessage>{error}</ErrorMessage>
          <StatusMessage>{saved}</StatusMessage>
          <Field
            label="Name"
            name="name"
            autoComplete="name"
            required
            maxLength={100}
            value={name}
            onChange={(e) => {
              setName(e.target.value);
              setSaved(null);
            }}
          />
          <div className="form-actions">
            <Button type="submit" busy={busy} busyLabel="Saving…" disabled={unchanged || !name.trim()}>
              Save
            </Button>
          </div>
        </form>
        <div className="card" aria-labelledby="account-title">
          <h2 id="account-title">Account</h2>
          <dl className="facts">
            <div>
              <dt>Name</dt>
              <dd data-testid="profile-name">{me.name}</dd>
            </div>
            <div>
              <dt>Email</dt>
              <dd>
                {me.email}{' '}
                <span className={`badge badge-${me.email_verified ? 'active' : 'disabled'}`}>
                  {me.email_verified ? 'verified' : 'not verified'}
                </span>
              </dd>
            </div>
            <div>
              <dt>Role</dt>
              <dd>
                <span className={`badge badge-${me.role}`}>{me.role}</span>
              </dd>
            </div>
            <div>
              <dt>This session</dt>
              <dd>
                <code>{me.session_id.slice(0, 8)}</code>
              </dd>
            </div>
            <div>
              <dt>Access token valid until</dt>
              <dd>{formatDateTime(me.expires_at)} (renewed automatically)</dd>
            </div>
          </dl>
        </div>
        <ChangeEmailForm />
      </div>
      <DangerZone />
    </Page>
  );
}
