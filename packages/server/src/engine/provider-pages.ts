// Pages oidc-provider renders (errors, logout confirmation), in Gatehouse's layout and with
// the same strict security headers as the login pages.
import { createHash } from 'node:crypto';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { Html, html } from '../html/escape.ts';
import { originOf, type Layout } from '../html/layout.ts';

// The one script a page of ours runs: it submits the sign-out form by itself when there is nothing
// to ask (below). Allowed by its hash alone, on that page alone; without JavaScript the button shows.
const AUTO_SUBMIT = "document.getElementById('op.logoutForm').submit();";
const AUTO_SUBMIT_SOURCE = `'sha256-${createHash('sha256').update(AUTO_SUBMIT).digest('base64')}'`;

/**
 * OpenID Connect RP-Initiated Logout 1.0 §2: the End-User is asked whether to sign out when the
 * `id_token_hint` is missing or is not for the current session. The hint (signature, issuer,
 * audience already checked by oidc-provider) is for the current session when it names the signed-in
 * user, the session holds a sign-in of the hint's client, and it was issued since this session's
 * login (an ID token of an earlier session is older; oidc-provider's ID tokens carry no `sid` here).
 * Then, with a post_logout_redirect_uri oidc-provider checked against the client's registered ones,
 * the relying party's request is the user's: no question.
 */
function logoutNeedsNoQuestion(ctx: KoaContextWithOIDC): boolean {
  const hint = ctx.oidc.entities.IdTokenHint as { payload?: { sub?: unknown; iat?: unknown } } | undefined;
  const { session, client, params } = ctx.oidc;
  if (!hint?.payload || !session?.accountId || !client || typeof params?.post_logout_redirect_uri !== 'string') return false;
  const { sub, iat } = hint.payload;
  return (
    sub === session.accountId &&
    session.authorizations?.[client.clientId] !== undefined &&
    typeof iat === 'number' &&
    typeof session.loginTs === 'number' &&
    iat >= session.loginTs
  );
}

export function createProviderPages(layout: Layout) {
function send(ctx: KoaContextWithOIDC, body: string, formTargets: readonly string[] = [], scriptSource?: string): void {
  for (const [name, value] of Object.entries(layout.headers(formTargets))) ctx.set(name, value);
  if (scriptSource) ctx.set('content-security-policy', `${ctx.response.get('content-security-policy')}; script-src ${scriptSource}`);
  ctx.type = 'html';
  ctx.body = body;
}
const page = (options: Parameters<Layout['page']>[0]) => layout.page(options);

/**
 * Errors shown in the browser. A bad client or redirect_uri ends here: an error page, never a
 * redirect to an unverified URI (RFC 6749 §4.1.2.1). Descriptions of server errors are not shown.
 */
async function renderError(ctx: KoaContextWithOIDC, out: { error: string; error_description?: string }): Promise<void> {
  const description = out.error === 'server_error' ? 'Something went wrong on our side. Please try again.' : out.error_description;
  send(
    ctx,
    page({
      title: 'Sign-in error',
      body: html`<h1>We could not sign you in</h1>
<p>${description ?? 'The request was not valid.'}</p>
<p>Error code: <code>${out.error}</code></p>`,
    }),
  );
}

/** RP-initiated logout: a confirmation form (oidc-provider supplies the form with its xsrf token), or none when nothing needs asking. */
async function logoutSource(ctx: KoaContextWithOIDC, form: string): Promise<void> {
  const redirect = originOf(ctx.oidc.params?.post_logout_redirect_uri);
  if (logoutNeedsNoQuestion(ctx)) {
    send(
      ctx,
      page({
        title: 'Signing out',
        body: html`<h1>Signing you out…</h1>
${new Html(form)}
<input type="hidden" form="op.logoutForm" name="logout" value="yes">
<noscript><button autofocus type="submit" form="op.logoutForm">Continue</button></noscript>
${new Html(`<script>${AUTO_SUBMIT}</script>`)}`,
      }),
      redirect ? [redirect] : [],
      AUTO_SUBMIT_SOURCE,
    );
    return;
  }
  send(
    ctx,
    page({
      title: 'Sign out',
      body: html`<h1>Sign out?</h1>
<p>Do you want to sign out of ${ctx.host}?</p>
${new Html(form)}
<button autofocus type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button>
<button class="secondary" type="submit" form="op.logoutForm">No, stay signed in</button>`,
    }),
    redirect ? [redirect] : [],
  );
}

async function postLogoutSuccessSource(ctx: KoaContextWithOIDC): Promise<void> {
  send(ctx, page({ title: 'Signed out', body: html`<h1>You are signed out</h1><p>You can close this window.</p>` }));
}

return { renderError, logoutSource, postLogoutSuccessSource };
}
