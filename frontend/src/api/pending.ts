// TEMPORARY (issue 11, branch h-spa): the operations of DESIGN.md part 2 / BRIEF.md that the SPA
// calls and that openapi/openapi.json does not describe yet (the passkey operations: branch
// h-passkeys adds them; h-totp's are in the spec already and were removed from here). Merged into `Paths` in types.ts so the SPA typechecks before they land.
// Operations the spec already has win (`WithPending`): an operation missing there comes from
// here, one in both is the intersection (login's 202, reauth's extra fields). DELETE this file
// and its uses in types.ts once the spec has them all: the compiler then checks every call
// against the real spec alone.

import type { components } from './schema.gen';

type S = components['schemas'];
type JsonBody<T> = { content: { 'application/json; charset=utf-8': T } };
type Answer<T> = { headers: { [name: string]: unknown } } & JsonBody<T>;
type NoContent = { headers: { [name: string]: unknown }; content?: never };
type Params<Path> = [Path] extends [undefined]
  ? { query?: never; header?: never; path?: never; cookie?: never }
  : { query?: never; header?: never; path: Path; cookie?: never };
type Op<Body, Responses, Path = undefined> = { parameters: Params<Path>; responses: Responses } & ([Body] extends [never]
  ? { requestBody?: never }
  : { requestBody: JsonBody<Body> });
type Credential = { [key: string]: unknown };
type PasskeyOptions = { publicKey: { [key: string]: unknown } };
type IdPath = { id: string };

export type PendingProblemCode = 'mfa_required' | 'webauthn_failed' | 'passkeys_unavailable';

export interface PendingPaths {
  // h-passkeys: a passkey assertion as the proof of a re-authentication or an MFA login.
  '/api/auth/reauth': { post: { requestBody: JsonBody<{ credential?: Credential }> } };
  '/api/auth/reauth/passkey/options': { post: Op<never, { 200: Answer<PasskeyOptions> }> };
  '/api/auth/mfa': { post: { requestBody: JsonBody<{ credential?: Credential }> } };
  '/api/auth/mfa/passkey/options': { post: Op<{ mfa_token?: string }, { 200: Answer<PasskeyOptions> }> };
  '/api/auth/passkey/options': { post: Op<never, { 200: Answer<PasskeyOptions> }> };
  '/api/auth/passkey': { post: Op<{ credential: Credential }, { 200: Answer<S['AuthResponse']> }> };
  '/api/me/passkeys/options': { post: Op<never, { 200: Answer<PasskeyOptions> }> };
  '/api/me/passkeys': {
    get: Op<never, { 200: Answer<{ items: S['PasskeySummary'][] }> }>;
    post: Op<{ name: string; credential: Credential }, { 201: Answer<S['PasskeySummary']> }>;
  };
  '/api/me/passkeys/{id}': {
    patch: Op<{ name: string }, { 200: Answer<S['PasskeySummary']> }, IdPath>;
    delete: Op<never, { 204: NoContent }, IdPath>;
  };
}

/** An operation the spec lacks (absent, or `?: never`). */
type Missing<T> = [T] extends [never] ? true : [T] extends [undefined] ? true : false;

type MergeItem<A, B> = {
  [M in keyof A | keyof B]: M extends keyof A
    ? M extends keyof B
      ? Missing<A[M]> extends true
        ? B[M]
        : A[M] & B[M]
      : A[M]
    : M extends keyof B
      ? B[M]
      : never;
};

/** The spec's paths, with what this file adds. */
export type WithPending<A> = {
  [P in keyof A | keyof PendingPaths]: P extends keyof A
    ? P extends keyof PendingPaths
      ? MergeItem<A[P], PendingPaths[P]>
      : A[P]
    : P extends keyof PendingPaths
      ? PendingPaths[P]
      : never;
};
