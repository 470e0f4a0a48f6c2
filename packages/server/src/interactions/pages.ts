// The login, consent and error pages. Accessible: every input has a label, errors are announced
// (role=alert) and tied to the form, and the pages work without JavaScript.
import { html, page } from './html.ts';

export interface LoginPageInput {
  readonly action: string;
  readonly abortAction: string;
  readonly csrf: string;
  readonly clientName: string;
  readonly username?: string | undefined;
  readonly error?: string | undefined;
}

export function loginPage({ action, abortAction, csrf, clientName, username, error }: LoginPageInput): string {
  return page({
    title: 'Sign in',
    body: html`<h1>Sign in</h1>
<p>to continue to <span class="client">${clientName}</span></p>
<form method="post" action="${action}" novalidate${error ? html` aria-describedby="login-error"` : ''}>
<input type="hidden" name="csrf" value="${csrf}">
<label for="username">Username</label>
<input id="username" name="username" type="text" autocomplete="username" autocapitalize="none" spellcheck="false" required maxlength="254" value="${username ?? ''}"${error ? html` aria-invalid="true"` : ''}${username ? '' : html` autofocus`}>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required maxlength="1024"${error ? html` aria-invalid="true"` : ''}${username ? html` autofocus` : ''}>
${error ? html`<p id="login-error" class="error" role="alert">${error}</p>` : ''}
<button type="submit">Sign in</button>
</form>
<form method="post" action="${abortAction}">
<input type="hidden" name="csrf" value="${csrf}">
<button class="secondary" type="submit">Cancel</button>
</form>`,
  });
}

export interface ConsentPageInput {
  readonly action: string;
  readonly abortAction: string;
  readonly csrf: string;
  readonly clientName: string;
  readonly apis: readonly { name: string; granted: readonly string[]; refused: readonly string[] }[];
  readonly oidcScopes: readonly string[];
}

const OIDC_SCOPE_TEXT: Record<string, string> = {
  openid: 'Know who you are',
  profile: 'See your username',
  email: 'See your email address',
  offline_access: 'Stay signed in when you are away',
};

export function consentPage({ action, abortAction, csrf, clientName, apis, oidcScopes }: ConsentPageInput): string {
  return page({
    title: 'Allow access',
    body: html`<h1>Allow access?</h1>
<p><span class="client">${clientName}</span> asks to:</p>
<ul class="scopes">
${oidcScopes.map((s) => html`<li>${OIDC_SCOPE_TEXT[s] ?? s}</li>`)}
${apis.flatMap((api) => api.granted.map((s) => html`<li>Use <strong>${api.name}</strong> with the scope <code>${s}</code></li>`))}
</ul>
${apis.some((api) => api.refused.length > 0)
  ? html`<p>Some requested access is not part of your roles and will not be given: ${apis.flatMap((api) => api.refused).join(', ')}.</p>`
  : ''}
<form method="post" action="${action}">
<input type="hidden" name="csrf" value="${csrf}">
<button type="submit">Allow</button>
</form>
<form method="post" action="${abortAction}">
<input type="hidden" name="csrf" value="${csrf}">
<button class="secondary" type="submit">Deny</button>
</form>`,
  });
}

export function messagePage(title: string, message: string): string {
  return page({ title, body: html`<h1>${title}</h1><p>${message}</p>` });
}
