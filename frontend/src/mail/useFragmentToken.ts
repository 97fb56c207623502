import { useEffect, useState } from 'react';
import { readFragmentToken, removeFragment } from './fragment';

/**
 * The token of the mail link this page was opened with, read once from the fragment (before the
 * first render commits) and then removed from the address bar. Null when the link carried none
 * or a damaged one. Reading it consumes nothing: only the page's button sends it to the server.
 * Another link opened in the same tab while the page is showing (only the fragment changes, so
 * the browser does not reload) replaces it.
 */
export function useFragmentToken(): string | null {
  const [token, setToken] = useState(() => readFragmentToken(globalThis.location.hash));
  useEffect(() => {
    removeFragment(globalThis.location, globalThis.history);
    const onHashChange = () => {
      if (!globalThis.location.hash) return;
      setToken(readFragmentToken(globalThis.location.hash));
      removeFragment(globalThis.location, globalThis.history);
    };
    globalThis.addEventListener('hashchange', onHashChange);
    return () => globalThis.removeEventListener('hashchange', onHashChange);
  }, []);
  return token;
}
