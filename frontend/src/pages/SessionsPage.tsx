import { useState } from 'react';
import { api, describeError, unwrap, type Item } from '../api';
import { useAuth } from '../auth/AuthContext';
import { ErrorMessage, StatusMessage } from '../components/Alert';
import { Button } from '../components/Button';
import { Page } from '../components/Page';
import { Loading } from '../components/Spinner';
import { describeUserAgent, formatDateTime, formatRelative } from '../format';
import { useList } from '../useList';

type Session = Item<'/api/sessions'>;

export function SessionsPage() {
  const auth = useAuth();
  // Every live session fits in one response (the spec says next_cursor is always absent).
  const list = useList<Session>(() => unwrap(api.GET('/api/sessions')));
  const [busyId, setBusyId] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [status, setStatus] = useState<string | null>(null);
  const [confirmAll, setConfirmAll] = useState(false);
  const [allBusy, setAllBusy] = useState(false);

  const revoke = async (session: Session) => {
    setBusyId(session.id);
    setError(null);
    setStatus(null);
    try {
      await unwrap(api.DELETE('/api/sessions/{id}', { params: { path: { id: session.id } } }));
      list.update((items) => items.filter((s) => s.id !== session.id));
      setStatus(`Revoked the session of ${describeUserAgent(session.user_agent)}. It can no longer be used.`);
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusyId(null);
    }
  };

  const logoutEverywhere = async () => {
    setAllBusy(true);
    setError(null);
    try {
      await unwrap(api.POST('/api/auth/logout-all'));
      auth.sessionEnded('logged_out');
    } catch (err) {
      setError(describeError(err));
      setAllBusy(false);
    }
  };

  return (
    <Page title="Sessions" intro="Every device and browser signed in to your account. Revoke any you do not recognise." wide>
      <ErrorMessage>{error ?? (list.error ? describeError(list.error) : null)}</ErrorMessage>
      <StatusMessage>{status}</StatusMessage>
      {list.loading && list.items.length === 0 ? <Loading label="Loading sessions…" /> : null}
      {!list.loading && !list.error && list.items.length === 0 ? <p className="empty">No active sessions.</p> : null}
      {list.items.length > 0 ? (
        <div className="card card-flush">
          <table className="table responsive-table" data-testid="sessions-table">
            <caption className="visually-hidden">Active sessions</caption>
            <thead>
              <tr>
                <th scope="col">Device</th>
                <th scope="col">IP address</th>
                <th scope="col">Signed in</th>
                <th scope="col">Last active</th>
                <th scope="col">Expires</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {list.items.map((session) => (
                <tr key={session.id} data-session-id={session.id} data-current={session.current || undefined}>
                  <th scope="row" data-label="Device">
                    <span className="device">{describeUserAgent(session.user_agent)}</span>
                    {session.current ? <span className="badge badge-current">This device</span> : null}
                  </th>
                  <td data-label="IP address">{session.ip ?? '—'}</td>
                  <td data-label="Signed in">{formatDateTime(session.created_at)}</td>
                  <td data-label="Last active">{formatRelative(session.last_used_at)}</td>
                  <td data-label="Expires">{formatDateTime(session.expires_at)}</td>
                  <td className="actions">
                    {session.current ? null : (
                      <Button
                        variant="danger"
                        busy={busyId === session.id}
                        busyLabel="Revoking…"
                        onClick={() => void revoke(session)}
                        aria-label={`Revoke session: ${describeUserAgent(session.user_agent)}, signed in ${formatDateTime(session.created_at)}`}
                      >
                        Revoke
                      </Button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      {list.hasMore ? (
        <Button variant="secondary" onClick={list.loadMore} busy={list.loading}>
          Show more
        </Button>
      ) : null}
      <div className="card danger-zone">
        <h2>Log out everywhere</h2>
        <p>Ends every session, including this one. Use it if you lost a device or suspect someone else signed in.</p>
        {confirmAll ? (
          <div className="form-actions" role="group" aria-label="Confirm logging out everywhere">
            <Button variant="danger" busy={allBusy} busyLabel="Logging out everywhere…" onClick={() => void logoutEverywhere()}>
              Yes, log out everywhere
            </Button>
            <Button variant="secondary" onClick={() => setConfirmAll(false)} disabled={allBusy}>
              Cancel
            </Button>
          </div>
        ) : (
          <Button variant="danger" onClick={() => setConfirmAll(true)}>
            Log out everywhere…
          </Button>
        )}
      </div>
    </Page>
  );
}
