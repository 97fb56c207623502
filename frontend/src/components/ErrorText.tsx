import type { ReactNode } from 'react';
import { describeError, wrongOrigin } from '../api';

/**
 * {@link describeError} as something to show, with a link where the answer is "go elsewhere": an
 * app opened under a name the server does not serve (`localhost` for `127.0.0.1`) gets a link to
 * the same page on the origin the server names.
 */
export function explainError(err: unknown): ReactNode {
  const origin = wrongOrigin(err);
  if (!origin) return describeError(err);
  const here = globalThis.location;
  return (
    <>
      This page is open at {here.origin}, but this server only accepts requests from {origin}.{' '}
      <a href={`${origin}${here.pathname}`}>Open the app at {origin}</a> instead.
    </>
  );
}
