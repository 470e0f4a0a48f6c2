/**
 * The session of a request: the sealed cookie opened, the tokens refreshed when the access token
 * is about to expire, and the access token verified into the `Principal` the rest of the SDK
 * produces. A cookie that cannot continue (tampered, expired, refresh refused) ends the session:
 * the answer clears it and the visitor is treated as signed out.
 */
import type { AuthRequest } from '../credentials.ts';
import type { Principal } from '../principal.ts';
import { TokenRefused, type SessionTokens, type WebAppContext } from './context.ts';
import { WebAppError } from './errors.ts';
import { isUnavailable } from './issuer-client.ts';
import type { Refresher } from './refresh.ts';
import { clearSession, openSession, sealSession } from './session-cookie.ts';

/** A signed-in visitor. */
export interface WebSession {
  /** The user, from the verified access token: the same `Principal` API routes get. */
  readonly principal: Principal;
  /** A current access token for the API (the authenticator's audience), to call it as the user. */
  readonly accessToken: string;
  /** When `accessToken` expires; it is refreshed `refreshSkew` seconds before. */
  readonly expiresAt: Date;
}

export interface SessionLookup {
  readonly session: WebSession | undefined;
  /** `Set-Cookie` values the answer must carry: a refreshed session, or the cleared cookie. */
  readonly cookies: readonly string[];
}

/** Throws `WebAppError('temporarily_unavailable')` only; every other problem ends the session. */
export async function currentSession(context: WebAppContext, refresher: Refresher, request: AuthRequest): Promise<SessionLookup> {
  const { options } = context;
  const ended: SessionLookup = { session: undefined, cookies: [clearSession(context)] };
  const opened = await openSession(context, request);
  if (opened.state === 'none') return { session: undefined, cookies: [] };
  if (opened.state === 'invalid') return ended;
  // Ended at Gatehouse (back-channel logout): over here too, before any token is used or refreshed.
  if (context.revocations?.isRevoked(opened.tokens)) return ended;

  let tokens: SessionTokens = opened.tokens;
  const cookies: string[] = [];
  const nowSec = options.now() / 1000;
  const expired = nowSec >= tokens.accessTokenExpiresAt;

  // Refresh before the access token expires, so no request goes out with a token about to die.
  if (nowSec >= tokens.accessTokenExpiresAt - options.refreshSkew) {
    if (tokens.refreshToken === undefined) {
      if (expired) return ended;
    } else {
      try {
        const result = await refresher.refresh({ ...tokens, refreshToken: tokens.refreshToken });
        if (!result.ok) return ended;
        tokens = result.tokens;
        cookies.push(await sealSession(context, tokens, opened.endsAt));
      } catch (error) {
        context.report(error);
        if (!isUnavailable(error)) return ended;
        // Gatehouse cannot answer: an access token that has not expired yet still serves.
        if (expired) throw new WebAppError('temporarily_unavailable', { cause: error });
      }
    }
  }

  let principal: Principal;
  try {
    principal = await options.authenticator.verify(tokens.accessToken);
    if (principal.kind !== 'user' || principal.subject !== tokens.sub) throw new TokenRefused('the session holds another user\'s token');
  } catch (error) {
    if (isUnavailable(error)) {
      context.report(error);
      throw new WebAppError('temporarily_unavailable', { cause: error });
    }
    // Refused now though accepted when received: keys rotated away, clock moved, app reconfigured.
    return ended;
  }
  return {
    session: Object.freeze({ principal, accessToken: tokens.accessToken, expiresAt: new Date(tokens.accessTokenExpiresAt * 1000) }),
    cookies,
  };
}
