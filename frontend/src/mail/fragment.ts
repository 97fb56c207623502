// Mail links carry their token in the URL fragment (`/reset-password#token=…`, DESIGN.md "Mail"):
// a fragment never reaches the server's logs, a proxy or a Referer. The page reads it once,
// keeps it in memory, and removes it from the address bar, so it does not linger in the
// browser's history, a bookmark or a screenshot of the tab.

/**
 * A mail token as the server issues them: base64url (256 random bits are 43 characters). The
 * bounds are loose on purpose, the server is the judge; they only keep out what cannot be a
 * token (empty, spaces, markup, another URL, a pasted paragraph).
 */
const TOKEN = /^[A-Za-z0-9_-]{16,256}$/;

/** The `token` of a fragment like `#token=…`; null when it is missing, repeated or not a token. */
export function readFragmentToken(hash: string): string | null {
  const fragment = hash.startsWith('#') ? hash.slice(1) : hash;
  if (!fragment) return null;
  const tokens = new URLSearchParams(fragment).getAll('token');
  if (tokens.length !== 1) return null;
  const [token] = tokens;
  return token !== undefined && TOKEN.test(token) ? token : null;
}

/**
 * Drops the fragment from the address bar and the current history entry without a reload or a
 * new entry. The history state is kept: the router stores its own bookkeeping there.
 */
export function removeFragment(
  location: Pick<Location, 'pathname' | 'search' | 'hash'>,
  history: Pick<History, 'state' | 'replaceState'>,
): void {
  if (!location.hash) return;
  history.replaceState(history.state, '', `${location.pathname}${location.search}`);
}
