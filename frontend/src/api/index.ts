import { createTesseraClient } from './client';
import type { Problem, ProblemCode } from './types';

export type { AuthEvent, EndReason } from './client';
export type * from './types';

/** The page's one client (one BroadcastChannel, one single-flight refresh). */
export const tessera = createTesseraClient();
export const api = tessera.api;

/** A failed API call: the problem document when the server sent one. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: ProblemCode | 'network_error' | 'unknown';
  readonly problem: Problem | undefined;
  readonly retryAfter: number | undefined;

  constructor(status: number, problem: Problem | undefined, retryAfter?: number) {
    super(problem?.detail ?? problem?.title ?? `request failed with status ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.code = problem?.code ?? (status === 0 ? 'network_error' : 'unknown');
    this.problem = problem;
    this.retryAfter = retryAfter;
  }
}

function isProblem(value: unknown): value is Problem {
  return !!value && typeof value === 'object' && 'code' in value && 'status' in value;
}

/**
 * Resolves an openapi-fetch call to its data, or throws an {@link ApiError}. The data type comes
 * straight from the generated spec.
 */
export async function unwrap<D>(
  call: Promise<{ data?: D; error?: unknown; response: Response }>,
): Promise<D> {
  let result: { data?: D; error?: unknown; response: Response };
  try {
    result = await call;
  } catch {
    throw new ApiError(0, undefined);
  }
  const { response } = result;
  if (!response.ok) {
    const retry = Number(response.headers.get('retry-after'));
    throw new ApiError(
      response.status,
      isProblem(result.error) ? result.error : undefined,
      Number.isFinite(retry) && retry > 0 ? retry : undefined,
    );
  }
  return result.data as D;
}

/**
 * When the server refused a request because this page's origin is not the one it serves (the app
 * opened as `localhost` instead of `127.0.0.1`, or under another host name), the origin to go to.
 * The server names it in the problem (`public_origin`): only it knows its configuration, and the
 * problem reaches every client, not only this SPA.
 */
export function wrongOrigin(err: unknown, here: string = globalThis.location?.origin ?? ''): string | null {
  if (!(err instanceof ApiError) || err.code !== 'csrf_failed') return null;
  const expected = err.problem?.public_origin;
  if (!expected || expected === here) return null;
  try {
    const url = new URL(expected);
    if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.origin !== expected) return null;
  } catch {
    return null;
  }
  return expected;
}

/** A sentence for the user; pages add their own for codes they expect. */
export function describeError(err: unknown): string {
  if (!(err instanceof ApiError)) return 'Something went wrong. Please try again.';
  const origin = wrongOrigin(err);
  if (origin) {
    return `This page is open at ${globalThis.location?.origin ?? 'another address'}, but this server only accepts requests from ${origin}. Open the app at ${origin} instead.`;
  }
  switch (err.code) {
    case 'network_error':
      return 'Cannot reach the server. Check your connection and try again.';
    case 'rate_limited':
      return err.retryAfter
        ? `Too many attempts. Try again in ${err.retryAfter} second${err.retryAfter === 1 ? '' : 's'}.`
        : 'Too many attempts. Please wait a moment and try again.';
    case 'unauthenticated':
    case 'token_expired':
    case 'session_revoked':
    case 'refresh_reused':
      return 'Your session has ended. Please sign in again.';
    case 'forbidden':
      return 'You do not have permission to do that.';
    case 'csrf_failed':
      return 'The request was refused as a possible cross-site request. Reload the page and try again.';
    case 'not_found':
      return 'That no longer exists.';
    case 'validation_failed':
      return err.problem?.detail ?? 'Some of the values are not valid.';
    case 'mfa_failed':
      return 'That code or passkey was not accepted.';
    case 'mfa_required':
      return 'This account needs a second factor to sign in.';
    case 'webauthn_failed':
      return 'The passkey could not be verified. Try again.';
    case 'passkeys_unavailable':
      return 'Passkeys are not available on this server.';
    case 'internal_error':
      return 'The server had a problem. Please try again.';
    case 'storage_unavailable':
      return err.retryAfter
        ? `The service cannot save changes right now; nothing was changed. Try again in ${err.retryAfter} second${err.retryAfter === 1 ? '' : 's'}.`
        : 'The service cannot save changes right now; nothing was changed. Please try again shortly.';
    default:
      return err.message;
  }
}
