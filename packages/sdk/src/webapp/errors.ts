/**
 * The web-app flow's error vocabulary and its HTTP answers.
 *
 * Every failure caused by a request (a visitor, a callback, a refresh) is a `WebAppError` with a
 * stable `code` from `WEBAPP_ERRORS`; `errorResponse()` turns it into one small HTML page, the
 * same bytes for every adapter. Misuse of the helper (a bad option) is a `TypeError` thrown when
 * it is created, never a `WebAppError`.
 */

/**
 * code → HTTP status, the text shown to the visitor, and when it is answered (the text of
 * docs/errors.md, generated from here by `npm run docs`). Every description is fixed text
 * written here: nothing from the request, a token or Gatehouse's answer is ever echoed.
 */
export const WEBAPP_ERRORS = {
  // RFC 9110 §15.5.2.
  login_required: {
    status: 401,
    description: 'You need to sign in to do this.',
    when: "A protected route without a session, on a request a redirect cannot help: an unsafe method, or a script's request (`Sec-Fetch-Mode` other than `navigate`).",
  },
  cross_site_request: {
    status: 403,
    description: 'This request came from another site and was refused.',
    when: "An unsafe method that does not provably come from the app's own origin (CSRF).",
  },
  insufficient_scope: {
    status: 403,
    description: 'Your account does not have access to this page.',
    when: 'The signed-in user lacks a kind or scope the route requires.',
  },
  // RFC 6749 §10.12 (state), RFC 9207 (iss).
  invalid_callback: {
    status: 400,
    description: 'This sign-in link is not valid here, or it has expired. Please sign in again.',
    when: 'The callback does not belong to a sign-in started in this browser: no or an expired sign-in cookie, `state` or `iss` missing or different.',
  },
  // RFC 6749 §4.1.2.1.
  login_failed: {
    status: 400,
    description: 'The sign-in could not be completed. Please try again.',
    when: "Gatehouse refused the sign-in, or its answer failed a check: the code was already used (`invalid_grant`), the ID token's nonce or claims, the access token.",
  },
  // RFC 9110 §15.5.6.
  method_not_allowed: {
    status: 405,
    description: 'This address only accepts form submissions.',
    when: 'Logout changes state: `POST` only (the answer carries `Allow: POST`).',
  },
  // RFC 9110 §15.6.4.
  temporarily_unavailable: {
    status: 503,
    description: 'The sign-in service is unavailable. Please try again in a moment.',
    when: 'Gatehouse could not be reached (network, timeout, 5xx): the session may well be fine, so it is kept.',
  },
} as const satisfies Record<string, { status: number; description: string; when: string }>;

/** The stable error codes; `switch (error.code)` narrows over exactly these. */
export type WebAppErrorCode = keyof typeof WEBAPP_ERRORS;

/** A request failure of the web-app flow. Its message is fixed text, safe to show. */
export class WebAppError extends Error {
  override readonly name = 'WebAppError';
  readonly code: WebAppErrorCode;
  readonly status: number;
  readonly description: string;

  constructor(code: WebAppErrorCode, options: { cause?: unknown } = {}) {
    super(WEBAPP_ERRORS[code].description, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = WEBAPP_ERRORS[code].status;
    this.description = WEBAPP_ERRORS[code].description;
  }
}

/** Status, headers, cookies and body of an answer, ready to be written by any framework. */
export interface WebAppResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  /** `Set-Cookie` values, one header each. */
  readonly cookies: readonly string[];
  readonly body: string;
}

/** Renders the page of an error; the default is a minimal accessible HTML page. */
export type ErrorPage = (error: WebAppError, links: { readonly login: string }) => string;

// Responses that set or clear a session must never be stored by a shared cache (RFC 9111 §5.2.2.5).
const NO_STORE = 'no-store';

/** 303 See Other (RFC 9110 §15.4.4): the browser follows with a GET whatever the method was. */
export function redirect(location: string, cookies: readonly string[]): WebAppResponse {
  return { status: 303, headers: { location, 'cache-control': NO_STORE }, cookies, body: '' };
}

export function errorResponse(error: WebAppError, cookies: readonly string[], page: ErrorPage, loginPath: string): WebAppResponse {
  const headers: Record<string, string> = { 'content-type': 'text/html; charset=utf-8', 'cache-control': NO_STORE };
  if (error.code === 'method_not_allowed') headers.allow = 'POST';
  return { status: error.status, headers, cookies, body: page(error, { login: loginPath }) };
}

export const defaultErrorPage: ErrorPage = (error, links) => {
  const again = error.code === 'invalid_callback' || error.code === 'login_failed' || error.code === 'login_required';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(error.description)}</title></head>
<body><main><h1>${escapeHtml(error.description)}</h1>${again ? `<p><a href="${escapeHtml(links.login)}">Sign in</a></p>` : ''}</main></body></html>
`;
};

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A `WebAppResponse` as a Web `Response` (for handlers written against the Fetch API). */
export function toWebResponse(response: WebAppResponse): Response {
  const headers = new Headers(response.headers);
  for (const cookie of response.cookies) headers.append('set-cookie', cookie);
  const body = response.status === 303 || response.body === '' ? null : response.body;
  return new Response(body, { status: response.status, headers });
}
