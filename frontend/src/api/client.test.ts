import { describe, expect, it } from 'vitest';
import {
  createTesseraClient,
  readCsrfCookie,
  type AuthEvent,
  type ChannelLike,
  type ClientOptions,
  type LockManagerLike,
} from './client';

const BASE = 'http://127.0.0.1:9';

function problem(status: number, code: string): Response {
  return new Response(JSON.stringify({ type: 'about:blank', title: code, status, code }), {
    status,
    headers: { 'content-type': 'application/problem+json' },
  });
}

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8' },
  });
}

const me = {
  id: '00000000-0000-7000-8000-000000000001',
  email: 'ada@example.com',
  name: 'Ada',
  role: 'user',
  session_id: '00000000-0000-7000-8000-000000000002',
  expires_at: '2030-01-01T00:00:00Z',
};

const session = {
  id: me.session_id,
  access_expires_at: '2030-01-01T00:00:00Z',
  refresh_expires_at: '2030-01-02T00:00:00Z',
};

interface Call {
  method: string;
  path: string;
  csrf: string | null;
  body: string;
  credentials: RequestCredentials;
}

/**
 * A fake Tessera: the access token is either valid or not; a refresh makes it valid. Requests
 * can be held until released, to line up concurrent ones.
 */
class FakeServer {
  accessValid = false;
  expiredCode = 'token_expired';
  refreshResponse: () => Response = () => json({ session });
  calls: Call[] = [];
  refreshGate: Promise<void> | null = null;
  onRequest: ((call: Call) => Promise<void> | void) | null = null;

  readonly fetch = async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    const call: Call = {
      method: request.method,
      path: url.pathname,
      csrf: request.headers.get('x-csrf-token'),
      body: await request.text(),
      credentials: request.credentials,
    };
    this.calls.push(call);
    // Decide on the token *as sent*, before any waiting, like a server would.
    const validWhenSent = this.accessValid;
    await this.onRequest?.(call);
    if (call.path === '/api/auth/refresh') {
      if (this.refreshGate) await this.refreshGate;
      const response = this.refreshResponse();
      if (response.ok) this.accessValid = true;
      return response;
    }
    if (call.path === '/api/auth/logout') return new Response(null, { status: 204 });
    if (call.path === '/api/auth/login') return problem(401, 'invalid_credentials');
    if (!validWhenSent) return problem(401, this.expiredCode);
    if (call.path === '/api/me' && call.method === 'GET') return json(me);
    if (call.path === '/api/me' && call.method === 'PATCH') {
      const { name } = JSON.parse(call.body) as { name: string };
      return json({ user: { ...me, name, created_at: '2030-01-01T00:00:00Z' } });
    }
    return problem(404, 'not_found');
  };

  count(path: string): number {
    return this.calls.filter((c) => c.path === path).length;
  }
}

function makeClient(server: FakeServer, extra: Partial<ClientOptions> = {}) {
  let csrf: string | undefined = 'csrf-token-1';
  const events: AuthEvent[] = [];
  const client = createTesseraClient({
    baseUrl: BASE,
    fetch: server.fetch,
    readCsrf: () => csrf,
    clearCsrf: () => {
      csrf = undefined;
    },
    locks: null,
    channel: null,
    ...extra,
  });
  client.subscribe((event) => events.push(event));
  return {
    client,
    events,
    setCsrf: (value: string | undefined) => {
      csrf = value;
    },
    getCsrf: () => csrf,
  };
}

/** A FIFO lock shared by "tabs" in one test, like navigator.locks within one origin. */
class FakeLocks implements LockManagerLike {
  private tail: Promise<void> = Promise.resolve();
  grants = 0;
  async request<T>(
    _name: string,
    options: { signal?: AbortSignal },
    callback: (lock: unknown) => Promise<T>,
  ): Promise<T> {
    const previous = this.tail;
    let release!: () => void;
    this.tail = new Promise<void>((resolve) => (release = resolve));
    await new Promise<void>((resolve, reject) => {
      void previous.then(resolve);
      options.signal?.addEventListener('abort', () => {
        reject(new DOMException('aborted', 'AbortError'));
      });
    });
    this.grants += 1;
    try {
      return await callback({});
    } finally {
      release();
    }
  }
}

/** A lock held by a tab that hung: it is never granted, only aborted. */
class StuckLocks implements LockManagerLike {
  request<T>(
    _name: string,
    options: { signal?: AbortSignal },
    _callback: (lock: unknown) => Promise<T>,
  ): Promise<T> {
    return new Promise<T>((_resolve, reject) => {
      options.signal?.addEventListener('abort', () =>
        reject(new DOMException('aborted', 'AbortError')),
      );
    });
  }
}

/** A BroadcastChannel bus: delivers to every other member, like tabs of one origin. */
class Bus {
  members = new Set<FakeChannel>();
  join(): FakeChannel {
    const channel = new FakeChannel(this);
    this.members.add(channel);
    return channel;
  }
}

class FakeChannel implements ChannelLike {
  private listeners: ((event: { data: unknown }) => void)[] = [];
  constructor(private readonly bus: Bus) {}
  postMessage(message: unknown): void {
    for (const member of this.bus.members) {
      if (member !== this) for (const l of member.listeners) l({ data: structuredClone(message) });
    }
  }
  addEventListener(_type: 'message', listener: (event: { data: unknown }) => void): void {
    this.listeners.push(listener);
  }
  close(): void {
    this.bus.members.delete(this);
  }
}

describe('readCsrfCookie', () => {
  it('reads __Host-csrf, falling back to csrf', () => {
    expect(readCsrfCookie('a=1; __Host-csrf=abc.def; b=2')).toBe('abc.def');
    expect(readCsrfCookie('csrf=plain')).toBe('plain');
    expect(readCsrfCookie('__Host-csrf=one; csrf=two')).toBe('one');
    expect(readCsrfCookie('other=1')).toBeUndefined();
    expect(readCsrfCookie('')).toBeUndefined();
  });
});

describe('requests', () => {
  it('sends cookies, and the CSRF header on unsafe methods only', async () => {
    const server = new FakeServer();
    server.accessValid = true;
    const { client } = makeClient(server);
    await client.api.GET('/api/me');
    await client.api.PATCH('/api/me', { body: { name: 'Grace' } });
    const [get, patch] = server.calls;
    expect(get).toMatchObject({ method: 'GET', csrf: null, credentials: 'include' });
    expect(patch).toMatchObject({ method: 'PATCH', csrf: 'csrf-token-1', credentials: 'include' });
  });

  it('sends the CSRF header on refresh and logout too', async () => {
    const server = new FakeServer();
    const { client } = makeClient(server);
    await client.refresh();
    await client.logout();
    expect(server.calls.map((c) => [c.path, c.csrf])).toEqual([
      ['/api/auth/refresh', 'csrf-token-1'],
      ['/api/auth/logout', 'csrf-token-1'],
    ]);
  });

  it('passes through successes and unrelated errors untouched', async () => {
    const server = new FakeServer();
    server.accessValid = true;
    const { client } = makeClient(server);
    const ok = await client.api.GET('/api/me');
    expect(ok.data).toEqual(me);
    const login = await client.api.POST('/api/auth/login', {
      body: { email: 'a@example.com', password: 'x' },
    });
    expect(login.response.status).toBe(401);
    expect(login.error?.code).toBe('invalid_credentials');
    expect(server.count('/api/auth/refresh')).toBe(0);
  });
});

describe('refresh and retry', () => {
  it('refreshes once and retries once on token_expired', async () => {
    const server = new FakeServer();
    const { client, events } = makeClient(server);
    const { data, response } = await client.api.GET('/api/me');
    expect(response.status).toBe(200);
    expect(data).toEqual(me);
    expect(server.calls.map((c) => c.path)).toEqual(['/api/me', '/api/auth/refresh', '/api/me']);
    expect(events).toEqual([{ type: 'refreshed' }]);
  });

  it('re-sends the body and a fresh CSRF header on the retry', async () => {
    const server = new FakeServer();
    const { client, setCsrf } = makeClient(server);
    server.onRequest = (call) => {
      if (call.path === '/api/auth/refresh') setCsrf('csrf-token-2');
    };
    const { data } = await client.api.PATCH('/api/me', { body: { name: 'Grace Hopper' } });
    expect(data?.user.name).toBe('Grace Hopper');
    const patches = server.calls.filter((c) => c.method === 'PATCH');
    expect(patches).toHaveLength(2);
    expect(patches[1]?.body).toBe(JSON.stringify({ name: 'Grace Hopper' }));
    expect(patches[1]?.csrf).toBe('csrf-token-2');
  });

  it('treats a missing access cookie (unauthenticated) as expired while the session cookie lives', async () => {
    const server = new FakeServer();
    server.expiredCode = 'unauthenticated';
    const { client } = makeClient(server);
    const { response } = await client.api.GET('/api/me');
    expect(response.status).toBe(200);
    expect(server.count('/api/auth/refresh')).toBe(1);
  });

  it('does not refresh when there is no session at all', async () => {
    const server = new FakeServer();
    server.expiredCode = 'unauthenticated';
    const { client, setCsrf, events } = makeClient(server);
    setCsrf(undefined);
    const { response, error } = await client.api.GET('/api/me');
    expect(response.status).toBe(401);
    expect(error?.code).toBe('unauthenticated');
    expect(server.count('/api/auth/refresh')).toBe(0);
    expect(events).toEqual([]);
  });

  it('retries at most once: a second 401 is returned, not refreshed again', async () => {
    const server = new FakeServer();
    // The refresh "succeeds" but the token still does not work.
    server.refreshResponse = () => json({ session });
    const original = server.fetch;
    const fetch = async (request: Request) => {
      const response = await original(request);
      if (new URL(request.url).pathname === '/api/auth/refresh') server.accessValid = false;
      return response;
    };
    const { client } = makeClient(server, { fetch });
    const { response } = await client.api.GET('/api/me');
    expect(response.status).toBe(401);
    expect(server.count('/api/auth/refresh')).toBe(1);
    expect(server.count('/api/me')).toBe(2);
  });

  it('concurrent 401s share one refresh (single flight)', async () => {
    const server = new FakeServer();
    let open!: () => void;
    server.refreshGate = new Promise<void>((resolve) => (open = resolve));
    const { client } = makeClient(server);
    const pending = Promise.all([
      client.api.GET('/api/me'),
      client.api.GET('/api/me'),
      client.api.PATCH('/api/me', { body: { name: 'Three' } }),
      client.api.GET('/api/me'),
    ]);
    // Let all four fail and queue behind the one refresh before it completes.
    await new Promise((resolve) => setTimeout(resolve, 20));
    open();
    const results = await pending;
    expect(results.map((r) => r.response.status)).toEqual([200, 200, 200, 200]);
    expect(server.count('/api/auth/refresh')).toBe(1);
    expect(server.count('/api/me')).toBe(8);
  });

  it('a request that failed after a refresh already happened just retries', async () => {
    const server = new FakeServer();
    const { client } = makeClient(server);
    // Hold the first /api/me until after a refresh has completed.
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let first = true;
    server.onRequest = async (call) => {
      if (call.path === '/api/me' && first) {
        first = false;
        await held;
      }
    };
    const slow = client.api.GET('/api/me');
    await new Promise((resolve) => setTimeout(resolve, 5));
    const outcome = await client.refresh();
    expect(outcome).toEqual({ ok: true, by: 'this-tab' });
    release();
    const { response } = await slow;
    expect(response.status).toBe(200);
    expect(server.count('/api/auth/refresh')).toBe(1);
  });

  it('a later expiry triggers a new refresh (single flight is per burst, not forever)', async () => {
    const server = new FakeServer();
    const { client } = makeClient(server);
    await client.api.GET('/api/me');
    server.accessValid = false;
    await client.api.GET('/api/me');
    expect(server.count('/api/auth/refresh')).toBe(2);
  });
});

describe('end of session', () => {
  it('a refresh refused as a replay ends the session with that reason, without retrying', async () => {
    const server = new FakeServer();
    server.refreshResponse = () => problem(401, 'refresh_reused');
    const { client, events, getCsrf } = makeClient(server);
    const { response, error } = await client.api.GET('/api/me');
    expect(response.status).toBe(401);
    expect(error?.code).toBe('token_expired');
    expect(server.calls.map((c) => c.path)).toEqual(['/api/me', '/api/auth/refresh']);
    expect(events).toEqual([{ type: 'session-ended', reason: 'refresh_reused' }]);
    expect(getCsrf()).toBeUndefined();
  });

  it('a revoked session reported by any request ends it at once, without a refresh', async () => {
    const server = new FakeServer();
    server.expiredCode = 'session_revoked';
    const { client, events } = makeClient(server);
    await client.api.GET('/api/me');
    await client.api.GET('/api/me');
    expect(server.count('/api/auth/refresh')).toBe(0);
    // Reported once, however many requests find out.
    expect(events).toEqual([{ type: 'session-ended', reason: 'session_revoked' }]);
  });

  it('a failing server (5xx) does not log the user out: the request gets its answer', async () => {
    const server = new FakeServer();
    server.refreshResponse = () => problem(502, 'internal_error');
    const { client, events, getCsrf } = makeClient(server);
    const { response } = await client.api.GET('/api/me');
    expect(response.status).toBe(502);
    expect(events).toEqual([]);
    expect(getCsrf()).toBe('csrf-token-1');
  });

  it('a refresh refused with 503 storage_unavailable means "try again later", never logout', async () => {
    const server = new FakeServer();
    const unavailable = () => {
      const response = problem(503, 'storage_unavailable');
      response.headers.set('retry-after', '2');
      return response;
    };
    server.refreshResponse = unavailable;
    const { client, events, getCsrf } = makeClient(server);

    // Two requests in one burst: one refresh, and each caller gets the 503 (not the 401 that
    // would read as "signed out"), with its Retry-After.
    const [a, b] = await Promise.all([client.api.GET('/api/me'), client.api.GET('/api/me')]);
    for (const { response, error } of [a, b]) {
      expect(response.status).toBe(503);
      expect(response.headers.get('retry-after')).toBe('2');
      expect((error as { code: string }).code).toBe('storage_unavailable');
    }
    expect(server.count('/api/auth/refresh')).toBe(1);
    expect(await client.refresh()).toEqual({
      ok: false,
      ended: false,
      code: 'storage_unavailable',
      retryAfter: 2,
    });
    expect(events).toEqual([]);
    expect(getCsrf()).toBe('csrf-token-1');

    // The storage is back: the same session refreshes and the request goes through.
    server.refreshResponse = () => json({ session });
    const { response, data } = await client.api.GET('/api/me');
    expect(response.status).toBe(200);
    expect(data).toEqual(me);
    expect(events).toEqual([{ type: 'refreshed' }]);
  });

  it('a network failure during refresh does not log the user out', async () => {
    const server = new FakeServer();
    const fetch = (request: Request) =>
      new URL(request.url).pathname === '/api/auth/refresh'
        ? Promise.reject(new TypeError('fetch failed'))
        : server.fetch(request);
    const { client, events } = makeClient(server, { fetch });
    expect(await client.refresh()).toEqual({ ok: false, ended: false, code: 'network_error' });
    // A request that needed the refresh fails as a network failure, not as "signed out".
    await expect(client.api.GET('/api/me')).rejects.toThrow(TypeError);
    expect(events).toEqual([]);
  });
});

describe('tabs', () => {
  function twoTabs(locks: LockManagerLike, lockTimeoutMs = 10_000) {
    const server = new FakeServer();
    const bus = new Bus();
    const a = makeClient(server, { locks, channel: bus.join(), lockTimeoutMs });
    const b = makeClient(server, { locks, channel: bus.join(), lockTimeoutMs });
    return { server, a, b };
  }

  it('two tabs hitting an expired token at once cost one refresh', async () => {
    const locks = new FakeLocks();
    const { server, a, b } = twoTabs(locks);
    const [ra, rb] = await Promise.all([a.client.api.GET('/api/me'), b.client.api.GET('/api/me')]);
    expect([ra.response.status, rb.response.status]).toEqual([200, 200]);
    expect(server.count('/api/auth/refresh')).toBe(1);
    expect(locks.grants).toBe(2);
  });

  it('a tab that holds the lock forever (hung or dying) does not deadlock the others', async () => {
    const { server, a } = twoTabs(new StuckLocks(), 50);
    const started = Date.now();
    const { response } = await a.client.api.GET('/api/me');
    expect(response.status).toBe(200);
    expect(server.count('/api/auth/refresh')).toBe(1);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('logout in one tab shows as logged out in the others', async () => {
    const { a, b } = twoTabs(new FakeLocks());
    await a.client.logout();
    expect(a.events).toEqual([{ type: 'session-ended', reason: 'logged_out' }]);
    expect(b.events).toEqual([{ type: 'session-ended', reason: 'logged_out_elsewhere' }]);
  });

  it('a replay detected in one tab ends the session in the others with the same reason', async () => {
    const { server, a, b } = twoTabs(new FakeLocks());
    server.refreshResponse = () => problem(401, 'refresh_reused');
    await a.client.api.GET('/api/me');
    expect(b.events).toEqual([{ type: 'session-ended', reason: 'refresh_reused' }]);
  });

  it('a login in one tab is announced to the others', async () => {
    const { a, b } = twoTabs(new FakeLocks());
    a.client.announceLogin();
    expect(b.events).toEqual([{ type: 'logged-in' }]);
  });

  it('a refresh in another tab lets an in-flight request retry without refreshing again', async () => {
    const { server, a, b } = twoTabs(new FakeLocks());
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let first = true;
    server.onRequest = async (call) => {
      if (call.path === '/api/me' && first) {
        first = false;
        await held;
      }
    };
    const slow = b.client.api.GET('/api/me');
    await new Promise((resolve) => setTimeout(resolve, 5));
    await a.client.refresh();
    release();
    expect((await slow).response.status).toBe(200);
    expect(server.count('/api/auth/refresh')).toBe(1);
  });
});
