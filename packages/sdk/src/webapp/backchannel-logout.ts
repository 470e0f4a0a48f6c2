/**
 * The back-channel logout endpoint (OpenID Connect Back-Channel Logout 1.0): Gatehouse POSTs a
 * logout token when the visitor's session there ends, and the app ends its own sessions for it.
 * The token is validated as §2.6 says, with jose:
 *
 *   1. the request: a form (`application/x-www-form-urlencoded`) with exactly one `logout_token`;
 *   2. the JWT: signed by the issuer (its JWKS, from discovery; the issuer's ID-token algorithms,
 *      never `none`), `iss` the issuer, `aud` this app's client id, `iat` present and recent
 *      (`MAX_TOKEN_AGE`), `exp` honoured when present; `typ` `logout+jwt` (§2.4's explicit type)
 *      or a plain JWT (no `typ`, or `JWT`), nothing else: an ID token or access token is not a
 *      logout token;
 *   3. `events` holds `http://schemas.openid.net/event/backchannel-logout` as a JSON object;
 *   4. `sid`, `sub` or both;
 *   5. no `nonce` (which would make it an ID token);
 *   6. `jti` present and never seen before (a replay is refused).
 *
 * Then sessions end: by `sid` when the token names one (the visitor's browser sessions through
 * that Gatehouse session), else every session of `sub` (revocations.ts). The answer is 200, or
 * 400 `{"error":"invalid_request"}` (§2.8), never cached.
 */
import { createRemoteJWKSet, customFetch, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import type { WebAppContext } from './context.ts';
import type { WebAppResponse } from './errors.ts';
import type { SeenTokenIds, SessionRevocations } from './revocations.ts';

export const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';
/** A logout token older than this is refused; the replay cache keeps each `jti` this long. */
export const MAX_TOKEN_AGE_SECONDS = 300;
/** Clock difference tolerated between Gatehouse and the app. */
const CLOCK_TOLERANCE_SECONDS = 30;
/** A form larger than this is not a logout token (Gatehouse's are well under 2 KiB). */
export const MAX_LOGOUT_REQUEST_BYTES = 16 * 1024;
const ACCEPTED_TYPES = new Set([undefined, 'jwt', 'logout+jwt', 'application/logout+jwt']);

/** Why a logout token was refused. Not reported to `onError` (anyone can POST junk) nor told to the sender. */
export class LogoutTokenRefused extends Error {
  override readonly name = 'LogoutTokenRefused';
}

export interface BackchannelParts {
  readonly context: WebAppContext;
  readonly revocations: SessionRevocations;
  readonly seen: SeenTokenIds;
}

export class BackchannelLogout {
  readonly #parts: BackchannelParts;
  #keys: ReturnType<typeof createRemoteJWKSet> | undefined;

  constructor(parts: BackchannelParts) {
    this.#parts = parts;
  }

  /** Answers one POST to the endpoint: `body` is the raw request body. */
  async handle(body: string, contentType: string | undefined): Promise<WebAppResponse> {
    let claims: JWTPayload;
    try {
      const token = logoutTokenOf(body, contentType);
      claims = await this.#verify(token);
    } catch (error) {
      // The issuer being unreachable is the app's problem to know about; a bad token is the sender's.
      if (!(error instanceof LogoutTokenRefused) && !(error instanceof joseErrors.JOSEError)) this.#parts.context.report(error);
      return refused();
    }
    const { revocations } = this.#parts;
    if (typeof claims.sid === 'string') {
      revocations.revokeSid(claims.sid);
      // A session that recorded no sid is matched by the user the token also names.
      if (typeof claims.sub === 'string') revocations.revokeSub(claims.sub, { sidless: true });
    } else {
      revocations.revokeSub(claims.sub!);
    }
    return { status: 200, headers: { 'cache-control': 'no-store' }, cookies: [], body: '' };
  }

  async #verify(token: string): Promise<JWTPayload> {
    const { options, issuer } = this.#parts.context;
    const as = await issuer.metadata();
    if (typeof as.jwks_uri !== 'string') throw new Error('the issuer publishes no jwks_uri: logout tokens cannot be verified');
    this.#keys ??= createRemoteJWKSet(new URL(as.jwks_uri), {
      timeoutDuration: options.timeoutMs,
      [customFetch]: options.fetch as typeof fetch,
    });
    const algorithms = (as.id_token_signing_alg_values_supported ?? ['RS256']).filter((alg) => alg !== 'none' && !alg.startsWith('HS'));
    const { payload, protectedHeader } = await jwtVerify(token, this.#keys, {
      issuer: options.issuer,
      audience: options.clientId,
      algorithms,
      requiredClaims: ['iat', 'jti'],
      maxTokenAge: MAX_TOKEN_AGE_SECONDS,
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
      currentDate: new Date(options.now()),
    });
    if (!ACCEPTED_TYPES.has(protectedHeader.typ?.toLowerCase())) throw new LogoutTokenRefused(`typ ${protectedHeader.typ} is not a logout token's`);
    const events = payload.events as Record<string, unknown> | undefined;
    const event = events !== null && typeof events === 'object' ? events[BACKCHANNEL_LOGOUT_EVENT] : undefined;
    if (event === null || typeof event !== 'object' || Array.isArray(event)) throw new LogoutTokenRefused('events holds no back-channel logout event');
    const sid = payload.sid;
    const sub = payload.sub;
    if (sid !== undefined && (typeof sid !== 'string' || sid === '')) throw new LogoutTokenRefused('sid must be a string');
    if (sub !== undefined && (typeof sub !== 'string' || sub === '')) throw new LogoutTokenRefused('sub must be a string');
    if (sid === undefined && sub === undefined) throw new LogoutTokenRefused('the token names neither a session (sid) nor a user (sub)');
    if ('nonce' in payload) throw new LogoutTokenRefused('a logout token carries no nonce');
    if (typeof payload.jti !== 'string' || payload.jti === '') throw new LogoutTokenRefused('jti must be a string');
    // Last, once the token is known to be genuine: a forged token must not use up a jti.
    if (!this.#parts.seen.firstUse(`${payload.iss}\u0000${payload.jti}`)) throw new LogoutTokenRefused('this logout token was already used');
    return payload;
  }
}

function logoutTokenOf(body: string, contentType: string | undefined): string {
  const type = contentType?.split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') throw new LogoutTokenRefused('expected a form (application/x-www-form-urlencoded)');
  if (body.length > MAX_LOGOUT_REQUEST_BYTES) throw new LogoutTokenRefused('the request is too large');
  const tokens = new URLSearchParams(body).getAll('logout_token');
  if (tokens.length !== 1 || tokens[0] === '') throw new LogoutTokenRefused('expected exactly one logout_token');
  return tokens[0]!;
}

/** §2.8: 400, with an error code a sender can log; nothing about why (no oracle for forgers). */
function refused(): WebAppResponse {
  return {
    status: 400,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
    cookies: [],
    body: JSON.stringify({ error: 'invalid_request', error_description: 'the logout token is not valid' }),
  };
}
