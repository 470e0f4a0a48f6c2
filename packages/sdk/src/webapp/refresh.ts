/**
 * Refreshing a session's tokens (RFC 6749 §6) through oauth4webapi, once per refresh token.
 *
 * Single flight: a page with several concurrent requests (frames, assets behind the session,
 * parallel fetches) sends the same cookie on each, so each wants to refresh the same refresh
 * token. They share one call, keyed by the refresh token, and all get its result. Across
 * processes (several app instances) Gatehouse's reuse grace window does the same job: for a few
 * seconds after a rotation, presenting the old refresh token again returns the same successor.
 *
 * Rotation: Gatehouse issues a new refresh token with every refresh and revokes the grant when a
 * rotated one is used past the grace window (RFC 9700 §4.14.2), so the new one is what the
 * session keeps; the old one is kept only if the answer has none.
 *
 * A lost answer (the connection failed or timed out, or a proxy says Gatehouse did not answer)
 * may hide a rotation Gatehouse committed: the only token the session holds is then the rotated
 * one. The same request is sent again at once, once: inside the grace window Gatehouse answers it
 * with the same successor. If that fails too, the session keeps its token, and a later retry still
 * gets the successor as long as it was never used (Gatehouse's retry window for confidential
 * clients, GATEHOUSE_REFRESH_TOKEN_RETRY_WINDOW). A refusal or a 503 is not retried: Gatehouse
 * answered, and committed nothing.
 */
import * as oauth from 'oauth4webapi';
import { expiresAt, TokenRefused, userPrincipal, type SessionTokens, type WebAppContext } from './context.ts';

export type RefreshResult =
  | { readonly ok: true; readonly tokens: SessionTokens }
  /** Gatehouse no longer honours the refresh token (revoked, expired, reused, user disabled). */
  | { readonly ok: false };

export class Refresher {
  readonly #context: WebAppContext;
  readonly #inflight = new Map<string, Promise<RefreshResult>>();

  constructor(context: WebAppContext) {
    this.#context = context;
  }

  /**
   * New tokens for a session that has a refresh token. Rejects only when Gatehouse could not
   * answer (the session may still be good); a refusal resolves to `{ ok: false }`.
   */
  refresh(tokens: SessionTokens & { refreshToken: string }): Promise<RefreshResult> {
    const key = tokens.refreshToken;
    let flight = this.#inflight.get(key);
    if (flight === undefined) {
      flight = this.#refresh(tokens).finally(() => this.#inflight.delete(key));
      this.#inflight.set(key, flight);
    }
    return flight;
  }

  async #refresh(tokens: SessionTokens & { refreshToken: string }): Promise<RefreshResult> {
    const { options, issuer } = this.#context;
    const as = await issuer.metadata();
    const attempt = async () => {
      const response = await oauth.refreshTokenGrantRequest(as, issuer.client, issuer.clientAuth, tokens.refreshToken, {
        ...issuer.http(),
        // RFC 8707 §2.2: the API the new access token is for, as in the authorization request.
        additionalParameters: { resource: options.audience },
      });
      return oauth.processRefreshTokenResponse(as, issuer.client, response);
    };
    let answer: oauth.TokenEndpointResponse;
    try {
      answer = await attempt().catch((error: unknown) => {
        if (!answerLost(error)) throw error;
        this.#context.report(error);
        return attempt();
      });
    } catch (error) {
      if (error instanceof oauth.ResponseBodyError && error.error === 'invalid_grant') return { ok: false };
      throw error;
    }
    // A new ID token, when sent, must name the same user (OpenID Connect Core §12.2).
    const idClaims = oauth.getValidatedIdTokenClaims(answer);
    if (idClaims !== undefined && idClaims.sub !== tokens.sub) throw new TokenRefused('the refreshed ID token names another user');
    const principal = await userPrincipal(this.#context, answer.access_token, tokens.sub);
    return {
      ok: true,
      tokens: {
        sub: tokens.sub,
        accessToken: answer.access_token,
        accessTokenExpiresAt: expiresAt(principal, answer.expires_in, options.now()),
        refreshToken: answer.refresh_token ?? tokens.refreshToken,
        idToken: answer.id_token ?? tokens.idToken,
        // The same sign-in: the session id and sign-in time stay.
        sid: tokens.sid,
        signedInAt: tokens.signedInAt,
      },
    };
  }
}

/**
 * Whether Gatehouse may have processed the request without its answer arriving: the connection
 * failed (fetch's TypeError) or timed out, or a gateway answered 502/504 for it.
 */
function answerLost(error: unknown): boolean {
  if (error instanceof DOMException) return error.name === 'TimeoutError';
  if (error instanceof TypeError) return true;
  const status =
    error instanceof oauth.ResponseBodyError || error instanceof oauth.WWWAuthenticateChallengeError
      ? error.status
      : error instanceof oauth.OperationProcessingError && error.cause instanceof Response
        ? error.cause.status
        : undefined;
  return status === 502 || status === 504;
}
