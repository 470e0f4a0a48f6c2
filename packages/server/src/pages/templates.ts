// Every page the server renders for people: login, consent, the second factor, registration,
// email verification, password reset and the account pages. Accessible: every input has a label,
// hints and errors are tied to their field (aria-describedby, aria-invalid), a form's error is
// announced (role=alert), and the pages work without JavaScript, on a phone as on a desktop.
import { MIN_PASSWORD_LENGTH } from '../passwords/hash.ts';
import { Html, html } from '../html/escape.ts';
import { PASSKEY_SCRIPT_PATH, type Layout } from '../html/layout.ts';

export interface FieldSpec {
  readonly name: string;
  readonly label: string;
  readonly type?: 'text' | 'password' | 'email';
  readonly autocomplete: string;
  readonly value?: string | undefined;
  readonly error?: string | undefined;
  readonly hint?: string | undefined;
  readonly maxlength?: number;
  readonly autofocus?: boolean;
  readonly numeric?: boolean;
}

/** A labelled input with its hint and error tied to it. */
function field(f: FieldSpec): Html {
  const describedBy = [f.hint ? `${f.name}-hint` : '', f.error ? `${f.name}-error` : ''].filter(Boolean).join(' ');
  const plainText = f.type === undefined || f.type === 'text';
  return html`<label for="${f.name}">${f.label}</label>
<input id="${f.name}" name="${f.name}" type="${f.type ?? 'text'}" autocomplete="${f.autocomplete}" required${f.autocomplete === 'new-password' ? html` minlength="${String(MIN_PASSWORD_LENGTH)}"` : ''} maxlength="${f.maxlength ?? 254}"${plainText ? html` autocapitalize="none" spellcheck="false"` : ''}${f.numeric ? html` inputmode="numeric"` : ''}${f.value !== undefined && f.type !== 'password' ? html` value="${f.value}"` : ''}${describedBy ? html` aria-describedby="${describedBy}"` : ''}${f.error ? html` aria-invalid="true"` : ''}${f.autofocus ? html` autofocus` : ''}>
${f.hint ? html`<p id="${f.name}-hint" class="hint">${f.hint}</p>` : ''}
${f.error ? html`<p id="${f.name}-error" class="field-error">${f.error}</p>` : ''}`;
}

/** Fields, autofocusing the first one with an error (or the first one). */
function fields(specs: readonly FieldSpec[]): Html[] {
  const focus = specs.findIndex((s) => s.error) >= 0 ? specs.findIndex((s) => s.error) : 0;
  return specs.map((s, i) => field({ ...s, autofocus: i === focus }));
}

function formError(error: string | undefined): Html | string {
  return error ? html`<p id="form-error" class="error" role="alert">${error}</p>` : '';
}

/** When fields have errors, one announcement for the form (the details are on each field). */
function fieldErrorSummary(errors: Readonly<Record<string, string | undefined>>): Html | string {
  const count = Object.values(errors).filter(Boolean).length;
  if (count === 0) return '';
  return html`<p class="error" role="alert">${count === 1 ? 'Please correct the field marked below.' : `Please correct the ${count} fields marked below.`}</p>`;
}

const hidden = (name: string, value: string) => html`<input type="hidden" name="${name}" value="${value}">`;

/** The passkey script (a file of this server: the CSP allows no inline code). */
const passkeyScript = () => html`<script type="module" src="${PASSKEY_SCRIPT_PATH}"></script>`;

/** The fields the passkey script fills in after the ceremony, and where it says what went wrong. */
const passkeyFields = () => html`<input type="hidden" name="state" value="">
<input type="hidden" name="response" value="">
<p class="error" role="alert" data-passkey-error hidden></p>`;

/** "2026-12-04 21:47 UTC": a date people read, the same on every server. */
const when = (isoTime: string | null) => (isoTime === null ? 'never' : `${isoTime.slice(0, 16).replace('T', ' ')} UTC`);

export interface PasskeyItem {
  readonly id: string;
  readonly name: string;
  readonly createdAt: string;
  readonly lastUsedAt: string | null;
}

export const PASSWORD_HINT = `At least ${MIN_PASSWORD_LENGTH} characters, and not one of the common passwords attackers try first. A few unrelated words make a strong password.`;

export interface LoginPageInput {
  readonly action: string;
  readonly abortAction: string;
  readonly csrf: string;
  readonly clientName: string;
  /** The host of the metadata document describing the client, when one does. */
  readonly publisher?: string | undefined;
  /** Where the client answers (its redirect URI's host): where Cancel, too, sends the browser. */
  readonly destination: string;
  readonly username?: string | undefined;
  readonly error?: string | undefined;
  readonly notice?: string | undefined;
  readonly forgotPasswordUrl?: string | undefined;
  readonly registerUrl?: string | undefined;
  /** Where the passkey sign-in posts its options request and its assertion. */
  readonly passkey?: { readonly action: string; readonly optionsAction: string } | undefined;
  /** The upstream identity providers offered (ADR 0017): a link each. */
  readonly upstream?: readonly { readonly name: string; readonly href: string }[] | undefined;
}

export interface ConsentPageInput {
  readonly action: string;
  readonly abortAction: string;
  readonly csrf: string;
  readonly clientName: string;
  /**
   * Where the answer goes (the redirect URI's host, or its scheme for an app's own scheme): a
   * client name is the client's own choice (dynamically registered clients pick theirs), the host
   * is not, so the person can tell an app from one posing as it (RFC 6819 §4.2.3).
   */
  readonly destination: string;
  /** The host that published the client's metadata document, for such a client: who it really is. */
  readonly publisher?: string | undefined;
  readonly apis: readonly { name: string; granted: readonly string[]; refused: readonly string[] }[];
  readonly oidcScopes: readonly string[];
}

const OIDC_SCOPE_TEXT: Record<string, string> = {
  openid: 'Know who you are',
  profile: 'See your username',
  email: 'See your email address',
  offline_access: 'Stay signed in when you are away',
};

export interface FormPage {
  readonly action: string;
  readonly csrf?: string | undefined;
}

export interface AccountView {
  readonly username: string;
  readonly email: string | null;
  readonly emailVerified: boolean;
  readonly twoFactor: boolean;
  readonly recoveryCodesLeft: number;
  readonly passkeys: number;
}

export class Pages {
  readonly #layout: Layout;
  constructor(layout: Layout) {
    this.#layout = layout;
  }

  get brandName(): string {
    return this.#layout.brand.name;
  }

  login({ action, abortAction, csrf, clientName, publisher, destination, username, error, notice, forgotPasswordUrl, registerUrl, passkey, upstream }: LoginPageInput): string {
    return this.#layout.page({
      title: 'Sign in',
      body: html`<h1>Sign in</h1>
<p>to continue to <span class="client">${clientName}</span> ${clientWhereabouts(publisher, destination)}</p>
${notice ? html`<p class="notice" role="status">${notice}</p>` : ''}
<form method="post" action="${action}" novalidate${error ? html` aria-describedby="login-error"` : ''}>
<input type="hidden" name="csrf" value="${csrf}">
<label for="username">Username</label>
<input id="username" name="username" type="text" autocomplete="${passkey ? 'username webauthn' : 'username'}" autocapitalize="none" spellcheck="false" required maxlength="254" value="${username ?? ''}"${error ? html` aria-invalid="true" aria-describedby="login-error"` : ''}${username ? '' : html` autofocus`}>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required maxlength="1024"${error ? html` aria-invalid="true" aria-describedby="login-error"` : ''}${username ? html` autofocus` : ''}>
${error ? html`<p id="login-error" class="error" role="alert">${error}</p>` : ''}
<button type="submit">Sign in</button>
</form>
${passkey
  ? html`<form method="post" action="${passkey.action}" data-passkey="sign-in" data-options="${passkey.optionsAction}" hidden>
${hidden('csrf', csrf)}
${passkeyFields()}
<button class="secondary" type="submit">Sign in with a passkey</button>
</form>
${passkeyScript()}`
  : ''}
${upstream && upstream.length > 0
  ? html`<ul class="upstream" aria-label="Other ways to sign in">${upstream.map((provider) => html`<li><a class="button secondary" href="${provider.href}">Sign in with ${provider.name}</a></li>`)}</ul>`
  : ''}
${forgotPasswordUrl || registerUrl
  ? html`<p class="links">${forgotPasswordUrl ? html`<a href="${forgotPasswordUrl}">Forgot your password?</a>` : ''}${registerUrl ? html`<a href="${registerUrl}">Create an account</a>` : ''}</p>`
  : ''}
<form method="post" action="${abortAction}">
<input type="hidden" name="csrf" value="${csrf}">
<button class="secondary" type="submit">Cancel</button>
</form>`,
    });
  }

  /** A page that goes on by itself: ends a redirect chain another site's form began (see pages/upstream.ts). */
  continuing(target: string, providerName: string): string {
    return this.#layout.page({
      title: 'Signing in',
      continueTo: target,
      body: html`<h1>Signing in</h1>
<p>Back from ${providerName}. <a href="${target}">Continue</a></p>`,
    });
  }

  upstreamLink({ action, csrf, proposal, providerName, email, username, error }: { action: string; csrf: string; proposal: string; providerName: string; email: string; username: string; error?: string | undefined }): string {
    return this.#layout.page({
      title: 'Link your account',
      body: html`<h1>Link your account</h1>
<p>An account here, <span class="client">${username}</span>, has the email address ${email} that ${providerName} confirmed. Enter its password to sign in with ${providerName} from now on.</p>
<form method="post" action="${action}" novalidate>
${hidden('csrf', csrf)}
${hidden('proposal', proposal)}
<input type="text" name="username" value="${username}" autocomplete="username" hidden>
${fields([{ name: 'password', label: 'Password of the account', type: 'password', autocomplete: 'current-password', maxlength: 1024, error }])}
<button type="submit">Link and sign in</button>
</form>`,
    });
  }

  secondFactor({ action, abortAction, csrf, pending, error }: { action: string; abortAction: string; csrf: string; pending: string; error?: string | undefined }): string {
    return this.#layout.page({
      title: 'Two-factor authentication',
      body: html`<h1>Two-factor authentication</h1>
<p>Open your authenticator app and enter the code it shows for this account.</p>
<form method="post" action="${action}" novalidate>
${hidden('csrf', csrf)}
${hidden('pending', pending)}
${field({ name: 'code', label: 'Authentication code', autocomplete: 'one-time-code', maxlength: 24, numeric: true, autofocus: true, error, hint: 'The 6-digit code, or one of your recovery codes if you lost your device.' })}
<button type="submit">Verify</button>
</form>
<form method="post" action="${abortAction}">
${hidden('csrf', csrf)}
<button class="secondary" type="submit">Cancel</button>
</form>`,
    });
  }

  unverified({ action, csrf, pending, sent }: { action: string; csrf: string; pending: string; sent: boolean }): string {
    return this.#layout.page({
      title: 'Verify your email',
      body: html`<h1>Verify your email address</h1>
<p>Before you can sign in, open the link we sent to your email address when you created the account.</p>
${sent ? html`<p class="notice" role="status">We sent a new link. It may take a minute to arrive; check your spam folder too.</p>` : ''}
<form method="post" action="${action}">
${hidden('csrf', csrf)}
${hidden('pending', pending)}
<button type="submit">Send the link again</button>
</form>`,
    });
  }

  consent({ action, abortAction, csrf, clientName, publisher, destination, apis, oidcScopes }: ConsentPageInput): string {
    return this.#layout.page({
      title: 'Allow access',
      body: html`<h1>Allow access?</h1>
<p><span class="client">${clientName}</span> ${clientWhereabouts(publisher, destination)} asks to:</p>
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

  message(title: string, message: string, link?: { href: string; text: string }): string {
    return this.#layout.page({
      title,
      body: html`<h1>${title}</h1><p>${message}</p>${link ? html`<p><a href="${link.href}">${link.text}</a></p>` : ''}`,
    });
  }

  register({ action, csrf, values, errors, error, signInUrl }: FormPage & { values: { username?: string; email?: string }; errors: Record<string, string | undefined>; error?: string | undefined; signInUrl?: string | undefined }): string {
    return this.#layout.page({
      title: 'Create an account',
      body: html`<h1>Create an account</h1>
<p>You will get an email to confirm your address.</p>
<form method="post" action="${action}" novalidate>
${csrf ? hidden('csrf', csrf) : ''}
${fieldErrorSummary(errors)}${formError(error)}
${fields([
  { name: 'username', label: 'Username', autocomplete: 'username', value: values.username, error: errors.username, hint: 'Letters, digits, dots, dashes, underscores or @.', maxlength: 64 },
  { name: 'email', label: 'Email address', type: 'email', autocomplete: 'email', value: values.email, error: errors.email },
  { name: 'password', label: 'Password', type: 'password', autocomplete: 'new-password', error: errors.password, hint: PASSWORD_HINT, maxlength: 1024 },
])}
<button type="submit">Create account</button>
</form>
${signInUrl ? html`<p class="links"><a href="${signInUrl}">I already have an account</a></p>` : ''}`,
    });
  }

  verifyEmail({ action, token }: { action: string; token: string }): string {
    return this.#layout.page({
      title: 'Verify your email',
      body: html`<h1>Verify your email address</h1>
<p>Confirm that this address is yours.</p>
<form method="post" action="${action}">
${hidden('token', token)}
<button type="submit" autofocus>Verify my email address</button>
</form>`,
    });
  }

  forgotPassword({ action, csrf, email, errors, signInUrl }: FormPage & { email?: string | undefined; errors: Record<string, string | undefined>; signInUrl?: string | undefined }): string {
    return this.#layout.page({
      title: 'Reset your password',
      body: html`<h1>Reset your password</h1>
<p>Enter the email address of your account and we will send you a link to choose a new password.</p>
<form method="post" action="${action}" novalidate>
${csrf ? hidden('csrf', csrf) : ''}
${fieldErrorSummary(errors)}
${fields([{ name: 'email', label: 'Email address', type: 'email', autocomplete: 'email', value: email, error: errors.email }])}
<button type="submit">Send the link</button>
</form>
${signInUrl ? html`<p class="links"><a href="${signInUrl}">Back to sign in</a></p>` : ''}`,
    });
  }

  resetPassword({ action, token, username, errors }: { action: string; token: string; username: string; errors: Record<string, string | undefined> }): string {
    return this.#layout.page({
      title: 'Choose a new password',
      body: html`<h1>Choose a new password</h1>
<p>for <span class="client">${username}</span>. You will be signed out everywhere else.</p>
<form method="post" action="${action}" novalidate>
${hidden('token', token)}
<input type="text" name="username" value="${username}" autocomplete="username" hidden>
${fieldErrorSummary(errors)}
${fields([
  { name: 'password', label: 'New password', type: 'password', autocomplete: 'new-password', error: errors.password, hint: PASSWORD_HINT, maxlength: 1024 },
  { name: 'confirm', label: 'Repeat the new password', type: 'password', autocomplete: 'new-password', error: errors.confirm, maxlength: 1024 },
])}
<button type="submit">Change password</button>
</form>`,
    });
  }

  account({
    view,
    notice,
    error,
    signOutUrl,
    links,
    identities = [],
    removeIdentityAction,
    csrf,
  }: {
    view: AccountView;
    notice?: string | undefined;
    error?: string | undefined;
    signOutUrl: string;
    links: { password: string; twoFactor: string; passkeys: string };
    identities?: readonly { id: string; provider: string; email: string | null; linkedAt: string; lastUsedAt: string | null }[];
    removeIdentityAction?: string;
    csrf?: string;
  }): string {
    return this.#layout.page({
      title: 'Your account',
      body: html`<h1>Your account</h1>
${notice ? html`<p class="notice" role="status">${notice}</p>` : ''}
<dl class="account">
<dt>Username</dt><dd>${view.username}</dd>
<dt>Email</dt><dd>${view.email ?? 'none'}${view.email ? (view.emailVerified ? ' (verified)' : ' (not verified)') : ''}</dd>
<dt>Two-factor</dt><dd>${view.twoFactor ? `On, ${view.recoveryCodesLeft} recovery code(s) left` : 'Off'}</dd>
<dt>Passkeys</dt><dd>${view.passkeys === 0 ? 'None' : String(view.passkeys)}</dd>
</dl>
${formError(error)}
${identities.length > 0 && removeIdentityAction && csrf
  ? html`<h2>Other accounts you sign in with</h2>
<ul class="passkeys identities">${identities.map(
      (identity) => html`<li><strong class="passkey-name">${identity.provider}</strong><span class="hint">${identity.email ?? 'no email'}, linked ${when(identity.linkedAt)}, last used ${when(identity.lastUsedAt)}</span>
<form method="post" action="${removeIdentityAction}">
${hidden('csrf', csrf)}
${hidden('id', identity.id)}
<button class="secondary" type="submit" aria-label="Unlink ${identity.provider}">Unlink</button>
</form></li>`,
    )}</ul>`
  : ''}
<nav class="account" aria-label="Account settings">
<a href="${links.password}">Change your password</a>
<a href="${links.twoFactor}">${view.twoFactor ? 'Manage two-factor authentication' : 'Set up two-factor authentication'}</a>
<a href="${links.passkeys}">${view.passkeys === 0 ? 'Add a passkey' : 'Manage your passkeys'}</a>
<a href="${signOutUrl}">Sign out</a>
</nav>`,
    });
  }

  passkeys({ action, optionsAction, removeAction, csrf, username, askPassword, passkeys, notice, error, backUrl }: Required<FormPage> & { optionsAction: string; removeAction: string; username: string; askPassword: boolean; passkeys: readonly PasskeyItem[]; notice?: string | undefined; error?: string | undefined; backUrl: string }): string {
    return this.#layout.page({
      title: 'Passkeys',
      body: html`<h1>Passkeys</h1>
<p>A passkey signs you in with your device's screen lock or a security key, without a password or a code.</p>
${notice ? html`<p class="notice" role="status">${notice}</p>` : ''}
${formError(error)}
${passkeys.length === 0
  ? html`<p>You have no passkey yet.</p>`
  : html`<ul class="passkeys">${passkeys.map(
      (p) => html`<li><strong class="passkey-name">${p.name}</strong><span class="hint">Added ${when(p.createdAt)}, last used ${when(p.lastUsedAt)}</span>
<form method="post" action="${removeAction}">
${hidden('csrf', csrf)}
${hidden('id', p.id)}
<button class="secondary" type="submit" aria-label="Remove the passkey ${p.name}">Remove</button>
</form></li>`,
    )}</ul>`}
<h2>Add a passkey</h2>
<noscript><p>Adding a passkey needs JavaScript: your browser and the server talk to your device.</p></noscript>
<form method="post" action="${action}" data-passkey="enrol" data-options="${optionsAction}" novalidate hidden>
${hidden('csrf', csrf)}
<input type="text" name="username" value="${username}" autocomplete="username" hidden>
${passkeyFields()}
${fields([
  { name: 'name', label: 'Name of the passkey', autocomplete: 'off', maxlength: 64, hint: 'To tell your passkeys apart, such as "Laptop" or "Phone".' },
  ...(askPassword ? [{ name: 'current', label: 'Your password', type: 'password' as const, autocomplete: 'current-password', maxlength: 1024, hint: 'Confirm it is you: a passkey is a new way into your account.' }] : []),
])}
<button type="submit">Add a passkey</button>
</form>
${passkeyScript()}
<p class="links"><a href="${backUrl}">Back to your account</a></p>`,
    });
  }

  changePassword({ action, csrf, username, errors, backUrl }: Required<FormPage> & { username: string; errors: Record<string, string | undefined>; backUrl: string }): string {
    return this.#layout.page({
      title: 'Change your password',
      body: html`<h1>Change your password</h1>
<form method="post" action="${action}" novalidate>
${hidden('csrf', csrf)}
<input type="text" name="username" value="${username}" autocomplete="username" hidden>
${fieldErrorSummary(errors)}
${fields([
  { name: 'current', label: 'Current password', type: 'password', autocomplete: 'current-password', error: errors.current, maxlength: 1024 },
  { name: 'password', label: 'New password', type: 'password', autocomplete: 'new-password', error: errors.password, hint: PASSWORD_HINT, maxlength: 1024 },
  { name: 'confirm', label: 'Repeat the new password', type: 'password', autocomplete: 'new-password', error: errors.confirm, maxlength: 1024 },
])}
<button type="submit">Change password</button>
</form>
<p class="links"><a href="${backUrl}">Back to your account</a></p>`,
    });
  }

  enrolTwoFactor({ action, csrf, qrSvg, secret, username, error, backUrl }: Required<FormPage> & { qrSvg: string; secret: string; username: string; error?: { code?: string | undefined; current?: string | undefined } | undefined; backUrl: string }): string {
    return this.#layout.page({
      title: 'Set up two-factor authentication',
      body: html`<h1>Set up two-factor authentication</h1>
<p>Scan this QR code with an authenticator app (such as a password manager or an authenticator on your phone).</p>
<div class="qr" role="img" aria-label="QR code of the secret below">${new Html(qrSvg)}</div>
<p>Or enter this key in the app by hand:</p>
<code class="secret" id="totp-secret">${secret.match(/.{1,4}/g)!.join(' ')}</code>
<form method="post" action="${action}" novalidate>
${hidden('csrf', csrf)}
<input type="text" name="username" value="${username}" autocomplete="username" hidden>
${fields([
  { name: 'code', label: 'Code from the app', autocomplete: 'one-time-code', maxlength: 8, numeric: true, error: error?.code, hint: 'Enter the 6-digit code the app shows, to confirm it is set up.' },
  { name: 'current', label: 'Your password', type: 'password', autocomplete: 'current-password', maxlength: 1024, error: error?.current, hint: 'Confirm it is you: whoever turns this on decides how the account signs in.' },
])}
<button type="submit">Turn on two-factor authentication</button>
</form>
<p class="links"><a href="${backUrl}">Cancel</a></p>`,
    });
  }

  recoveryCodes({ codes, backUrl }: { codes: readonly string[]; backUrl: string }): string {
    return this.#layout.page({
      title: 'Your recovery codes',
      body: html`<h1>Save your recovery codes</h1>
<p class="notice" role="status">Two-factor authentication is on.</p>
<p>If you lose your device, each of these codes lets you sign in once. Keep them somewhere safe: they are shown only now.</p>
<ol class="codes" id="recovery-codes">${codes.map((c) => html`<li><code>${c}</code></li>`)}</ol>
<p class="links"><a href="${backUrl}">I have saved them: back to your account</a></p>`,
    });
  }

  manageTwoFactor({ action, regenerateAction, csrf, username, recoveryCodesLeft, error, regenerateError, backUrl }: Required<FormPage> & { regenerateAction: string; username: string; recoveryCodesLeft: number; error?: string | undefined; regenerateError?: string | undefined; backUrl: string }): string {
    return this.#layout.page({
      title: 'Two-factor authentication',
      body: html`<h1>Two-factor authentication is on</h1>
<p>${recoveryCodesLeft} recovery code(s) left.</p>
<h2>New recovery codes</h2>
<form method="post" action="${regenerateAction}" novalidate>
${hidden('csrf', csrf)}
<input type="text" name="username" value="${username}" autocomplete="username" hidden>
${field({ name: 'regenerate-current', label: 'Your password', type: 'password', autocomplete: 'current-password', maxlength: 1024, error: regenerateError, hint: 'The codes you have now stop working. Confirm your password to see new ones.' })}
<button class="secondary" type="submit">Make new recovery codes</button>
</form>
<h2>Turn it off</h2>
<form method="post" action="${action}" novalidate>
${hidden('csrf', csrf)}
<input type="text" name="username" value="${username}" autocomplete="username" hidden>
${field({ name: 'current', label: 'Your password', type: 'password', autocomplete: 'current-password', maxlength: 1024, error, hint: 'To turn two-factor authentication off, confirm your password.' })}
<button type="submit">Turn off two-factor authentication</button>
</form>
<p class="links"><a href="${backUrl}">Back to your account</a></p>`,
    });
  }
}

/** Where a client answers, and who describes it when a metadata document does: on the login and consent pages. */
function clientWhereabouts(publisher: string | undefined, destination: string): Html {
  return publisher === undefined
    ? html`(at <strong class="destination">${destination}</strong>)`
    : html`(described by <strong class="publisher">${publisher}</strong>, answering at <strong class="destination">${destination}</strong>)`;
}
