/**
 * Logout ends both sessions:
 *
 *   1. local: the session cookie is cleared by this answer;
 *   2. refresh token: revoked at Gatehouse (RFC 7009 §2.1; Gatehouse then revokes the whole
 *      grant), so a copy of the cookie taken earlier cannot be refreshed. Best effort: a failure
 *      is reported and the logout goes on;
 *   3. Gatehouse's session: the browser is sent to the discovery document's `end_session_endpoint`
 *      (OpenID Connect RP-Initiated Logout 1.0 §2) with `id_token_hint`, `client_id` and the
 *      registered `post_logout_redirect_uri`; Gatehouse asks the user to confirm, then sends the
 *      browser back there. Without a session, or without the endpoint, the browser goes straight
 *      back.
 *
 * The caller has already required POST and a same-origin request: a cross-site page must not be
 * able to sign a visitor out.
 */
import * as oauth from 'oauth4webapi';
import type { AuthRequest } from '../credentials.ts';
import type { WebAppContext } from './context.ts';
import { redirect, type WebAppResponse } from './errors.ts';
import { clearSession, openSession } from './session-cookie.ts';

export async function logout(context: WebAppContext, request: AuthRequest): Promise<WebAppResponse> {
  const { options, issuer } = context;
  // 1. local
  const cookies = [clearSession(context)];
  const opened = await openSession(context, request);
  if (opened.state !== 'open') return redirect(options.postLogoutRedirectUri, cookies);

  let as: oauth.AuthorizationServer;
  try {
    as = await issuer.metadata();
  } catch (error) {
    context.report(error);
    return redirect(options.postLogoutRedirectUri, cookies);
  }
  // 2. refresh token
  const { refreshToken, idToken } = opened.tokens;
  if (refreshToken !== undefined && as.revocation_endpoint !== undefined) {
    try {
      const response = await oauth.revocationRequest(as, issuer.client, issuer.clientAuth, refreshToken, {
        ...issuer.http(),
        additionalParameters: { token_type_hint: 'refresh_token' },
      });
      await oauth.processRevocationResponse(response);
    } catch (error) {
      context.report(error);
    }
  }
  // 3. Gatehouse's session. oauth4webapi has no end-session helper (openid-client builds this URL
  // the same way): the parameters are the spec's, the endpoint the discovery document's.
  if (as.end_session_endpoint === undefined) return redirect(options.postLogoutRedirectUri, cookies);
  const url = new URL(as.end_session_endpoint);
  url.searchParams.set('id_token_hint', idToken);
  url.searchParams.set('client_id', options.clientId);
  url.searchParams.set('post_logout_redirect_uri', options.postLogoutRedirectUri);
  return redirect(url.href, cookies);
}
