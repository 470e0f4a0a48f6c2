/**
 * The SDK's error vocabulary and the one place where it becomes HTTP.
 *
 * Every failure caused by a request or a token is an `AuthError` with a stable `code` from
 * `AUTH_ERRORS`. `toErrorResponse()` turns it into status, headers and body; every adapter sends
 * exactly those bytes, so Fastify, Express and Hono answer identically. Misuse of the SDK itself
 * (a bad option) is a `TypeError` thrown at construction, never an `AuthError`.
 */

/**
 * code → HTTP status, the `error` attribute sent on the wire, and when it is answered (the text of
 * docs/errors.md, generated from here by `npm run docs`).
 * Every description is a fixed string written in this package, so all of them may be shown to
 * clients; nothing taken from the request or the token (least of all the token) is ever echoed.
 */
export const AUTH_ERRORS = {
  // RFC 6750 §3.1: when the request lacks any authentication information the resource server
  // SHOULD NOT include an error code, so this one has no wire error.
  missing_credentials: { status: 401, wireError: undefined, when: 'No credential at all: the challenge names the accepted schemes, with no error code.' },
  // RFC 6750 §3.1: malformed request, or more than one method used to send a credential.
  invalid_request: {
    status: 400,
    wireError: 'invalid_request',
    when: 'A malformed request: a malformed Authorization header, a credential header, cookie or parameter sent twice, or credentials sent by more than one method.',
  },
  // A cookie credential on an unsafe method from another site (CSRF, cross-origin.ts). Not a
  // malformed request and not a bad credential (it was never judged): refused as forbidden, as
  // Go's CrossOriginProtection and the web-app helper do, with no challenge — signing in again
  // would not help. Name in Gatehouse's own error registry.
  cross_site_request: {
    status: 403,
    wireError: 'cross_site_request',
    when: 'A cookie credential on an unsafe method from a request that does not provably come from the API\'s own or a trusted origin (CSRF).',
  },
  // RFC 6750 §3.1: expired, revoked, malformed, or otherwise invalid credential.
  invalid_token: {
    status: 401,
    wireError: 'invalid_token',
    when: 'The credential is expired, revoked, malformed, too large, for another audience or issuer, or signed with an unknown key.',
  },
  // RFC 6750 §3.1: the credential is valid but lacks what the route requires.
  insufficient_scope: {
    status: 403,
    wireError: 'insufficient_scope',
    when: 'A valid credential without a scope (or of a kind) the route requires; the required scopes are in `scope`.',
  },
  // Too many failed API keys or opaque tokens from one client address: refused before any
  // introspection, with Retry-After (RFC 6585 §4). Name as Gatehouse's own error registry.
  too_many_requests: {
    status: 429,
    wireError: 'too_many_requests',
    when: 'Too many invalid API keys or opaque tokens from one address: refused before any lookup, with `Retry-After`.',
  },
  // The issuer (JWKS, discovery, introspection) could not be reached: the credential may well be
  // fine, so this is not a 401. Name from RFC 6749 §4.1.2.1, status from RFC 9110 §15.6.4.
  temporarily_unavailable: {
    status: 503,
    wireError: 'temporarily_unavailable',
    when: 'Gatehouse (its keys, discovery or introspection) could not be reached: the credential was not judged.',
  },
} as const satisfies Record<string, { status: number; wireError: string | undefined; when: string }>;

/** The stable error codes; `switch (error.code)` narrows over exactly these. */
export type AuthErrorCode = keyof typeof AUTH_ERRORS;

/** Which authentication scheme a credential belongs to (decides which challenge carries the error). */
export type ChallengeScheme = 'Bearer' | 'ApiKey';

export interface AuthErrorOptions {
  /** For `insufficient_scope`: the scopes the route requires (sent as `scope="…"`). */
  requiredScopes?: readonly string[];
  /** The scheme of the credential that failed, when one was presented. */
  scheme?: ChallengeScheme;
  /** For `too_many_requests`: seconds until the client may try again (sent as `Retry-After`). */
  retryAfter?: number;
  /** Internal cause (never sent to the client). */
  cause?: unknown;
}

/** A request failure with a stable code. Its message is safe to show (fixed text, no token). */
export class AuthError extends Error {
  override readonly name = 'AuthError';
  readonly code: AuthErrorCode;
  readonly status: number;
  readonly description: string;
  readonly requiredScopes: readonly string[] | undefined;
  readonly scheme: ChallengeScheme | undefined;
  /** Seconds until the client may try again (`too_many_requests`); undefined otherwise. */
  readonly retryAfter: number | undefined;
  /**
   * The exact HTTP answer for this error on the route that produced it. Set on every error
   * returned by `Authenticator.authenticate()`; undefined on errors thrown by `verify()`.
   */
  response: ErrorResponse | undefined;

  constructor(code: AuthErrorCode, description: string, options: AuthErrorOptions = {}) {
    super(description, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = AUTH_ERRORS[code].status;
    this.description = description;
    this.requiredScopes = options.requiredScopes;
    this.scheme = options.scheme;
    this.retryAfter = options.retryAfter;
    this.response = undefined;
  }

  /** Headers of the HTTP answer (lets Express' finalhandler send them with `next(err)`). */
  get headers(): Readonly<Record<string, string>> | undefined {
    return this.response?.headers;
  }
}

/** Status, headers and body of an error answer, ready to be written by any framework. */
export interface ErrorResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** What the route accepts, so the `WWW-Authenticate` header offers the right schemes. */
export interface ChallengeOptions {
  readonly realm: string;
  /** RFC 9728 §5.1: the URL of the protected resource metadata, announced on Bearer challenges. */
  readonly resourceMetadata?: string | undefined;
  /** The route accepts access tokens (header, cookie or query): send a `Bearer` challenge. */
  readonly bearer: boolean;
  /** The route accepts API keys: send an `ApiKey` challenge naming where the key goes. */
  readonly apiKey: { readonly header?: string; readonly query?: string; readonly cookie?: string } | undefined;
}

const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';

/**
 * Builds the HTTP answer for an error. The only function in the SDK that writes
 * `WWW-Authenticate` or an error body.
 *
 * Challenges (RFC 9110 §11.6.1 allows several in one field; one field keeps every adapter's bytes
 * identical):
 *   Bearer realm="api", error="invalid_token", error_description="…"        (RFC 6750 §3)
 *   (with `resource_metadata="…"` after the realm when the API publishes RFC 9728 metadata)
 *   ApiKey realm="api", header="X-API-Key", error="…", error_description="…" (Gatehouse)
 * The error attributes go on the challenge of the scheme that was presented; with no credential
 * there are none at all. A 503, 429 or cross-site 403 carries no challenge: nothing was found
 * wrong with the credential (the issuer could not be asked, or was not asked, or the request's
 * origin was refused). A 429 and a 503 say when to come back.
 */
export function toErrorResponse(error: AuthError, options: ChallengeOptions): ErrorResponse {
  const entry = AUTH_ERRORS[error.code];
  const headers: Record<string, string> = { 'content-type': JSON_CONTENT_TYPE };

  if (error.code !== 'temporarily_unavailable' && error.code !== 'too_many_requests' && error.code !== 'cross_site_request') {
    const challenge = buildChallenges(error, options);
    if (challenge !== '') headers['www-authenticate'] = challenge;
  }
  // RFC 9110 §10.2.3: delay-seconds.
  if (error.retryAfter !== undefined) headers['retry-after'] = String(Math.max(1, Math.ceil(error.retryAfter)));

  const body: Record<string, string> = {};
  if (entry.wireError !== undefined) body.error = entry.wireError;
  body.error_description = error.description;
  if (error.code === 'insufficient_scope' && error.requiredScopes !== undefined && error.requiredScopes.length > 0) {
    body.scope = error.requiredScopes.join(' ');
  }
  return { status: entry.status, headers, body: JSON.stringify(body) };
}

function buildChallenges(error: AuthError, options: ChallengeOptions): string {
  const wireError = AUTH_ERRORS[error.code].wireError;
  // RFC 6750 §3: error attributes describe the presented credential; none when nothing was sent.
  const errorScheme: ChallengeScheme | undefined =
    wireError === undefined ? undefined : (error.scheme ?? (options.bearer ? 'Bearer' : 'ApiKey'));
  const errorParams = (): string[] => {
    const params = [`error=${quote(wireError ?? '')}`, `error_description=${quote(error.description)}`];
    if (error.requiredScopes !== undefined && error.requiredScopes.length > 0) {
      params.push(`scope=${quote(error.requiredScopes.join(' '))}`);
    }
    return params;
  };

  const challenges: string[] = [];
  if (options.bearer) {
    const params = [`realm=${quote(options.realm)}`];
    if (options.resourceMetadata !== undefined) params.push(`resource_metadata=${quote(options.resourceMetadata)}`);
    if (errorScheme === 'Bearer') params.push(...errorParams());
    challenges.push(`Bearer ${params.join(', ')}`);
  }
  if (options.apiKey !== undefined) {
    const params = [`realm=${quote(options.realm)}`];
    if (options.apiKey.header !== undefined) params.push(`header=${quote(options.apiKey.header)}`);
    if (options.apiKey.query !== undefined) params.push(`query=${quote(options.apiKey.query)}`);
    if (options.apiKey.cookie !== undefined) params.push(`cookie=${quote(options.apiKey.cookie)}`);
    if (errorScheme === 'ApiKey') params.push(...errorParams());
    challenges.push(`ApiKey ${params.join(', ')}`);
  }
  return challenges.join(', ');
}

/**
 * A quoted-string holding only the characters RFC 6750 §3 allows in `error_description` and
 * `scope` (%x20-21 / %x23-5B / %x5D-7E): no quote, no backslash, no control character, no
 * non-ASCII. Anything else is dropped, so no value can break out of the header or split it.
 */
export function quote(value: string): string {
  return `"${value.replace(/[^\x20\x21\x23-\x5B\x5D-\x7E]/g, '')}"`;
}
