import { api, describeError, unwrap, type Item } from '../api';
import { ErrorMessage } from '../components/Alert';
import { Button } from '../components/Button';
import { Page } from '../components/Page';
import { Loading } from '../components/Spinner';
import { describeUserAgent, formatDateTime } from '../format';
import { useList } from '../useList';

type SecurityEvent = Item<'/api/me/events'>;

const KINDS: Record<string, { label: string; tone: 'good' | 'neutral' | 'bad' }> = {
  account_created: { label: 'Account created', tone: 'good' },
  login_succeeded: { label: 'Logged in', tone: 'good' },
  login_failed: { label: 'Failed login attempt', tone: 'bad' },
  logout: { label: 'Logged out', tone: 'neutral' },
  session_revoked: { label: 'Session revoked', tone: 'neutral' },
  all_sessions_revoked: { label: 'Logged out everywhere', tone: 'neutral' },
  refresh_reuse_detected: { label: 'Token reuse detected — session ended', tone: 'bad' },
  password_changed: { label: 'Password changed', tone: 'neutral' },
  user_disabled: { label: 'Account disabled', tone: 'bad' },
  password_reset_requested: { label: 'Password reset requested', tone: 'neutral' },
  password_reset: { label: 'Password reset from a mailed link', tone: 'neutral' },
  email_verified: { label: 'Address verified', tone: 'good' },
  email_changed: { label: 'Address changed', tone: 'neutral' },
  mfa_enabled: { label: 'Two-step verification turned on', tone: 'good' },
  mfa_disabled: { label: 'Two-step verification turned off', tone: 'bad' },
  mfa_failed: { label: 'Wrong second-factor code or passkey', tone: 'bad' },
  recovery_code_used: { label: 'Signed in with a recovery code', tone: 'neutral' },
  recovery_codes_regenerated: { label: 'New recovery codes generated', tone: 'neutral' },
  passkey_added: { label: 'Passkey added', tone: 'good' },
  passkey_removed: { label: 'Passkey removed', tone: 'neutral' },
  reauthenticated: { label: 'Identity confirmed again', tone: 'neutral' },
};

function kindOf(kind: string) {
  return KINDS[kind] ?? { label: kind.replaceAll('_', ' '), tone: 'neutral' as const };
}

export function EventsPage() {
  const list = useList<SecurityEvent>((cursor) =>
    unwrap(api.GET('/api/me/events', { params: { query: cursor ? { cursor } : {} } })),
  );
  return (
    <Page title="Security log" intro="Recent sign-ins, failures and changes to your account, newest first." wide>
      <ErrorMessage>{list.error ? describeError(list.error) : null}</ErrorMessage>
      {list.loading && list.items.length === 0 ? <Loading label="Loading events…" /> : null}
      {!list.loading && !list.error && list.items.length === 0 ? <p className="empty">No events yet.</p> : null}
      {list.items.length > 0 ? (
        <ol className="timeline" data-testid="events-list">
          {list.items.map((event) => {
            const kind = kindOf(event.kind);
            return (
              <li key={event.id} className={`event event-${kind.tone}`} data-kind={event.kind}>
                <span className="event-dot" aria-hidden="true" />
                <div className="event-body">
                  <p className="event-title">{kind.label}</p>
                  <p className="event-meta">
                    <time dateTime={event.at}>{formatDateTime(event.at)}</time>
                    {event.ip ? <span> · {event.ip}</span> : null}
                    {event.user_agent ? <span> · {describeUserAgent(event.user_agent)}</span> : null}
                  </p>
                </div>
              </li>
            );
          })}
        </ol>
      ) : null}
      {list.hasMore ? (
        <Button variant="secondary" onClick={list.loadMore} busy={list.loading} busyLabel="Loading…">
          Show older events
        </Button>
      ) : null}
    </Page>
  );
}
