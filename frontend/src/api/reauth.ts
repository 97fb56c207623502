// Step-up re-authentication: a sensitive request answered 403 `reauth_required` is retried once
// the user has proved a credential again at POST /api/auth/reauth (which re-issues the access
// cookie with a fresh `auth_time`). The problem names the methods this user can use: `password`,
// and `totp` / `passkey` when enrolled.

import type { Client } from 'openapi-fetch';
import { browserPasskeyError, getPasskey, isAborted, webauthnAvailable } from '../webauthn/passkeys';
import { ApiError, api, unwrap } from './index';
import type { Paths } from './types';

export type ReauthMethod = 'password' | 'totp' | 'passkey';

const KNOWN: readonly ReauthMethod[] = ['password', 'totp', 'passkey'];

/** What the user answered in the re-authentication dialog. */
export type ReauthAnswer =
  | { method: 'password'; password: string }
  | { method: 'totp'; code: string }
  | { method: 'passkey' };

/** The methods a `reauth_required` problem names (known ones, in its order), or null when `err` is not one. */
export function reauthMethods(err: unknown): ReauthMethod[] | null {
  if (!(err instanceof ApiError) || err.code !== 'reauth_required') return null;
  const named = (err.problem?.methods ?? ['password']).filter((m): m is ReauthMethod =>
    (KNOWN as readonly string[]).includes(m),
  );
  return named.length > 0 ? named : ['password'];
}

/** The methods this browser can offer: a passkey needs WebAuthn. */
export function offerableMethods(methods: ReauthMethod[], hasWebAuthn: boolean = webauthnAvailable()): ReauthMethod[] {
  const offered = methods.filter((m) => m !== 'passkey' || hasWebAuthn);
  return offered.length > 0 ? offered : ['password'];
}

/**
 * Asks the user to prove who they are with one of `methods`: resolves to their answer, or to
 * null when they cancel. `error` says why the previous answer was refused.
 */
export type ConfirmReauth = (methods: ReauthMethod[], error: string | null) => Promise<ReauthAnswer | null>;

export type ProveReauth = (answer: ReauthAnswer) => Promise<void>;

export interface ReauthDeps {
  /** The API client (the page's own by default). */
  client?: Client<Paths>;
  /** An assertion for request options (the browser's `navigator.credentials.get`). */
  getCredential?: (publicKey: Record<string, unknown>) => Promise<Record<string, unknown>>;
}

/** POST /api/auth/reauth with the answer (for a passkey: options, the browser's assertion, then the proof). */
export async function reauthenticate(answer: ReauthAnswer, deps: ReauthDeps = {}): Promise<void> {
  const client = deps.client ?? api;
  switch (answer.method) {
    case 'password':
      await unwrap(client.POST('/api/auth/reauth', { body: { password: answer.password } }));
      return;
    case 'totp':
      await unwrap(client.POST('/api/auth/reauth', { body: { totp_code: answer.code.replace(/\s+/g, '') } }));
      return;
    case 'passkey': {
      const { publicKey } = await unwrap(client.POST('/api/auth/reauth/passkey/options'));
      const credential = await (deps.getCredential ?? ((options) => getPasskey(options)))(publicKey);
      await unwrap(client.POST('/api/auth/reauth', { body: { credential } }));
      return;
    }
  }
}

/**
 * Why a proof was refused, as a sentence, when the user may simply try again (a wrong password
 * or code, a passkey prompt cancelled); null for refusals that end the attempt (rate limits,
 * network, a session that is over), which `withReauth` throws.
 */
export function retryableRefusal(answer: ReauthAnswer, refusal: unknown): string | null {
  if (refusal instanceof ApiError) {
    if (refusal.code === 'invalid_credentials' && answer.method === 'password') return 'The password is not correct.';
    if (refusal.code === 'mfa_failed' && answer.method === 'totp') {
      return 'That code is not correct (or was already used). Enter the current code from your authenticator app.';
    }
    if ((refusal.code === 'webauthn_failed' || refusal.code === 'mfa_failed') && answer.method === 'passkey') {
      return 'That passkey was not accepted. Try again or choose another method.';
    }
    if (refusal.code === 'validation_failed' && answer.method === 'totp') return 'Enter the 6-digit code from your authenticator app.';
    return null;
  }
  if (answer.method === 'passkey' && !isAborted(refusal)) return browserPasskeyError(refusal);
  return null;
}

/**
 * Runs `action`; when the server answers `reauth_required`, asks `confirm` for a proof, proves
 * it (`prove`, POST /api/auth/reauth by default) and runs `action` once more. A wrong answer asks
 * again, saying why; a cancel, or a refusal that retrying cannot fix, throws (the cancel throws
 * the original `reauth_required`).
 */
export async function withReauth<T>(
  action: () => Promise<T>,
  confirm: ConfirmReauth,
  prove: ProveReauth = reauthenticate,
): Promise<T> {
  try {
    return await action();
  } catch (err) {
    const methods = reauthMethods(err);
    if (!methods) throw err;
    let error: string | null = null;
    for (;;) {
      const answer = await confirm(methods, error);
      if (answer === null) throw err;
      try {
        await prove(answer);
        break;
      } catch (refusal) {
        error = retryableRefusal(answer, refusal);
        if (error === null) throw refusal;
      }
    }
    return await action();
  }
}

/**
 * For a form that already asks for the current password (email change, account deletion): a
 * `reauth_required` answer is met by proving that same password at POST /api/auth/reauth and
 * retrying, without asking again. A wrong password is not retried: the `reauth_required` is
 * thrown, for the form to show under its password field.
 */
export function withPasswordReauth<T>(action: () => Promise<T>, password: string, prove: ProveReauth = reauthenticate): Promise<T> {
  return withReauth(action, async (_methods, error) => (error === null ? { method: 'password', password } : null), prove);
}
