import { useEffect, useState } from 'react';
import { readFragmentToken, removeFragment } from './fragment';

export interface MailLink {
  token: string | null;
  /** Counts the links opened in this tab while the page showed; a page keys its state on it. */
  opened: number;
}

/**
 * The token of the mail link this page was opened with, read once from the fragment (before the
 * first render commits) and then removed from the address bar. Null when the link carried none
 * or a damaged one. Reading it consumes nothing: only the page's button sends it to the server.
 * Another link opened in the same tab while the page is showing (only the fragment changes, so
 * the browser does not reload) replaces it, even when it is the same link again.
 */
export function useFragmentToken(): MailLink {
  const [link, setLink] = useState<MailLink>(() => ({ token: readFragmentToken(globalThis.location.hash), opened: 0 }));
  useEffect(() => {
    removeFragment(globalThis.location, globalThis.history);
    const onHashChange = () => {
      if (!globalThis.location.hash) return;
      const token = readFragmentToken(globalThis.location.hash);
      setLink(({ opened }) => ({ token, opened: opened + 1 }));
      removeFragment(globalThis.location, globalThis.history);
    };
    globalThis.addEventListener('hashchange', onHashChange);
    return () => globalThis.removeEventListener('hashchange', onHashChange);
  }, []);
  return link;
}
