// Pages oidc-provider renders (errors, logout confirmation), in Gatehouse's layout and with
// the same strict security headers as the login pages.
import type { KoaContextWithOIDC } from 'oidc-provider';
import { Html, html } from '../html/escape.ts';
import { originOf, type Layout } from '../html/layout.ts';

export function createProviderPages(layout: Layout) {
function send(ctx: KoaContextWithOIDC, body: string, formTargets: readonly string[] = []): void {
  for (const [name, value] of Object.entries(layout.headers(formTargets))) ctx.set(name, value);
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

/** RP-initiated logout: a confirmation form (oidc-provider supplies the form with its xsrf token). */
async function logoutSource(ctx: KoaContextWithOIDC, form: string): Promise<void> {
  const redirect = originOf(ctx.oidc.params?.post_logout_redirect_uri);
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
