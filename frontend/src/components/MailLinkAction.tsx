import { useState, type ReactNode } from 'react';
import { Link } from 'react-router';
import { describeError } from '../api';
import { useAuth } from '../auth/AuthContext';
import { TOKEN_INVALID_MESSAGE, tokenFailure } from '../mail/outcomes';
import { useFragmentToken } from '../mail/useFragmentToken';
import { ErrorMessage, StatusMessage } from './Alert';
import { Button } from './Button';
import { Page } from './Page';

interface Props {
  title: string;
  intro: string;
  action: string;
  busyLabel: string;
  /** POSTs the token; resolves once the server accepted it. */
  send: (token: string) => Promise<unknown>;
  done: ReactNode;
  /** What to offer when the link is dead (e.g. where to ask for a new one). */
  renew: ReactNode;
  /** The confirm page: someone else took the new address meanwhile. */
  taken?: ReactNode;
}

/**
 * A page a mail link opens whose whole job is one POST of the link's token: verify an address,
 * confirm a new one. Loading the page sends nothing (a mail scanner that follows the link
 * consumes nothing); the button does. Works signed out, or signed in in any browser; a signed-in
 * tab re-reads its identity afterwards so the change shows at once.
 */
export function MailLinkAction(props: Props) {
  const { token, opened } = useFragmentToken();
  // A new link opened in the same tab starts afresh.
  return <MailLinkActionFor key={opened} token={token} {...props} />;
}

function MailLinkActionFor({
  token,
  title,
  intro,
  action,
  busyLabel,
  send,
  done,
  renew,
  taken,
}: Props & { token: string | null }) {
  const auth = useAuth();
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<'done' | 'invalid' | 'taken' | null>(null);
  const [error, setError] = useState<string | null>(null);

  const onClick = async () => {
    if (!token) return;
    setBusy(true);
    setError(null);
    try {
      await send(token);
      setOutcome('done');
      await auth.refreshIdentity();
    } catch (err) {
      const failure = tokenFailure(err);
      if (failure.kind === 'invalid') {
        setOutcome('invalid');
      } else if (failure.kind === 'taken' && taken) {
        setOutcome('taken');
      } else if (failure.kind === 'already_verified') {
        // Nothing left to do: the address is verified (by an earlier link or in another browser).
        setOutcome('done');
        await auth.refreshIdentity();
      } else {
        setError(describeError(err));
      }
    } finally {
      setBusy(false);
    }
  };

  const dead = !token || outcome === 'invalid';
  const signedIn = auth.state.status === 'authenticated';
  return (
    <Page title={title} intro={dead || outcome ? undefined : intro}>
      <StatusMessage>
        {outcome === 'done' ? (
          <>
            {done} {signedIn ? <Link to="/profile">Go to your profile</Link> : <Link to="/login">Log in</Link>}
          </>
        ) : null}
      </StatusMessage>
      <ErrorMessage>
        {dead ? (
          <>
            {token ? TOKEN_INVALID_MESSAGE : 'This link is incomplete: open it again from the mail.'} {renew}
          </>
        ) : outcome === 'taken' ? (
          taken
        ) : (
          error
        )}
      </ErrorMessage>
      {dead || outcome ? null : (
        <div className="card form">
          <div className="form-actions">
            <Button onClick={() => void onClick()} busy={busy} busyLabel={busyLabel}>
              {action}
            </Button>
          </div>
        </div>
      )}
    </Page>
  );
}
