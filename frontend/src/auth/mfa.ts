// Signing in, with the second step a login may answer (DESIGN.md "Login with a second factor"):
// a right password of a user with TOTP or a passkey answers 202 `{mfa_required, methods,
// expires_at}` and sets the HttpOnly `__Host-mfa` challenge cookie (this SPA never sees it);
// POST /api/auth/mfa with one proof then creates the session. Also the usernameless passkey
// login. Framework-free and given its client, so it is tested in Node (mfa.test.ts).

import type { Client } from 'openapi-fetch';
import { ApiError, unwrap } from '../api';
import type { Paths } from '../api/types';
import { browserPasskeyError, getPasskey, isAborted, type GetOptions } from '../webauthn/passkeys';

export type MfaMethod = 'totp' | 'recovery_code' | 'passkey';

const METHODS: readonly MfaMethod[] = ['totp', 'recovery_code', 'passkey'];

/** The server allows this many wrong codes per challenge; the next login starts a new one. */
export const MFA_ATTEMPTS = 5;

export interface MfaChallenge {
  methods: MfaMethod[];
  /** Epoch milliseconds. */
  expiresAt: number;
  /** Only with `token_delivery: "body"` (this SPA uses cookies, so normally absent). */
  token?: string;
}

export type LoginStep = { kind: 'signed-in' } | { kind: 'mfa'; challenge: MfaChallenge };

type Json = Record<string, unknown>;
type GetCredential = (publicKey: Json, options?: GetOptions) => Promise<Json>;

/** Reads the 202 body; null when `data` is not a challenge. */
export function challengeOf(data: unknown, now: number = Date.now()): MfaChallenge | null {
  if (!data || typeof data !== 'object') return null;
  const body = data as { mfa_required?: unknown; methods?: unknown; expires_at?: unknown; mfa_token?: unknown };
  if (body.mfa_required !== true) return null;
  const methods = Array.isArray(body.methods)
    ? body.methods.filter((m): m is MfaMethod => (METHODS as readonly unknown[]).includes(m))
    : [];
  const parsed = typeof body.expires_at === 'string' ? Date.parse(body.expires_at) : Number.NaN;
  // The server says 5 minutes; an unreadable time is taken as that.
  const challenge: MfaChallenge = { methods, expiresAt: Number.isNaN(parsed) ? now + 5 * 60_000 : parsed };
  if (typeof body.mfa_token === 'string') challenge.token = body.mfa_token;
  return challenge;
}

/** POST /api/auth/login: signed in (cookies set), or a second factor is needed. */
export async function passwordLogin(client: Client<Paths>, email: string, password: string): Promise<LoginStep> {
  const call = client.POST('/api/auth/login', { body: { email, password } });
  const data = await unwrap(call);
  const { response } = await call;
  const challenge = response.status === 202 ? challengeOf(data) : null;
  return challenge ? { kind: 'mfa', challenge } : { kind: 'signed-in' };
}

/** The second step's answer. */
export type MfaProof = { method: 'totp'; code: string } | { method: 'recovery_code'; code: string } | { method: 'passkey' };

/** Codes are typed with spaces (and recovery codes with dashes, as shown): the server gets digits / the code. */
export function normaliseTotp(code: string): string {
  return code.replace(/[\s-]+/g, '');
}

/** POST /api/auth/mfa with the proof (a passkey: its options, the browser's assertion, the proof). */
export async function completeMfa(
  client: Client<Paths>,
  challenge: MfaChallenge,
  proof: MfaProof,
  getCredential: GetCredential = getPasskey,
): Promise<void> {
  const token = challenge.token === undefined ? {} : { mfa_token: challenge.token };
  switch (proof.method) {
    case 'totp':
      await unwrap(client.POST('/api/auth/mfa', { body: { totp_code: normaliseTotp(proof.code), ...token } }));
      return;
    case 'recovery_code':
      await unwrap(client.POST('/api/auth/mfa', { body: { recovery_code: proof.code.trim(), ...token } }));
      return;
    case 'passkey': {
      const { publicKey } = await unwrap(client.POST('/api/auth/mfa/passkey/options', { body: token }));
      const credential = await getCredential(publicKey);
      await unwrap(client.POST('/api/auth/mfa', { body: { credential, ...token } }));
      return;
    }
  }
}

/** What the challenge step does after a refused proof. */
export type MfaRefusal =
  /** Say why and let the user try again (the same or another method). */
  | { kind: 'retry'; message: string; counted: boolean }
  /** The challenge is over (expired, too many wrong codes): back to the password step. */
  | { kind: 'restart'; message: string };

/**
 * Classifies a refusal of `completeMfa`. `failures` is how many proofs this challenge already
 * had refused as wrong (before this one). A dead or expired challenge is 401 `mfa_failed` too,
 * so the SPA decides "dead" from what it knows: the expiry and the attempt count.
 */
export function mfaRefusal(
  err: unknown,
  proof: MfaProof,
  challenge: MfaChallenge,
  failures: number,
  now: number = Date.now(),
): MfaRefusal | null {
  const expired = now >= challenge.expiresAt;
  if (!(err instanceof ApiError)) {
    if (proof.method === 'passkey' && !isAborted(err)) {
      const message = browserPasskeyError(err);
      if (message) return expired ? restart() : { kind: 'retry', message, counted: false };
    }
    return null;
  }
  if (err.code === 'mfa_failed' || err.code === 'webauthn_failed') {
    const used = failures + 1;
    if (expired) return restart();
    if (used >= MFA_ATTEMPTS) {
      return { kind: 'restart', message: 'Too many wrong codes. For your security, sign in again with your password.' };
    }
    const left = MFA_ATTEMPTS - used;
    const what =
      proof.method === 'totp'
        ? 'That code is not correct (or was already used). Enter the current code from your authenticator app.'
        : proof.method === 'recovery_code'
          ? 'That recovery code is not correct or was already used.'
          : 'That passkey was not accepted.';
    return { kind: 'retry', message: `${what} ${left} attempt${left === 1 ? '' : 's'} left.`, counted: true };
  }
  if (err.code === 'validation_failed') {
    return {
      kind: 'retry',
      message: proof.method === 'totp' ? 'Enter the 6-digit code from your authenticator app.' : 'Enter a recovery code.',
      counted: false,
    };
  }
  if (err.code === 'unauthenticated' || err.code === 'invalid_credentials') return restart();
  return null;
}

function restart(): MfaRefusal {
  return { kind: 'restart', message: 'The sign-in took too long and has expired. Please sign in again.' };
}

/**
 * Usernameless passkey login: POST /api/auth/passkey/options, the browser's assertion
 * (`mediation: 'conditional'` for autofill, with `signal` to stop it), POST /api/auth/passkey.
 */
export async function passkeyLogin(
  client: Client<Paths>,
  options: GetOptions = {},
  getCredential: GetCredential = getPasskey,
): Promise<void> {
  const { publicKey } = await unwrap(client.POST('/api/auth/passkey/options'));
  if (options.signal?.aborted) throw new DOMException('stopped', 'AbortError');
  const credential = await getCredential(publicKey, options);
  await unwrap(client.POST('/api/auth/passkey', { body: { credential } }));
}

/** A sentence for a refused passkey login, or null for an abort (autofill stopped by the page). */
export function passkeyLoginError(err: unknown): string | null {
  if (isAborted(err)) return null;
  if (err instanceof ApiError) {
    switch (err.code) {
      case 'mfa_required':
        return 'This passkey did not verify you (no PIN, fingerprint or face), and your account needs two factors. Sign in with your password and second factor, or use a passkey that verifies you.';
      case 'webauthn_failed':
        return 'That passkey was not accepted. It may have been removed from your account.';
      case 'passkeys_unavailable':
        return 'Passkeys are not available on this server.';
      default:
        return null;
    }
  }
  return browserPasskeyError(err);
}
