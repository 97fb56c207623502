import { useCallback, useEffect, useRef, useState } from 'react';
import { ApiError, api } from '../api';
import { conditionalMediationAvailable, isAborted, webauthnAvailable } from '../webauthn/passkeys';
import { passkeyLogin } from './mfa';

export type PasskeySupport =
  /** The browser has WebAuthn and the server has not said no. */
  | 'available'
  /** No WebAuthn in this browser, or the server answered 409 `passkeys_unavailable`. */
  | 'unavailable';

/**
 * What an autofill request does not keep quiet about: the server refused a passkey the user did
 * pick, or has no passkeys at all (which hides the button too).
 */
const AUTOFILL_REPORTED: ReadonlySet<string> = new Set(['mfa_required', 'webauthn_failed', 'passkeys_unavailable']);

interface Run {
  controller: AbortController;
  done: Promise<void>;
}

/**
 * The login page's passkeys: autofill (conditional mediation on the `username webauthn` email
 * field, started on mount where the browser offers it) and the "Sign in with a passkey" button.
 * Only one WebAuthn request may be pending, so the button and a password submit first stop the
 * autofill request (and wait until the browser has let go of it).
 */
export function usePasskeyLogin({
  onSignedIn,
  onError,
}: {
  /** The session cookies are set. */
  onSignedIn: () => Promise<void>;
  /** A refusal to show (null clears). */
  onError: (err: unknown) => void;
}) {
  const [support, setSupport] = useState<PasskeySupport>(() => (webauthnAvailable() ? 'available' : 'unavailable'));
  const [busy, setBusy] = useState(false);
  const run = useRef<Run | null>(null);
  const live = useRef(true);
  const handlers = useRef({ onSignedIn, onError });
  handlers.current = { onSignedIn, onError };

  const settle = useCallback(async (err: unknown) => {
    if (!live.current || isAborted(err)) return;
    if (err instanceof ApiError && err.code === 'passkeys_unavailable') {
      setSupport('unavailable');
      return;
    }
    handlers.current.onError(err);
  }, []);

  /** Stops a pending autofill request and waits until it is gone. */
  const stop = useCallback(async () => {
    const current = run.current;
    run.current = null;
    if (!current) return;
    current.controller.abort();
    await current.done;
  }, []);

  const startAutofill = useCallback(async () => {
    if (run.current || !(await conditionalMediationAvailable())) return;
    // Checked again after the await: a second start (React's double effect in development, a
    // restart after a failure) may have begun one meanwhile.
    if (run.current || !live.current) return;
    const controller = new AbortController();
    const done = passkeyLogin(api, { mediation: 'conditional', signal: controller.signal })
      .then(
        () => {
          if (live.current && !controller.signal.aborted) return handlers.current.onSignedIn();
          return undefined;
        },
        // An autofill request fails silently (the user never asked for anything: no passkey
        // for this site, dismissed, options unavailable), except when the server refused a
        // passkey the user did choose.
        (err: unknown) =>
          controller.signal.aborted || !(err instanceof ApiError) || !AUTOFILL_REPORTED.has(err.code) ? undefined : settle(err),
      )
      .finally(() => {
        if (run.current?.controller === controller) run.current = null;
      });
    run.current = { controller, done };
  }, [settle]);

  useEffect(() => {
    live.current = true;
    if (support === 'available') void startAutofill();
    return () => {
      live.current = false;
      const current = run.current;
      run.current = null;
      current?.controller.abort();
    };
  }, [startAutofill, support]);

  /** The button: the browser's own passkey prompt. */
  const signInWithPasskey = useCallback(async () => {
    handlers.current.onError(null);
    setBusy(true);
    try {
      await stop();
      await passkeyLogin(api);
      if (live.current) await handlers.current.onSignedIn();
    } catch (err) {
      await settle(err);
      if (live.current) void startAutofill();
    } finally {
      if (live.current) setBusy(false);
    }
  }, [settle, startAutofill, stop]);

  return { support, busy, stop, startAutofill, signInWithPasskey };
}
