/**
 * What every step of the web-app flow shares: the resolved options, the app as a client of
 * Gatehouse, the cookie sealer, and the checks applied to every access token the app receives.
 */
import type { Principal } from '../principal.ts';
import type { WebAppError, WebAppResponse } from './errors.ts';
import type { ResolvedWebAppOptions } from './options.ts';
import type { IssuerClient } from './issuer-client.ts';
import type { CookieSealer } from './sealed-cookie.ts';
import type { SessionRevocations } from './revocations.ts';

export interface WebAppContext {
  readonly options: ResolvedWebAppOptions;
  readonly issuer: IssuerClient;
  readonly sealer: CookieSealer;
  /** Sessions Gatehouse ended (back-channel logout); undefined when the endpoint is off. */
  readonly revocations: SessionRevocations | undefined;
  /** The answer for a request failure (the configured error page), with these cookies. */
  respond(error: WebAppError, cookies: readonly string[]): WebAppResponse;
  /** Reports a failure that is not the visitor's fault (never with a token in it). */
  report(error: unknown): void;
}

/** The tokens of a session, as sealed in the session cookie. */
export interface SessionTokens {
  /** The user's id (the ID token's and access token's `sub`). */
  readonly sub: string;
  readonly accessToken: string;
  /** When the access token expires, seconds since the epoch (its verified `exp`). */
  readonly accessTokenExpiresAt: number;
  /** Absent when Gatehouse issued none: the session then ends with the access token. */
  readonly refreshToken: string | undefined;
  /** Kept for logout's `id_token_hint` (OpenID Connect RP-Initiated Logout 1.0 §2). */
  readonly idToken: string;
  /** Gatehouse's session id (the ID token's `sid`), which a logout token names. */
  readonly sid: string | undefined;
  /** When the visitor signed in, milliseconds since the epoch (a logout token naming only the user ends sessions begun before it). */
  readonly signedInAt: number;
}

/** A token answer Gatehouse gave but that cannot start or continue a session. */
export class TokenRefused extends Error {
  override readonly name = 'TokenRefused';
}

/**
 * The principal of an access token just received, through the SDK's one verification path
 * (`authenticator.verify`: issuer, audience, algorithms, `typ: at+jwt`, expiry). It must be the
 * user the ID token names: a client token or another user's token never becomes a session.
 */
export async function userPrincipal(context: WebAppContext, accessToken: string, subject: string): Promise<Principal> {
  const principal = await context.options.authenticator.verify(accessToken);
  if (principal.kind !== 'user') throw new TokenRefused('the access token is not a user token');
  if (principal.subject !== subject) throw new TokenRefused('the access token names another user than the ID token');
  return principal;
}

/** The access token's expiry: its verified `exp`, else what the token response said. */
export function expiresAt(principal: Principal, expiresIn: number | undefined, nowMs: number): number {
  if (principal.expiresAt !== undefined) return Math.floor(principal.expiresAt.getTime() / 1000);
  return Math.floor(nowMs / 1000) + (expiresIn ?? 0);
}
