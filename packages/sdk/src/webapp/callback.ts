/**
 * The callback (the redirect URI): Gatehouse sends the browser back with a code, which becomes a
 * session. Each check is oauth4webapi's except the last one, which is the SDK's own verifier:
 *
 *   1. transaction: the sealed sign-in cookie this browser got when the sign-in started; it is
 *      cleared by this answer (unless Gatehouse could not be reached), so a callback works at most
 *      once per sign-in;
 *   2. response: `state` equals the cookie's (RFC 6749 §10.12), `iss` equals the issuer
 *      (RFC 9207 §2.4; Gatehouse advertises `authorization_response_iss_parameter_supported`), no
 *      `error` (RFC 6749 §4.1.2.1);
 *   3. exchange: the code with the PKCE verifier (RFC 7636 §4.5) and client authentication at the
 *      token endpoint; a used code is `invalid_grant` (RFC 6749 §4.1.2);
 *   4. ID token: required; `iss`, `aud`, `azp`, `exp`, `iat` and the cookie's `nonce`
 *      (OpenID Connect Core §3.1.3.7; received straight from the token endpoint, whose TLS
 *      stands in for the signature check, item 6);
 *   5. access token: verified by the authenticator, a user token for the ID token's subject.
 */
import * as oauth from 'oauth4webapi';
import type { AuthRequest } from '../credentials.ts';
import { expiresAt, userPrincipal, type WebAppContext } from './context.ts';
import { readCookie } from './cookies.ts';
import { redirect, WebAppError, type WebAppResponse } from './errors.ts';
import { isUnavailable } from './issuer-client.ts';
import { clearLoginCookie, toTransaction } from './login.ts';
import { sealSession } from './session-cookie.ts';

export async function finishLogin(context: WebAppContext, request: AuthRequest): Promise<WebAppResponse> {
  const { options, issuer, sealer } = context;
  const cleared = [clearLoginCookie(context)];
  const fail = (code: WebAppError['code'], cause?: unknown, cookies = cleared): WebAppResponse => context.respond(new WebAppError(code, { cause }), cookies);

  // 1. transaction
  const loginCookie = readCookie(request, options.cookies.login);
  const transaction = typeof loginCookie === 'string' ? toTransaction(await sealer.open('login', loginCookie)) : undefined;
  if (transaction === undefined) return fail('invalid_callback');

  try {
    const as = await issuer.metadata();
    // 2. response
    let parameters: URLSearchParams;
    try {
      parameters = oauth.validateAuthResponse(as, issuer.client, new URL(request.url, options.origin), transaction.state);
    } catch (error) {
      // Gatehouse's own refusal (access_denied…) is a failed sign-in; anything else is a callback
      // that does not belong here.
      return fail(error instanceof oauth.AuthorizationResponseError ? 'login_failed' : 'invalid_callback', error);
    }
    // 3. exchange
    const response = await oauth.authorizationCodeGrantRequest(
      as,
      issuer.client,
      issuer.clientAuth,
      parameters,
      options.redirectUri,
      transaction.codeVerifier,
      issuer.http(),
    );
    // 4. ID token
    const tokens = await oauth.processAuthorizationCodeResponse(as, issuer.client, response, {
      expectedNonce: transaction.nonce,
      requireIdToken: true,
    });
    const idClaims = oauth.getValidatedIdTokenClaims(tokens)!;
    // 5. access token
    const principal = await userPrincipal(context, tokens.access_token, idClaims.sub);

    const nowMs = options.now();
    const sessionCookie = await sealSession(
      context,
      {
        sub: principal.subject,
        accessToken: tokens.access_token,
        accessTokenExpiresAt: expiresAt(principal, tokens.expires_in, nowMs),
        refreshToken: tokens.refresh_token,
        idToken: tokens.id_token!,
        // Back-Channel Logout §2.4: the session a logout token will name.
        sid: typeof idClaims.sid === 'string' ? idClaims.sid : undefined,
        signedInAt: nowMs,
      },
      Math.floor(nowMs / 1000) + options.sessionMaxAge,
      Math.floor(nowMs / 1000),
    );
    return redirect(new URL(transaction.returnTo, options.origin).href, [...cleared, sessionCookie]);
  } catch (error) {
    if (isUnavailable(error)) {
      context.report(error);
      // The sign-in cookie is kept: reloading the callback once Gatehouse answers may still work.
      return fail('temporarily_unavailable', error, []);
    }
    // A refusal (a replayed code is invalid_grant), a failed ID-token check, an access token the
    // authenticator refuses, an oversized cookie: the sign-in is over. The last three point at a
    // misconfiguration, so the app is told.
    if (!(error instanceof oauth.ResponseBodyError && error.error === 'invalid_grant')) context.report(error);
    return fail('login_failed', error);
  }
}
