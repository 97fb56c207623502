import { describe, expect, it } from 'vitest';
import { ApiError } from './index';
import { reauthMethods, withPasswordReauth, withReauth } from './reauth';
import type { Problem } from './types';

const problem = (status: number, code: Problem['code'], extra: Partial<Problem> = {}) =>
  new ApiError(status, { type: 'about:blank', title: code, status, code, ...extra });

const reauthRequired = () => problem(403, 'reauth_required', { methods: ['password'] });

/** An action that fails with `reauth_required` until `proven` is set. */
function sensitive() {
  const state = { proven: false, runs: 0 };
  const action = async () => {
    state.runs += 1;
    if (!state.proven) throw reauthRequired();
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
      return 'x';
    });
    expect(result).toBe('changed');
    expect(asked).toEqual([]);
    expect(state.runs).toBe(1);
  });

  it('asks for the password, re-authenticates and retries once', async () => {
    const { state, action } = sensitive();
    const proofs: string[] = [];
    const asked: Array<[string[], string | null]> = [];
    const result = await withReauth(
      action,
      async (methods, error) => {
        asked.push([methods, error]);
        return 'the-password';
      },
      async (password) => {
        proofs.push(password);
        state.proven = true;
      },
    );
    expect(result).toBe('changed');
    expect(asked).toEqual([[['password'], null]]);
    expect(proofs).toEqual(['the-password']);
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
        return answers.shift() ?? null;
      },
      async (password) => {
        if (password !== 'right') throw problem(401, 'invalid_credentials');
        state.proven = true;
      },
    );
    expect(errors).toEqual([null, 'The password is not correct.']);
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
      async () => 'x',
    ).catch((e: unknown) => e);
    expect(denied).toBeInstanceOf(ApiError);
    expect((denied as ApiError).code).toBe('forbidden');

    const { action } = sensitive();
    const limited = await withReauth(
      action,
      async () => 'x',
      async () => {
        throw problem(429, 'rate_limited');
      },
    ).catch((e: unknown) => e);
    expect((limited as ApiError).code).toBe('rate_limited');
  });
});

describe('reauthMethods', () => {
  it('reads the methods of reauth_required only', () => {
    expect(reauthMethods(problem(403, 'reauth_required', { methods: ['password', 'totp'] }))).toEqual([
      'password',
      'totp',
    ]);
    expect(reauthMethods(problem(403, 'forbidden'))).toBeNull();
    expect(reauthMethods(new Error('x'))).toBeNull();
  });
});

describe('a sensitive form that already has the password', () => {
  it('proves the typed password once and retries', async () => {
    const { state, action } = sensitive();
    const proofs: string[] = [];
    const result = await withPasswordReauth(action, 'typed secret', async (password) => {
      proofs.push(password);
      state.proven = true;
    });
    expect(result).toBe('changed');
    expect(proofs).toEqual(['typed secret']);
    expect(state.runs).toBe(2);
  });

  it('does not prove anything when the session is recent', async () => {
    const { state, action } = sensitive();
    state.proven = true;
    const proofs: string[] = [];
    await withPasswordReauth(action, 'typed secret', async (password) => {
      proofs.push(password);
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
