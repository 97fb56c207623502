// Types derived from the generated spec (schema.gen.ts, made by `npm run generate` from
// ../openapi/openapi.json). Pages name response shapes by path and method, never by hand.

import type { components, paths } from './schema.gen';

/** Every path of the API, as the committed spec describes it. */
export type Paths = paths;

export type Schemas = components['schemas'];
export type Problem = Omit<Schemas['Problem'], 'code'> & { code: ProblemCode };
export type ProblemCode = Schemas['ProblemCode'];
export type Me = Schemas['MeResponse'];
export type User = Schemas['User'];
export type Role = Schemas['RoleView'];

type Method = 'get' | 'post' | 'patch' | 'delete';
type Json<R> = R extends { content: infer C } ? C[keyof C] : never;
type Responses<P extends keyof Paths, M extends Method> = Paths[P] extends Record<M, infer Op>
  ? Op extends { responses: infer Rs }
    ? Rs
    : never
  : never;

/** The JSON body of the 200 response of `method path`. */
export type Ok<P extends keyof Paths, M extends Method = 'get'> = Json<
  Responses<P, M> extends Record<200, infer R> ? R : never
>;

/** One element of a list endpoint's `items`. */
export type Item<P extends keyof Paths> =
  Ok<P> extends { items: ReadonlyArray<infer I> } ? I : never;
