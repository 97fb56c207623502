import { useEffect, useState, type FormEvent } from 'react';
import { ApiError, api, describeError, unwrap, type Item } from '../api';
import { reauthMethods, withReauth, type ConfirmReauth } from '../api/reauth';
import { ErrorMessage, StatusMessage } from '../components/Alert';
import { Button } from '../components/Button';
import { Field } from '../components/Field';
import { Loading } from '../components/Spinner';
import { formatDateTime, formatRelative } from '../format';
import { cleanPasskeyName, defaultPasskeyName } from '../security/factors';
import { browserPasskeyError, createPasskey, isIpAddress, webauthnAvailable } from '../webauthn/passkeys';

type Passkey = Item<'/api/me/passkeys'>;

type Listing =
  | { state: 'loading' }
  | { state: 'unavailable' }
  | { state: 'failed'; error: unknown }
  | { state: 'ready'; items: Passkey[] };

/** A refusal to show: the browser's, the server's, or nothing when the user cancelled the re-authentication. */
function refusalText(err: unknown): string | null {
  if (reauthMethods(err)) return null;
  if (!(err instanceof ApiError)) {
    const browser = browserPasskeyError(err);
    if (browser) return browser;
  }
  if (err instanceof ApiError && err.code === 'webauthn_failed') return 'The passkey could not be verified. Try again.';
  return describeError(err);
}

/**
 * Passkeys: list, add (the browser's `navigator.credentials.create`), rename, remove. Hidden
 * entirely when the server has no passkeys (409 `passkeys_unavailable`: an IP-address origin);
 * "add" is hidden where the browser has no WebAuthn (the list still lets one remove passkeys).
 */
export function PasskeysSection({ confirm, onChanged }: { confirm: ConfirmReauth; onChanged: () => void }) {
  // An IP-address origin can have no passkeys (WebAuthn refuses it): nothing to ask the server.
  const [listing, setListing] = useState<Listing>(() =>
    isIpAddress(globalThis.location?.hostname ?? '') ? { state: 'unavailable' } : { state: 'loading' },
  );
  const [name, setName] = useState(() => defaultPasskeyName(globalThis.navigator?.userAgent));
  const [renaming, setRenaming] = useState<{ id: string; name: string } | null>(null);
  const [removing, setRemoving] = useState<string | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const canCreate = webauthnAvailable();

  const load = async () => {
    try {
      const { items } = await unwrap(api.GET('/api/me/passkeys'));
      setListing({ state: 'ready', items });
    } catch (err) {
      setListing(
        err instanceof ApiError && err.code === 'passkeys_unavailable' ? { state: 'unavailable' } : { state: 'failed', error: err },
      );
    }
  };

  useEffect(() => {
    if (listing.state === 'loading') void load();
    // Once, on mount.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  const run = async (key: string, action: () => Promise<string>) => {
    setBusy(key);
    setError(null);
    setDone(null);
    try {
      setDone(await action());
    } catch (err) {
      if (err instanceof ApiError && err.code === 'passkeys_unavailable') setListing({ state: 'unavailable' });
      else setError(refusalText(err));
    } finally {
      setBusy(null);
    }
  };

  const onAdd = (event: FormEvent) => {
    event.preventDefault();
    const chosen = cleanPasskeyName(name);
    if (!chosen) {
      setError('Give the passkey a name, such as the device it is on.');
      return;
    }
    void run('add', async () => {
      const { publicKey } = await withReauth(() => unwrap(api.POST('/api/me/passkeys/options')), confirm);
      const credential = await createPasskey(publicKey);
      const added = await unwrap(api.POST('/api/me/passkeys', { body: { name: chosen, credential } }));
      setListing((current) => (current.state === 'ready' ? { state: 'ready', items: [...current.items, added] } : current));
      onChanged();
      return `Added the passkey “${added.name}”. You can now sign in with it.`;
    });
  };

  const onRename = (event: FormEvent) => {
    event.preventDefault();
    if (!renaming) return;
    const chosen = cleanPasskeyName(renaming.name);
    if (!chosen) {
      setError('A passkey needs a name.');
      return;
    }
    const { id } = renaming;
    void run(`rename:${id}`, async () => {
      const renamed = await unwrap(api.PATCH('/api/me/passkeys/{id}', { params: { path: { id } }, body: { name: chosen } }));
      setListing((current) =>
        current.state === 'ready' ? { state: 'ready', items: current.items.map((p) => (p.id === id ? renamed : p)) } : current,
      );
      setRenaming(null);
      return `Renamed to “${renamed.name}”.`;
    });
  };

  const remove = (passkey: Passkey) =>
    run(`remove:${passkey.id}`, async () => {
      await withReauth(() => unwrap(api.DELETE('/api/me/passkeys/{id}', { params: { path: { id: passkey.id } } })), confirm);
      setListing((current) =>
        current.state === 'ready' ? { state: 'ready', items: current.items.filter((p) => p.id !== passkey.id) } : current,
      );
      setRemoving(null);
      onChanged();
      return `Removed the passkey “${passkey.name}”. It can no longer sign in.`;
    });

  if (listing.state === 'unavailable') return null;

  return (
    <section className="card" aria-labelledby="passkeys-title">
      <h2 id="passkeys-title">Passkeys</h2>
      <p>
        Sign in with your fingerprint, face or device PIN instead of a password. Passkeys cannot be phished: they only
        work on this site.
      </p>
      <ErrorMessage>{error ?? (listing.state === 'failed' ? describeError(listing.error) : null)}</ErrorMessage>
      <StatusMessage>{done}</StatusMessage>
      {listing.state === 'loading' ? <Loading label="Loading passkeys…" /> : null}
      {listing.state === 'ready' && listing.items.length === 0 ? <p className="empty">No passkeys yet.</p> : null}
      {listing.state === 'ready' && listing.items.length > 0 ? (
        <ul className="passkey-list" data-testid="passkeys">
          {listing.items.map((passkey) => (
            <li key={passkey.id} data-passkey-id={passkey.id}>
              {renaming?.id === passkey.id ? (
                <form className="form passkey-rename" onSubmit={onRename}>
                  <Field
                    label="New name"
                    name="passkey-rename"
                    maxLength={100}
                    required
                    value={renaming.name}
                    onChange={(e) => setRenaming({ id: passkey.id, name: e.target.value })}
                  />
                  <div className="form-actions">
                    <Button type="submit" busy={busy === `rename:${passkey.id}`} busyLabel="Saving…">
                      Save
                    </Button>
                    <Button variant="secondary" onClick={() => setRenaming(null)}>
                      Cancel
                    </Button>
                  </div>
                </form>
              ) : (
                <>
                  <div className="passkey-info">
                    <strong className="passkey-name">{passkey.name}</strong>{' '}
                    {passkey.backup_state ? <span className="badge">Synced</span> : null}
                    <p className="hint">
                      Added {formatDateTime(passkey.created_at)} · Last used {passkey.last_used_at ? formatRelative(passkey.last_used_at) : 'never'}
                    </p>
                  </div>
                  <div className="form-actions">
                    <Button variant="secondary" onClick={() => setRenaming({ id: passkey.id, name: passkey.name })} aria-label={`Rename ${passkey.name}`}>
                      Rename
                    </Button>
                    {removing === passkey.id ? (
                      <span role="group" aria-label={`Confirm removing ${passkey.name}`} className="inline-confirm">
                        <Button variant="danger" busy={busy === `remove:${passkey.id}`} busyLabel="Removing…" onClick={() => void remove(passkey)}>
                          Yes, remove
                        </Button>
                        <Button variant="secondary" onClick={() => setRemoving(null)}>
                          Cancel
                        </Button>
                      </span>
                    ) : (
                      <Button variant="danger" onClick={() => setRemoving(passkey.id)} aria-label={`Remove ${passkey.name}`}>
                        Remove…
                      </Button>
                    )}
                  </div>
                </>
              )}
            </li>
          ))}
        </ul>
      ) : null}
      {listing.state === 'ready' ? (
        canCreate ? (
          <form className="form" onSubmit={onAdd} aria-labelledby="passkey-add-title">
            <h3 id="passkey-add-title">Add a passkey</h3>
            <Field label="Passkey name" name="passkey-name" maxLength={100} required value={name} onChange={(e) => setName(e.target.value)} hint="So you can tell your passkeys apart, e.g. the device it is on." />
            <div className="form-actions">
              <Button type="submit" busy={busy === 'add'} busyLabel="Waiting for your device…">
                Add a passkey
              </Button>
            </div>
          </form>
        ) : (
          <p className="hint">This browser cannot create passkeys. Use a current browser to add one.</p>
        )
      ) : null}
    </section>
  );
}
