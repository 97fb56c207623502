import { useState } from 'react';
import { api, describeError, unwrap, type Item } from '../api';
import { withReauth } from '../api/reauth';
import { useMe } from '../auth/AuthContext';
import { ErrorMessage, StatusMessage } from '../components/Alert';
import { Button } from '../components/Button';
import { useReauthDialog } from '../components/ReauthDialog';
import { Page } from '../components/Page';
import { Loading } from '../components/Spinner';
import { formatDateTime } from '../format';
import { useList } from '../useList';

type AdminUser = Item<'/api/admin/users'>;

export function AdminUsersPage() {
  const me = useMe();
  const list = useList<AdminUser>((cursor) =>
    unwrap(api.GET('/api/admin/users', { params: { query: cursor ? { cursor } : {} } })),
  );
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [status, setStatus] = useState<string | null>(null);
  const { confirm, prompt } = useReauthDialog();

  const run = async (key: string, action: () => Promise<string>) => {
    setBusy(key);
    setError(null);
    setStatus(null);
    try {
      setStatus(await action());
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(null);
    }
  };

  const setDisabled = (user: AdminUser, disabled: boolean) =>
    run(`disable:${user.id}`, async () => {
      // Disabling or enabling an account needs a recent proof of the administrator's password.
      const updated = await withReauth(
        () => unwrap(api.PATCH('/api/admin/users/{id}', { params: { path: { id: user.id } }, body: { disabled } })),
        confirm,
      );
      list.update((items) => items.map((u) => (u.id === user.id ? { ...u, ...updated } : u)));
      return disabled
        ? `${user.email} is disabled and every session of theirs has ended.`
        : `${user.email} can log in again.`;
    });

  const revoke = (user: AdminUser) =>
    run(`revoke:${user.id}`, async () => {
      await unwrap(api.POST('/api/admin/users/{id}/revoke-sessions', { params: { path: { id: user.id } } }));
      return `Every session of ${user.email} has ended.`;
    });

  return (
    <Page title="Users" intro="Every account. Disabling an account ends its sessions at once." wide>
      <ErrorMessage>{error ?? (list.error ? describeError(list.error) : null)}</ErrorMessage>
      <StatusMessage>{status}</StatusMessage>
      {prompt}
      {list.loading && list.items.length === 0 ? <Loading label="Loading users…" /> : null}
      {list.items.length > 0 ? (
        <div className="card card-flush">
          <table className="table responsive-table" data-testid="users-table">
            <caption className="visually-hidden">User accounts</caption>
            <thead>
              <tr>
                <th scope="col">User</th>
                <th scope="col">Role</th>
                <th scope="col">Status</th>
                <th scope="col">Created</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {list.items.map((user) => {
                const self = user.id === me.id;
                return (
                  <tr key={user.id} data-user-email={user.email}>
                    <th scope="row" data-label="User">
                      <span className="user-name">{user.name}</span>
                      <span className="user-email">{user.email}</span>
                    </th>
                    <td data-label="Role">
                      <span className={`badge badge-${user.role}`}>{user.role}</span>
                    </td>
                    <td data-label="Status">
                      {user.disabled ? (
                        <span className="badge badge-disabled">Disabled</span>
                      ) : (
                        <span className="badge badge-active">Active</span>
                      )}
                    </td>
                    <td data-label="Created">{formatDateTime(user.created_at)}</td>
                    <td className="actions">
                      <Button
                        variant={user.disabled ? 'secondary' : 'danger'}
                        disabled={self}
                        busy={busy === `disable:${user.id}`}
                        onClick={() => void setDisabled(user, !user.disabled)}
                        aria-label={`${user.disabled ? 'Enable' : 'Disable'} ${user.email}`}
                        title={self ? 'You cannot disable your own account' : undefined}
                      >
                        {user.disabled ? 'Enable' : 'Disable'}
                      </Button>
                      <Button
                        variant="secondary"
                        busy={busy === `revoke:${user.id}`}
                        onClick={() => void revoke(user)}
                        aria-label={`Revoke all sessions of ${user.email}`}
                      >
                        Revoke sessions
                      </Button>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      ) : null}
      {list.hasMore ? (
        <Button variant="secondary" onClick={list.loadMore} busy={list.loading} busyLabel="Loading…">
          Show more
        </Button>
      ) : null}
    </Page>
  );
}
