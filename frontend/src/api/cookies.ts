// The auth cookies as the SPA sees them: names and clearing attributes in one place, matching the
// server's cookie factory (crates/api/src/cookies.rs). With `TESSERA_COOKIE_SECURE=true` (the
// default) names carry the `__Host-` prefix and the Secure attribute; without it, neither.

/** The CSRF cookie, under each name the server may give it, secure deployments first. */
const CSRF_COOKIES = [
  { name: '__Host-csrf', attributes: 'Path=/; Secure; SameSite=Strict' },
  { name: 'csrf', attributes: 'Path=/; SameSite=Strict' },
] as const;

/** `__Host-csrf` (or `csrf` when the server runs with `TESSERA_COOKIE_SECURE=false`). */
export function readCsrfCookie(cookieHeader: string): string | undefined {
  const jar = new Map<string, string>();
  for (const part of cookieHeader.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) jar.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  for (const { name } of CSRF_COOKIES) {
    const value = jar.get(name);
    if (value) return decodeURIComponent(value);
  }
  return undefined;
}

/**
 * `document.cookie` assignments that remove the CSRF cookie under either name. They repeat the
 * attributes the server set it with, or the browser will not match it.
 */
export function csrfClearingAssignments(): string[] {
  return CSRF_COOKIES.map(({ name, attributes }) => `${name}=; Max-Age=0; ${attributes}`);
}
