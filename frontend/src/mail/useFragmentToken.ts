import { useEffect, useState } from 'react';
import { readFragmentToken, removeFragment } from './fragment';

/**
 * The token of the mail link this page was opened with, read once from the fragment (before the
 * first render commits) and then removed from the address bar. Null when the link carried none
 * or a damaged one. Reading it consumes nothing: only the page's button sends it to the server.
 */
export function useFragmentToken(): string | null {
  const [token] = useState(() => readFragmentToken(globalThis.location.hash));
  useEffect(() => {
    removeFragment(globalThis.location, globalThis.history);
  }, []);
  return token;
}
