import { describe, expect, it } from 'vitest';
import { ApiError } from '../api';
import { createTesseraClient } from '../api/client';
import type { Problem } from '../api/types';
import {
  MFA_ATTEMPTS,
  challengeOf,
  completeMfa,
  mfaRefusal,
  passkeyLogin,
  passkeyLoginError,
  passwordLogin,
  type MfaChallenge,
} from './mfa';

const BASE = 'http://127.0.0.1:9';

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json; charset=utf-8' } });
const problemResponse = (status: number, code: string) =>
  new Response(JSON.stringify({ type: 'about:blank', title: code, status, code }), {
    status,
    headers: { 'content-type': 'application/problem+json' },
  });
const problem = (status: number, code: Problem['code']) =>
  new ApiError(status, { type: 'about:blank', title: code, status, code });

const auth = {
  user: { id: 'u', email: 'ada@example.com', name: 'Ada', role: 'user', status: 'active', email_verified: true },
  session: { id: 's', access_expires_at: '2030-01-01T00:00:00Z', refresh_expires_at: '2030-01-02T00:00:00Z' },
};

function fakeServer(answer: (path: string, body: Record<string, unknown> | undefined) => Response) {
  const calls: Array<{ path: string; body: Record<string, unknown> | undefined; csrf: string | null }> = [];
  const client = createTesseraClient({
    baseUrl: BASE,
    locks: null,
    channel: null,
    // Signed out: no CSRF cookie yet.
    readCsrf: () => undefined,
    clearCsrf: () => undefined,
    fetch: async (request) => {
      const path = new URL(request.url).pathname;
      const text = await request.text();
      const body = text ? (JSON.parse(text) as Record<string, unknown>) : undefined;
      calls.push({ path, body, csrf: request.headers.get('x-csrf-token') });
      return answer(path, body);
    },
  });
  return { client: client.api, calls };
}

const challenge: MfaChallenge = { methods: ['totp', 'recovery_code', 'passkey'], expiresAt: Date.parse('2030-01-01T00:05:00Z') };
const before = Date.parse('2030-01-01T00:01:00Z');

describe('POST /api/auth/login', () => {
  it('200: signed in', async () => {
    const { client } = fakeServer(() => json(auth));
    expect(await passwordLogin(client, 'ada@example.com', 'pw')).toEqual({ kind: 'signed-in' });
  });

  it('202: the challenge, with its methods and expiry', async () => {
    const { client, calls } = fakeServer(() =>
      json({ mfa_required: true, methods: ['totp', 'recovery_code'], expires_at: '2030-01-01T00:05:00Z' }, 202),
    );
    const step = await passwordLogin(client, 'ada@example.com', 'pw');
    expect(step).toEqual({
      kind: 'mfa',
      challenge: { methods: ['totp', 'recovery_code'], expiresAt: Date.parse('2030-01-01T00:05:00Z') },
    });
    expect(calls[0]?.body).toEqual({ email: 'ada@example.com', password: 'pw' });
  });

  it('a wrong password is thrown as before', async () => {
    const { client } = fakeServer(() => problemResponse(401, 'invalid_credentials'));
    const err = await passwordLogin(client, 'a@b.c', 'x').catch((e: unknown) => e);
    expect((err as ApiError).code).toBe('invalid_credentials');
  });
});

describe('challengeOf', () => {
  it('keeps the known methods and a body-delivered token', () => {
    expect(
      challengeOf({ mfa_required: true, methods: ['totp', 'sms'], expires_at: '2030-01-01T00:05:00Z', mfa_token: 't' }),
    ).toEqual({ methods: ['totp'], expiresAt: Date.parse('2030-01-01T00:05:00Z'), token: 't' });
  });

  it('is null for anything else; an unreadable expiry is five minutes', () => {
    expect(challengeOf(auth)).toBeNull();
    expect(challengeOf(null)).toBeNull();
    expect(challengeOf({ mfa_required: true, methods: [], expires_at: 'soon' }, 1000)?.expiresAt).toBe(1000 + 300_000);
  });
});

describe('POST /api/auth/mfa', () => {
  it('sends one proof: the code without spaces, or the recovery code as typed (trimmed)', async () => {
    const { client, calls } = fakeServer(() => json(auth));
    await completeMfa(client, challenge, { method: 'totp', code: '123 456' });
    await completeMfa(client, challenge, { method: 'recovery_code', code: ' abcd-efgh-ijkl ' });
    expect(calls.map((c) => c.body)).toEqual([{ totp_code: '123456' }, { recovery_code: 'abcd-efgh-ijkl' }]);
    // No session yet: login's checks, no CSRF token.
    expect(calls.every((c) => c.path === '/api/auth/mfa' && c.csrf === null)).toBe(true);
  });

  it('with a passkey: options for this challenge, the assertion, then the proof', async () => {
    const options = { challenge: 'AQ', allowCredentials: [{ type: 'public-key', id: 'Ag' }] };
    const { client, calls } = fakeServer((path) => (path === '/api/auth/mfa/passkey/options' ? json({ publicKey: options }) : json(auth)));
    const asked: unknown[] = [];
    await completeMfa(client, challenge, { method: 'passkey' }, async (publicKey) => {
      asked.push(publicKey);
      return { id: 'Ag', type: 'public-key' };
    });
    expect(asked).toEqual([options]);
    expect(calls.map((c) => [c.path, c.body])).toEqual([
      ['/api/auth/mfa/passkey/options', {}],
      ['/api/auth/mfa', { credential: { id: 'Ag', type: 'public-key' } }],
    ]);
  });

  it('carries a body-delivered token in every call', async () => {
    const { client, calls } = fakeServer((path) => (path.endsWith('/options') ? json({ publicKey: { challenge: 'AQ' } }) : json(auth)));
    const withToken = { ...challenge, token: 'tok' };
    await completeMfa(client, withToken, { method: 'totp', code: '111111' });
    await completeMfa(client, withToken, { method: 'passkey' }, async () => ({ id: 'x' }));
    expect(calls.map((c) => c.body?.['mfa_token'])).toEqual(['tok', 'tok', 'tok']);
  });
});

describe('a refused second step', () => {
  const totp = { method: 'totp', code: '000000' } as const;

  it('a wrong code: try again, with the attempts left', () => {
    expect(mfaRefusal(problem(401, 'mfa_failed'), totp, challenge, 0, before)).toEqual({
      kind: 'retry',
      counted: true,
      message: expect.stringMatching(/not correct.*4 attempts left/),
    });
    expect(mfaRefusal(problem(401, 'mfa_failed'), totp, challenge, MFA_ATTEMPTS - 2, before)).toMatchObject({
      message: expect.stringMatching(/1 attempt left/),
    });
    expect(
      mfaRefusal(problem(401, 'mfa_failed'), { method: 'recovery_code', code: 'x' }, challenge, 0, before),
    ).toMatchObject({ kind: 'retry', message: expect.stringMatching(/recovery code/) });
  });

  it('the last allowed wrong code, or an expired challenge: back to the password', () => {
    expect(mfaRefusal(problem(401, 'mfa_failed'), totp, challenge, MFA_ATTEMPTS - 1, before)).toMatchObject({
      kind: 'restart',
      message: expect.stringMatching(/Too many/),
    });
    expect(mfaRefusal(problem(401, 'mfa_failed'), totp, challenge, 0, challenge.expiresAt)).toMatchObject({
      kind: 'restart',
      message: expect.stringMatching(/expired/),
    });
  });

  it('a malformed code is not counted; a cancelled passkey prompt neither', () => {
    expect(mfaRefusal(problem(422, 'validation_failed'), totp, challenge, 0, before)).toMatchObject({
      kind: 'retry',
      counted: false,
    });
    expect(
      mfaRefusal(new DOMException('cancel', 'NotAllowedError'), { method: 'passkey' }, challenge, 0, before),
    ).toMatchObject({ kind: 'retry', counted: false });
  });

  it('anything else is for the page to describe', () => {
    expect(mfaRefusal(problem(429, 'rate_limited'), totp, challenge, 0, before)).toBeNull();
    expect(mfaRefusal(new TypeError('offline'), totp, challenge, 0, before)).toBeNull();
  });
});

describe('passkey login', () => {
  it('asks for usernameless options, passes mediation and signal, sends the assertion', async () => {
    const { client, calls } = fakeServer((path) => (path.endsWith('/options') ? json({ publicKey: { challenge: 'AQ' } }) : json(auth)));
    const controller = new AbortController();
    const seen: unknown[] = [];
    await passkeyLogin(client, { mediation: 'conditional', signal: controller.signal }, async (publicKey, options) => {
      seen.push(publicKey, options?.mediation, options?.signal);
      return { id: 'c' };
    });
    expect(seen).toEqual([{ challenge: 'AQ' }, 'conditional', controller.signal]);
    expect(calls.map((c) => [c.path, c.body])).toEqual([
      ['/api/auth/passkey/options', undefined],
      ['/api/auth/passkey', { credential: { id: 'c' } }],
    ]);
  });

  it('does not open the browser prompt when stopped while fetching options', async () => {
    const controller = new AbortController();
    const { client } = fakeServer(() => {
      controller.abort();
      return json({ publicKey: { challenge: 'AQ' } });
    });
    let prompted = false;
    const err = await passkeyLogin(client, { signal: controller.signal }, async () => {
      prompted = true;
      return {};
    }).catch((e: unknown) => e);
    expect(prompted).toBe(false);
    expect(passkeyLoginError(err)).toBeNull();
  });

  it('explains each refusal', () => {
    expect(passkeyLoginError(problem(401, 'mfa_required'))).toMatch(/did not verify you/);
    expect(passkeyLoginError(problem(409, 'passkeys_unavailable'))).toMatch(/not available/);
    expect(passkeyLoginError(new DOMException('x', 'NotAllowedError'))).toMatch(/cancelled/);
    expect(passkeyLoginError(problem(500, 'internal_error'))).toBeNull();
  });
});
