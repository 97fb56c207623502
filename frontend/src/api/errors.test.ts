import { describe, expect, it } from 'vitest';
import { ApiError, describeError, wrongOrigin } from './index';
import type { Problem } from './types';

const refused = (extra: Partial<Problem> = {}) =>
  new ApiError(403, {
    type: 'about:blank',
    title: 'Forbidden',
    status: 403,
    code: 'csrf_failed',
    detail: 'request origin http://localhost:8080 is not allowed: this server accepts requests from http://127.0.0.1:8080',
    ...extra,
  });

describe('a request refused for coming from another origin', () => {
  it('names the origin the server serves', () => {
    const err = refused({ public_origin: 'http://127.0.0.1:8080' });
    expect(wrongOrigin(err, 'http://localhost:8080')).toBe('http://127.0.0.1:8080');
  });

  it('is not a wrong origin when the page is already there, or the server named none', () => {
    expect(wrongOrigin(refused({ public_origin: 'http://127.0.0.1:8080' }), 'http://127.0.0.1:8080')).toBeNull();
    expect(wrongOrigin(refused(), 'http://localhost:8080')).toBeNull();
    expect(wrongOrigin(new ApiError(403, undefined), 'http://localhost:8080')).toBeNull();
    expect(wrongOrigin(new Error('x'), 'http://localhost:8080')).toBeNull();
  });

  it('only ever links to an http(s) origin', () => {
    for (const bad of ['javascript:alert(1)', 'http://127.0.0.1:8080/path', 'not a url', 'data:text/html,x']) {
      expect(wrongOrigin(refused({ public_origin: bad }), 'http://localhost:8080'), bad).toBeNull();
    }
  });

  it('says where to go instead of "reload and try again"', () => {
    const original = globalThis.location;
    Object.defineProperty(globalThis, 'location', { value: { origin: 'http://localhost:8080' }, configurable: true });
    try {
      const text = describeError(refused({ public_origin: 'http://127.0.0.1:8080' }));
      expect(text).toContain('http://localhost:8080');
      expect(text).toContain('Open the app at http://127.0.0.1:8080');
      expect(text).not.toMatch(/reload/i);
      // Other CSRF refusals keep their advice.
      expect(describeError(refused())).toMatch(/Reload the page/);
    } finally {
      Object.defineProperty(globalThis, 'location', { value: original, configurable: true });
    }
  });
});
