import { describe, expect, it } from 'vitest';
import { readFragmentToken, removeFragment } from './fragment';

const TOKEN = 'q1X8m2bA9Zc7rT0uV4wY6eK3nP5sD8fG1hJ2kL4mN6o';

describe('reading the token of a mail link', () => {
  it('reads `#token=…`, with or without the hash sign and beside other parameters', () => {
    expect(readFragmentToken(`#token=${TOKEN}`)).toBe(TOKEN);
    expect(readFragmentToken(`token=${TOKEN}`)).toBe(TOKEN);
    expect(readFragmentToken(`#utm=x&token=${TOKEN}`)).toBe(TOKEN);
  });

  it('has no token when the fragment is empty or names none', () => {
    for (const hash of ['', '#', '#token', '#token=', `#tok=${TOKEN}`, `#${TOKEN}`]) {
      expect(readFragmentToken(hash), hash).toBeNull();
    }
  });

  it('refuses what cannot be a token', () => {
    const garbage = [
      '#token=short',
      `#token=${TOKEN}%20`,
      `#token=${TOKEN}+x`,
      '#token=<script>alert(1)</script>',
      '#token=https%3A%2F%2Fevil.example%2F',
      `#token=${'a'.repeat(257)}`,
      `#token=${TOKEN}.${TOKEN}`,
    ];
    for (const hash of garbage) expect(readFragmentToken(hash), hash).toBeNull();
  });

  it('refuses a repeated token rather than guess which one was meant', () => {
    expect(readFragmentToken(`#token=${TOKEN}&token=${TOKEN.slice(1)}`)).toBeNull();
  });
});

describe('removing the token from the address bar', () => {
  const fakeHistory = (state: unknown) => {
    const calls: Array<[unknown, string, string | URL | null | undefined]> = [];
    return {
      calls,
      history: {
        state,
        replaceState: (data: unknown, unused: string, url?: string | URL | null) => {
          calls.push([data, unused, url]);
        },
      },
    };
  };

  it('replaces the current entry with the same path and query, keeping the router state', () => {
    const routerState = { usr: null, key: 'abc', idx: 0 };
    const { calls, history } = fakeHistory(routerState);
    removeFragment({ pathname: '/reset-password', search: '?lang=en', hash: `#token=${TOKEN}` }, history);
    expect(calls).toEqual([[routerState, '', '/reset-password?lang=en']]);
  });

  it('leaves the history alone when there is no fragment', () => {
    const { calls, history } = fakeHistory(null);
    removeFragment({ pathname: '/verify-email', search: '', hash: '' }, history);
    expect(calls).toEqual([]);
  });
});
