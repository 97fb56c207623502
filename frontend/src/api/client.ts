// The one way the SPA talks to /api: an openapi-fetch client typed by the generated spec, wrapped
// in a fetch that
//   - sends cookies (`credentials: 'include'`) and, on unsafe methods, `X-CSRF-Token` copied from
//     the readable `__Host-csrf` cookie (the double-submit check in DESIGN.md);
//   - on a 401 that means "access token expired" refreshes ONCE and retries the request ONCE;
//     when that refresh fails without ending the session (503 `storage_unavailable`, 429, a
//     proxy's 5xx, no network), the request answers with the refresh's failure ("try again
//     later"), never with the 401 that would read as "signed out";
//   - shares one refresh between every request that needs it (single flight), and between tabs
//     through the Web Locks API, so a burst of 401s costs one rotation, not one per request or tab;
//   - tells the app (and the other tabs, over BroadcastChannel) when the session is over.
//
// Every dependency on the browser (fetch, cookies, locks, channel) is injectable so the logic is
// unit-tested in Node with mocks (client.test.ts).

import createClient, { type Client } from 'openapi-fetch';
import type { Paths, Problem, ProblemCode } from './types';
import { csrfClearingAssignments, readCsrfCookie } from './cookies';

export { readCsrfCookie };

/** Why the user is no longer signed in; the login page explains each one. */
export type EndReason =
  /** This tab logged out. */
  | 'logged_out'
  /** Another tab logged out (or logged out everywhere). */
  | 'logged_out_elsewhere'
  /** The session was revoked: from another device, "log out everywhere", an admin, a password change. */
  | 'session_revoked'
  /** A refresh token was presented twice: the server assumed theft and ended the session. */
  | 'refresh_reused'
  /** The session expired (idle or absolute lifetime) or its cookies are gone. */
  | 'expired'
  /** This tab deleted the account (every session ended with it). */
  | 'account_deleted';

export type AuthEvent =
  | { type: 'session-ended'; reason: EndReason }
  | { type: 'logged-in' }
  | { type: 'refreshed' };

/** What travels between tabs on the BroadcastChannel. */
export type TabMessage =
  | { type: 'refreshed'; at: number }
  | { type: 'session-ended'; reason: EndReason }
  | { type: 'logged-in' };

export interface LockManagerLike {
  request<T>(
    name: string,
    options: { signal?: AbortSignal },
    callback: (lock: unknown) => Promise<T>,
  ): Promise<T>;
}

export interface ChannelLike {
  postMessage(message: unknown): void;
  addEventListener(type: 'message', listener: (event: { data: unknown }) => void): void;
  close(): void;
}

export interface ClientOptions {
  /** Absolute origin of the API; defaults to the page's own origin. */
  baseUrl?: string;
  /** The network. Defaults to `globalThis.fetch`. */
  fetch?: (request: Request) => Promise<Response>;
  /** Reads the CSRF cookie's value. Defaults to `document.cookie`. */
  readCsrf?: () => string | undefined;
  /** Forgets the CSRF cookie once the session is over (the server clears it too). */
  clearCsrf?: () => void;
  /** Cross-tab refresh lock; `null` turns it off. Defaults to `navigator.locks` when present. */
  locks?: LockManagerLike | null;
  /** Cross-tab messages; `null` turns them off. Defaults to a BroadcastChannel when present. */
  channel?: ChannelLike | null;
  /** How long to wait for another tab's refresh lock before refreshing without it. */
  lockTimeoutMs?: number;
}

export type RefreshOutcome =
  | { ok: true; by: 'this-tab' | 'other-tab' }
  | {
      ok: false;
      /** The session is over (a 401): the user must sign in again. Otherwise try again later. */
      ended: boolean;
      code: ProblemCode | 'network_error' | 'unknown';
      /** Seconds the server asked to wait (`Retry-After`), when it said. */
      retryAfter?: number;
    };

/** A refresh that failed without ending the session, as the server answered it. */
interface RefreshFailure {
  status: number;
  statusText: string;
  headers: Headers;
  body: string;
}

/** One refresh attempt: the outcome, and the answer to hand on when it failed. */
interface Attempt {
  outcome: RefreshOutcome;
  failure?: RefreshFailure;
}

export interface TesseraClient {
  /** Typed calls for every API operation, with CSRF and refresh-and-retry built in. */
  readonly api: Client<Paths>;
  /** Refreshes now (single flight, coordinated across tabs). */
  refresh(): Promise<RefreshOutcome>;
  /** Ends this session on the server and tells every tab. */
  logout(): Promise<void>;
  /** Marks the session over locally (e.g. after "log out everywhere") and tells every tab. */
  endSession(reason: EndReason): void;
  /** Tells other tabs a user signed in here, so they can pick the session up. */
  announceLogin(): void;
  /** Local auth events (including those received from other tabs). Returns the unsubscriber. */
  subscribe(listener: (event: AuthEvent) => void): () => void;
  close(): void;
}

export const REFRESH_LOCK = 'tessera-refresh';
export const CHANNEL_NAME = 'tessera-auth';
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);
const REFRESH_PATH = '/api/auth/refresh';

/** Reads a problem document from a response without consuming it. */
export async function problemOf(response: Response): Promise<Problem | undefined> {
  const type = response.headers.get('content-type') ?? '';
  if (!type.includes('json')) return undefined;
  try {
    const body: unknown = await response.clone().json();
    if (body && typeof body === 'object' && 'code' in body && typeof body.code === 'string') {
      return body as Problem;
    }
  } catch {
    // not JSON after all
  }
  return undefined;
}

function endReasonOf(code: string | undefined): EndReason {
  if (code === 'refresh_reused') return 'refresh_reused';
  if (code === 'session_revoked') return 'session_revoked';
  return 'expired';
}

function isTabMessage(data: unknown): data is TabMessage {
  return !!data && typeof data === 'object' && 'type' in data && typeof data.type === 'string';
}

function defaultLocks(): LockManagerLike | null {
  const nav = globalThis.navigator as (Navigator & { locks?: LockManagerLike }) | undefined;
  return nav?.locks ?? null;
}

function defaultChannel(): ChannelLike | null {
  return typeof BroadcastChannel === 'function' ? new BroadcastChannel(CHANNEL_NAME) : null;
}

function defaultReadCsrf(): string | undefined {
  return typeof document === 'undefined' ? undefined : readCsrfCookie(document.cookie);
}

function defaultClearCsrf(): void {
  if (typeof document === 'undefined') return;
  for (const assignment of csrfClearingAssignments()) document.cookie = assignment;
}

export function createTesseraClient(options: ClientOptions = {}): TesseraClient {
  const baseUrl = options.baseUrl ?? globalThis.location?.origin ?? '';
  const network = options.fetch ?? ((request: Request) => globalThis.fetch(request));
  const readCsrf = options.readCsrf ?? defaultReadCsrf;
  const clearCsrf = options.clearCsrf ?? defaultClearCsrf;
  const locks = options.locks === undefined ? defaultLocks() : options.locks;
  const channel = options.channel === undefined ? defaultChannel() : options.channel;
  const lockTimeoutMs = options.lockTimeoutMs ?? 10_000;

  const listeners = new Set<(event: AuthEvent) => void>();
  const emit = (event: AuthEvent) => {
    for (const listener of [...listeners]) listener(event);
  };
  const post = (message: TabMessage) => {
    try {
      channel?.postMessage(message);
    } catch {
      // a closed channel: nothing to tell
    }
  };

  // Bumped whenever fresh cookies arrive (a refresh in this tab or in another). A request that
  // was sent before the bump and then fails with an expired token just retries: its refresh has
  // already happened.
  let generation = 0;
  // Refreshes done by other tabs, as announced on the channel.
  let remoteRefreshes = 0;
  let inflight: Promise<Attempt> | null = null;
  let ended = false;

  channel?.addEventListener('message', (event) => {
    const message = event.data;
    if (!isTabMessage(message)) return;
    if (message.type === 'refreshed') {
      generation += 1;
      remoteRefreshes += 1;
      ended = false;
      emit({ type: 'refreshed' });
    } else if (message.type === 'session-ended') {
      ended = true;
      emit({
        type: 'session-ended',
        reason: message.reason === 'logged_out' ? 'logged_out_elsewhere' : message.reason,
      });
    } else if (message.type === 'logged-in') {
      generation += 1;
      ended = false;
      emit({ type: 'logged-in' });
    }
  });

  /** Adds the CSRF header on unsafe methods and sends. Never retries. */
  const send = (request: Request): Promise<Response> => {
    if (!SAFE_METHODS.has(request.method.toUpperCase())) {
      const token = readCsrf();
      if (token) request.headers.set('X-CSRF-Token', token);
    }
    return network(request);
  };

  const endSession = (reason: EndReason, broadcast = true) => {
    clearCsrf();
    const wasEnded = ended;
    ended = true;
    if (broadcast) post({ type: 'session-ended', reason });
    if (!wasEnded || reason === 'logged_out') emit({ type: 'session-ended', reason });
  };

  // The refresh call itself goes through a client that never refreshes (no recursion).
  const plain = createClient<Paths>({ baseUrl, credentials: 'include', fetch: send });

  const refreshHere = async (): Promise<Attempt> => {
    let response: Response;
    let error: Problem | undefined;
    try {
      const result = await plain.POST(REFRESH_PATH);
      response = result.response;
      error = result.error as Problem | undefined;
    } catch {
      return { outcome: { ok: false, ended: false, code: 'network_error' } };
    }
    if (response.ok) {
      generation += 1;
      ended = false;
      post({ type: 'refreshed', at: Date.now() });
      emit({ type: 'refreshed' });
      return { outcome: { ok: true, by: 'this-tab' } };
    }
    if (response.status === 401) {
      endSession(endReasonOf(error?.code));
      return { outcome: { ok: false, ended: true, code: error?.code ?? 'unauthenticated' } };
    }
    // 503 storage_unavailable (the server changed nothing; the cookies still hold a current
    // token), 429, a proxy error: the session may well be fine; do not log the user out for it.
    const retry = Number(response.headers.get('retry-after'));
    const retryAfter = Number.isFinite(retry) && retry > 0 ? retry : undefined;
    return {
      outcome: { ok: false, ended: false, code: error?.code ?? 'unknown', ...(retryAfter ? { retryAfter } : {}) },
      failure: {
        status: response.status,
        statusText: response.statusText,
        headers: new Headers(response.headers),
        body: error === undefined ? '' : typeof error === 'string' ? error : JSON.stringify(error),
      },
    };
  };

  const refreshCoordinated = async (): Promise<Attempt> => {
    if (!locks) return refreshHere();
    const seen = remoteRefreshes;
    const underLock = async (): Promise<Attempt> => {
      // Another tab refreshed while this one waited for the lock: the cookie jar (shared by
      // every tab) already holds the new tokens.
      if (remoteRefreshes !== seen) return { outcome: { ok: true, by: 'other-tab' } };
      return refreshHere();
    };
    // Web Locks are released when the holder's tab closes or crashes, so a dead tab cannot hold
    // the lock forever; the timeout is only a backstop (the server answers concurrent refreshes
    // with the same token identically, so refreshing without the lock is safe, merely wasteful).
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), lockTimeoutMs);
    let acquired = false;
    try {
      return await locks.request(REFRESH_LOCK, { signal: controller.signal }, () => {
        acquired = true;
        clearTimeout(timer);
        return underLock();
      });
    } catch (err) {
      if (acquired) throw err;
      return underLock();
    } finally {
      clearTimeout(timer);
    }
  };

  const attemptRefresh = (): Promise<Attempt> => {
    if (!inflight) {
      inflight = refreshCoordinated().finally(() => {
        inflight = null;
      });
    }
    return inflight;
  };

  const refresh = (): Promise<RefreshOutcome> => attemptRefresh().then((attempt) => attempt.outcome);

  /**
   * Whether a 401 means "the access token is expired or gone, but the session may live on".
   * `token_expired` says so directly. The access cookie's Max-Age equals the token's lifetime, so
   * the browser usually drops it before it can be refused as expired: the server then sees no
   * token at all (`unauthenticated`). The readable CSRF cookie lives as long as the session, so
   * its presence says a refresh is worth one try.
   */
  const shouldRefresh = (code: string | undefined): boolean =>
    code === 'token_expired' || (code === 'unauthenticated' && !!readCsrf());

  const authFetch = async (request: Request): Promise<Response> => {
    const path = new URL(request.url).pathname;
    if (path.startsWith('/api/auth/')) return send(request);
    const retry = request.clone();
    const sentAt = generation;
    const first = await send(request);
    if (first.status !== 401) return first;
    const problem = await problemOf(first);
    if (problem && (problem.code === 'session_revoked' || problem.code === 'refresh_reused')) {
      endSession(endReasonOf(problem.code));
      return first;
    }
    if (!shouldRefresh(problem?.code)) return first;
    if (generation === sentAt) {
      const { outcome, failure } = await attemptRefresh();
      if (!outcome.ok) {
        if (outcome.ended) return first;
        // Not signed out, only not now: hand on the refresh's own answer (each caller gets
        // its own copy), or fail like fetch does when the network did.
        if (!failure) throw new TypeError('the session could not be refreshed: network error');
        return new Response(failure.body || null, {
          status: failure.status,
          statusText: failure.statusText,
          headers: failure.headers,
        });
      }
    }
    const second = await send(retry);
    if (second.status === 401) {
      const again = await problemOf(second);
      if (again?.code === 'session_revoked' || again?.code === 'refresh_reused') {
        endSession(endReasonOf(again.code));
      }
    }
    return second;
  };

  const api = createClient<Paths>({ baseUrl, credentials: 'include', fetch: authFetch });

  return {
    api,
    refresh,
    async logout() {
      // The refresh cookie identifies the session even when the access token has expired.
      const { response } = await plain.POST('/api/auth/logout');
      if (!response.ok && response.status !== 401) {
        throw new Error(`logout failed with status ${response.status}`);
      }
      endSession('logged_out');
    },
    endSession(reason) {
      endSession(reason);
    },
    announceLogin() {
      generation += 1;
      ended = false;
      post({ type: 'logged-in' });
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    close() {
      listeners.clear();
      channel?.close();
    },
  };
}
