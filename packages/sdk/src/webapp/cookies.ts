/**
 * The two cookies of the web-app flow and their attributes, written in one place:
 *
 *   <name>        the session (sealed tokens)                       lives sessionMaxAge
 *   <name>_login  a sign-in in progress (state, nonce, verifier)    lives loginTimeout
 *
 * Both are `HttpOnly` (no script reads them), `SameSite=Lax` (sent on the top-level GET that comes
 * back from Gatehouse, not on cross-site POSTs or subresources; RFC 6265bis §5.4.7), `Path=/`;
 * with an https public URL also `Secure` and named with the `__Host-` prefix, which the browser
 * only accepts when Secure, Path=/ and without Domain (RFC 6265bis §4.1.3.2).
 */
import { parseCookies, readHeader, type AuthRequest } from '../credentials.ts';

export function setCookie(name: string, value: string, maxAgeSeconds: number, secure: boolean): string {
  return `${name}=${value}; Path=/; Max-Age=${Math.max(0, Math.floor(maxAgeSeconds))}; HttpOnly; SameSite=Lax${secure ? '; Secure' : ''}`;
}

/** Expires the cookie now; the attributes must match the ones it was set with (RFC 6265 §5.3 step 11). */
export function clearCookie(name: string, secure: boolean): string {
  return `${name}=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax${secure ? '; Secure' : ''}`;
}

/**
 * The cookie's value, `undefined` when absent. Sent twice (cookie tossing from a sibling domain
 * or path) it is ambiguous, which is reported as `null` and treated like a tampered cookie.
 */
export function readCookie(request: AuthRequest, name: string): string | null | undefined {
  const values = parseCookies(readHeader(request.headers, 'cookie')).get(name);
  if (values === undefined || values.length === 0) return undefined;
  if (values.length > 1) return null;
  return values[0] === '' ? undefined : values[0];
}
