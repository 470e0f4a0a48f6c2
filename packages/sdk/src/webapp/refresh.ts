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
    let answer: oauth.TokenEndpointResponse;
    try {
      const response = await oauth.refreshTokenGrantRequest(as, issuer.client, issuer.clientAuth, tokens.refreshToken, {
        ...issuer.http(),
        // RFC 8707 §2.2: the API the new access token is for, as in the authorization request.
        additionalParameters: { resource: options.audience },
      });
      answer = await oauth.processRefreshTokenResponse(as, issuer.client, response);
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
      },
    };
  }
}
