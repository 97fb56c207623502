import { describe, expect, it } from 'vitest';
import { createTesseraClient } from './client';
import { ApiError } from './index';
import {
  offerableMethods,
  reauthenticate,
  reauthMethods,
  retryableRefusal,
  withPasswordReauth,
  withReauth,
  type ReauthAnswer,
} from './reauth';
import type { Problem } from './types';

const problem = (status: number, code: Problem['code'], extra: Partial<Problem> = {}) =>
  new ApiError(status, { type: 'about:blank', title: code, status, code, ...extra });

type Methods = NonNullable<Problem['methods']>;

const reauthRequired = (methods: Methods = ['password']) => problem(403, 'reauth_required', { methods });

const password = (value: string): ReauthAnswer => ({ method: 'password', password: value });

/** An action that fails with `reauth_required` until `proven` is set. */
function sensitive(methods?: Methods) {
  const state = { proven: false, runs: 0 };
  const action = async () => {
    state.runs += 1;
    if (!state.proven) throw reauthRequired(methods);
    return 'changed';
  };
  return { state, action };
}

describe('a sensitive request', () => {
  it('passes straight through when the session is recent', async () => {
    const { state, action } = sensitive();
    state.proven = true;
    const asked: string[][] = [];
    const result = await withReauth(action, async (methods) => {
      asked.push(methods);
      return password('x');
    });
    expect(result).toBe('changed');
    expect(asked).toEqual([]);
    expect(state.runs).toBe(1);
  });

  it('asks for a proof, re-authenticates and retries once', async () => {
    const { state, action } = sensitive();
    const proofs: ReauthAnswer[] = [];
    const asked: Array<[string[], string | null]> = [];
    const result = await withReauth(
      action,
      async (methods, error) => {
        asked.push([methods, error]);
        return password('the-password');
      },
      async (answer) => {
        proofs.push(answer);
        state.proven = true;
      },
    );
    expect(result).toBe('changed');
    expect(asked).toEqual([[['password'], null]]);
    expect(proofs).toEqual([password('the-password')]);
    expect(state.runs).toBe(2);
  });

  it('asks again after a wrong password, saying so', async () => {
    const { state, action } = sensitive();
    const answers = ['wrong', 'right'];
    const errors: Array<string | null> = [];
    await withReauth(
      action,
      async (_methods, error) => {
        errors.push(error);
        const next = answers.shift();
        return next === undefined ? null : password(next);
      },
      async (answer) => {
        if (answer.method !== 'password' || answer.password !== 'right') throw problem(401, 'invalid_credentials');
        state.proven = true;
      },
    );
    expect(errors).toEqual([null, 'The password is not correct.']);
    expect(state.runs).toBe(2);
  });

  it('offers the methods of the problem and retries after a wrong code, then a passkey', async () => {
    const { state, action } = sensitive(['password', 'totp', 'passkey']);
    const answers: ReauthAnswer[] = [{ method: 'totp', code: '000 000' }, { method: 'passkey' }];
    const asked: Array<[string[], string | null]> = [];
    const proofs: string[] = [];
    await withReauth(
      action,
      async (methods, error) => {
        asked.push([methods, error]);
        return answers.shift() ?? null;
      },
      async (answer) => {
        proofs.push(answer.method);
        if (answer.method === 'totp') throw problem(401, 'mfa_failed');
        state.proven = true;
      },
    );
    expect(proofs).toEqual(['totp', 'passkey']);
    expect(asked[0]).toEqual([['password', 'totp', 'passkey'], null]);
    expect(asked[1]?.[1]).toMatch(/code is not correct/);
    expect(state.runs).toBe(2);
  });

  it('asks again when the passkey prompt was cancelled in the browser', async () => {
    const { state, action } = sensitive(['password', 'passkey']);
    const answers: ReauthAnswer[] = [{ method: 'passkey' }, password('right')];
    const errors: Array<string | null> = [];
    await withReauth(
      action,
      async (_methods, error) => {
        errors.push(error);
        return answers.shift() ?? null;
      },
      async (answer) => {
        if (answer.method === 'passkey') throw new DOMException('user cancelled', 'NotAllowedError');
        state.proven = true;
      },
    );
    expect(errors[1]).toMatch(/cancelled or timed out/);
    expect(state.runs).toBe(2);
  });

  it('gives up with the original refusal when the user cancels', async () => {
    const { state, action } = sensitive();
    const error = await withReauth(action, async () => null, async () => undefined).catch((e: unknown) => e);
    expect(reauthMethods(error)).toEqual(['password']);
    expect(state.runs).toBe(1);
  });

  it('passes other refusals on, from the action and from the re-authentication', async () => {
    const denied = await withReauth(
      async () => {
        throw problem(403, 'forbidden');
      },
      async () => password('x'),
    ).catch((e: unknown) => e);
    expect(denied).toBeInstanceOf(ApiError);
    expect((denied as ApiError).code).toBe('forbidden');

    const { action } = sensitive();
    const limited = await withReauth(
      action,
      async () => password('x'),
      async () => {
        throw problem(429, 'rate_limited');
      },
    ).catch((e: unknown) => e);
    expect((limited as ApiError).code).toBe('rate_limited');
  });
});

describe('reauthMethods', () => {
  it('reads the known methods of reauth_required only', () => {
    expect(reauthMethods(problem(403, 'reauth_required', { methods: ['password', 'totp'] }))).toEqual([
      'password',
      'totp',
    ]);
    expect(reauthMethods(problem(403, 'reauth_required', {
      // A method a newer server may name: ignored, not offered.
      methods: ['password', 'carrier-pigeon'] as unknown as Methods,
    }))).toEqual([
      'password',
    ]);
    expect(reauthMethods(problem(403, 'reauth_required'))).toEqual(['password']);
    expect(reauthMethods(problem(403, 'forbidden'))).toBeNull();
    expect(reauthMethods(new Error('x'))).toBeNull();
  });

  it('offers a passkey only where the browser has WebAuthn', () => {
    expect(offerableMethods(['password', 'passkey'], false)).toEqual(['password']);
    expect(offerableMethods(['passkey'], false)).toEqual(['password']);
    expect(offerableMethods(['password', 'totp', 'passkey'], true)).toEqual(['password', 'totp', 'passkey']);
  });

  it('retries only what the user can fix', () => {
    expect(retryableRefusal(password('x'), problem(401, 'invalid_credentials'))).toMatch(/password/);
    expect(retryableRefusal({ method: 'totp', code: '1' }, problem(422, 'validation_failed'))).toMatch(/6-digit/);
    expect(retryableRefusal({ method: 'passkey' }, problem(400, 'webauthn_failed'))).toMatch(/passkey/);
    expect(retryableRefusal({ method: 'passkey' }, new DOMException('stop', 'AbortError'))).toBeNull();
    expect(retryableRefusal(password('x'), problem(429, 'rate_limited'))).toBeNull();
    expect(retryableRefusal(password('x'), new TypeError('offline'))).toBeNull();
  });
});

describe('POST /api/auth/reauth', () => {
  const BASE = 'http://127.0.0.1:9';

  function fakeServer(answer: (path: string, body: unknown) => Response) {
    const calls: Array<{ path: string; body: unknown; csrf: string | null }> = [];
    const client = createTesseraClient({
      baseUrl: BASE,
      locks: null,
      channel: null,
      readCsrf: () => 'csrf-value',
      clearCsrf: () => undefined,
      fetch: async (request) => {
        const path = new URL(request.url).pathname;
        const text = await request.text();
        const body: unknown = text ? JSON.parse(text) : undefined;
        calls.push({ path, body, csrf: request.headers.get('x-csrf-token') });
        return answer(path, body);
      },
    });
    return { client: client.api, calls };
  }

  const json = (body: unknown, status = 200) =>
    new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json; charset=utf-8' } });
  const session = { session: { id: 's', access_expires_at: '2030-01-01T00:00:00Z', refresh_expires_at: '2030-01-02T00:00:00Z' } };

  it('sends the password, or the code without its spaces', async () => {
    const { client, calls } = fakeServer(() => json(session));
    await reauthenticate(password('p w'), { client });
    await reauthenticate({ method: 'totp', code: ' 123 456 ' }, { client });
    expect(calls).toEqual([
      { path: '/api/auth/reauth', body: { password: 'p w' }, csrf: 'csrf-value' },
      { path: '/api/auth/reauth', body: { totp_code: '123456' }, csrf: 'csrf-value' },
    ]);
  });

  it('with a passkey: asks for options, has the browser sign them, sends the assertion', async () => {
    const options = { challenge: 'Y2hhbGxlbmdl', rpId: 'localhost', allowCredentials: [] };
    const { client, calls } = fakeServer((path) =>
      path === '/api/auth/reauth/passkey/options' ? json({ publicKey: options }) : json(session),
    );
    const signed: unknown[] = [];
    await reauthenticate(
      { method: 'passkey' },
      {
        client,
        getCredential: async (publicKey) => {
          signed.push(publicKey);
          return { id: 'cred', type: 'public-key' };
        },
      },
    );
    expect(signed).toEqual([options]);
    expect(calls.map((c) => c.path)).toEqual(['/api/auth/reauth/passkey/options', '/api/auth/reauth']);
    expect(calls[1]?.body).toEqual({ credential: { id: 'cred', type: 'public-key' } });
  });

  it('throws the refusal as an ApiError', async () => {
    const { client } = fakeServer(
      () =>
        new Response(JSON.stringify({ type: 'about:blank', title: 'x', status: 401, code: 'mfa_failed' }), {
          status: 401,
          headers: { 'content-type': 'application/problem+json' },
        }),
    );
    const err = await reauthenticate({ method: 'totp', code: '111111' }, { client }).catch((e: unknown) => e);
    expect((err as ApiError).code).toBe('mfa_failed');
  });
});

describe('a sensitive form that already has the password', () => {
  it('proves the typed password once and retries', async () => {
    const { state, action } = sensitive();
    const proofs: ReauthAnswer[] = [];
    const result = await withPasswordReauth(action, 'typed secret', async (answer) => {
      proofs.push(answer);
      state.proven = true;
    });
    expect(result).toBe('changed');
    expect(proofs).toEqual([password('typed secret')]);
    expect(state.runs).toBe(2);
  });

  it('does not prove anything when the session is recent', async () => {
    const { state, action } = sensitive();
    state.proven = true;
    const proofs: ReauthAnswer[] = [];
    await withPasswordReauth(action, 'typed secret', async (answer) => {
      proofs.push(answer);
    });
    expect(proofs).toEqual([]);
    expect(state.runs).toBe(1);
  });

  it('gives up after one wrong password with the original reauth_required', async () => {
    const { state, action } = sensitive();
    let proofs = 0;
    const failure = await withPasswordReauth(action, 'wrong', async () => {
      proofs += 1;
      throw problem(401, 'invalid_credentials');
    }).catch((err: unknown) => err);
    expect(reauthMethods(failure)).toEqual(['password']);
    expect(proofs).toBe(1);
    expect(state.runs).toBe(1);
  });
});
