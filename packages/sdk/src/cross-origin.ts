/**
 * CSRF protection for cookie credentials.
 *
 * A browser attaches cookies to requests other sites make, so a cookie credential on an unsafe
 * method is accepted only when the request provably comes from the API's own origin or from an
 * origin the API trusts. The check uses the headers browsers set and pages cannot forge
 * (Fetch Metadata `Sec-Fetch-Site`, and `Origin`), as OWASP's CSRF cheat sheet ("Verifying origin
 * with standard headers", "Fetch Metadata") and Go's `http.CrossOriginProtection` do:
 *
 *   1. safe methods (GET, HEAD, OPTIONS; RFC 9110 §9.2.1) are not checked;
 *   2. `Origin` in the trusted list → allowed;
 *   3. `Sec-Fetch-Site` present → allowed only if `same-origin`;
 *   4. otherwise `Origin` present → allowed only if it equals the request's own origin;
 *   5. neither header → refused. Unlike Go we fail closed: every current browser sends one of
 *      them on unsafe requests, and non-browser clients should send the Authorization header.
 *
 * Credentials from headers need no such check: a page cannot make a browser add them.
 */
import { AuthError } from './errors.ts';
import { readHeader, schemeOf, type AuthRequest, type Credential } from './credentials.ts';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** RFC 9110 §9.2.1: GET, HEAD and OPTIONS are safe; anything else may change state. */
export function isSafeMethod(method: string): boolean {
  return SAFE_METHODS.has(method.toUpperCase());
}

export function checkCrossOrigin(request: AuthRequest, credential: Credential, trustedOrigins: ReadonlySet<string>): void {
  if (credential.location !== 'cookie' || isSafeMethod(request.method)) return;
  if (!isSameOriginRequest(request, requestOrigin(request), trustedOrigins)) throw refused(credential);
}

/**
 * Steps 1–5 above for one request. `ownOrigin` is the origin the application is served from: the
 * request's own for an API, the configured public URL for a web app (right behind a proxy).
 * Shared by the API authenticator and the web-app sign-in helper, so both apply one rule.
 */
export function isSameOriginRequest(request: AuthRequest, ownOrigin: string | undefined, trustedOrigins: ReadonlySet<string>): boolean {
  if (isSafeMethod(request.method)) return true;

  const origin = readHeader(request.headers, 'origin');
  if (origin !== undefined && trustedOrigins.has(origin)) return true;

  const site = readHeader(request.headers, 'sec-fetch-site');
  if (site !== undefined) return site === 'same-origin';
  return origin !== undefined && origin !== 'null' && origin === ownOrigin;
}

function requestOrigin(request: AuthRequest): string | undefined {
  try {
    return new URL(request.url).origin;
  } catch {
    return undefined; // a relative URL has no origin to compare with
  }
}

function refused(credential: Credential): AuthError {
  return new AuthError('cross_site_request', 'A cookie credential was sent by a cross-site request', {
    scheme: schemeOf(credential.source),
  });
}

/**
 * The `trustedOrigins` option of the authenticator and of the web-app helper: each exactly an
 * origin, the form browsers send in `Origin`; a bad entry is a TypeError naming its index.
 */
export function resolveTrustedOrigins(value: readonly string[] | undefined): ReadonlySet<string> {
  if (value === undefined) return new Set();
  if (!Array.isArray(value)) throw new TypeError('trustedOrigins: expected an array of origins');
  for (const [index, origin] of value.entries()) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(origin);
    } catch {
      parsed = undefined;
    }
    // Exactly an origin ("https://app.example.com"), the form browsers send in Origin.
    if (parsed === undefined || parsed.origin !== origin) {
      throw new TypeError(`trustedOrigins[${index}]: expected an origin like https://app.example.com`);
    }
  }
  return new Set(value);
}
