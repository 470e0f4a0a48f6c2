// The layout every server-rendered page shares (the pages people see, and the pages
// oidc-provider renders), and the security headers that go with it. Pages have no inline scripts
// or styles, so the Content-Security-Policy can be strict.
import { html, type Html } from './escape.ts';

/** What an operator can brand: the product name, a logo and the accent colour. */
export interface Brand {
  readonly name: string;
  readonly logoUrl?: string | undefined;
  readonly color: string;
}

export const DEFAULT_BRAND: Brand = { name: 'Gatehouse', color: '#2f5bd3' };

export const STYLESHEET_PATH = '/assets/gatehouse.css';
/** The passkey script of the login and account pages (a same-origin file: no inline code). */
export const PASSKEY_SCRIPT_PATH = '/assets/passkeys.js';

export interface PageOptions {
  readonly title: string;
  readonly body: Html;
  /** A same-origin path the browser goes on to at once (`<meta http-equiv="refresh">`). */
  readonly continueTo?: string | undefined;
}

/** The layout every page shares, branded, with the headers that go with it. */
export class Layout {
  readonly brand: Brand;
  readonly stylesheet: string;
  readonly #imageSources: string;

  constructor(brand: Brand = DEFAULT_BRAND) {
    this.brand = brand;
    this.stylesheet = stylesheet(brand.color);
    const logoOrigin = brand.logoUrl !== undefined && /^https?:/.test(brand.logoUrl) ? new URL(brand.logoUrl).origin : undefined;
    this.#imageSources = ["'self'", 'data:', ...(logoOrigin ? [logoOrigin] : [])].join(' ');
  }

  page({ title, body, continueTo }: PageOptions): string {
    const { name, logoUrl } = this.brand;
    return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
${continueTo ? html`<meta http-equiv="refresh" content="0; url=${continueTo}">` : ''}
<title>${title} · ${name}</title>
<link rel="stylesheet" href="${STYLESHEET_PATH}">
</head>
<body>
<main class="card">
<p class="brand">${logoUrl ? html`<img class="logo" src="${logoUrl}" alt="" height="32">` : ''}<span>${name}</span></p>
${body}
</main>
</body>
</html>
`.value;
  }

  /**
   * Headers for every HTML page: no framing, no referrer, no inline code, forms post only to
   * this server (and to the origins a redirect after the post may reach, which browsers check too).
   * With `scripts`, this server's own script files run and may call this server (the passkey
   * pages); still no inline code.
   */
  headers(formTargets: readonly string[] = [], { scripts = false }: { scripts?: boolean } = {}): Record<string, string> {
    const formAction = ["'self'", ...new Set(formTargets)].join(' ');
    return {
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
      'content-security-policy': [
        "default-src 'none'",
        "style-src 'self'",
        ...(scripts ? ["script-src 'self'", "connect-src 'self'"] : []),
        `img-src ${this.#imageSources}`,
        `form-action ${formAction}`,
        "frame-ancestors 'none'",
        "base-uri 'none'",
      ].join('; '),
      'referrer-policy': 'no-referrer',
      'x-content-type-options': 'nosniff',
      'x-frame-options': 'DENY',
      // No Cross-Origin-Opener-Policy: apps open this page in a popup (Swagger UI does) and their
      // redirect page needs `window.opener` to hand the code back; `same-origin` would sever it.
    };
  }
}

/** The origin of a URL, when it has one worth allowing as a form target. */
export function originOf(uri: unknown): string | undefined {
  if (typeof uri !== 'string' || !URL.canParse(uri)) return undefined;
  const { origin, protocol } = new URL(uri);
  if (origin !== 'null') return origin;
  // Private-use schemes (native apps): CSP source expressions take a bare scheme.
  return /^[a-z][a-z0-9+.-]*:$/.test(protocol) ? protocol : undefined;
}

function stylesheet(accent: string): string {
  return `
:root { color-scheme: light dark; --accent: ${accent}; --bg: #f4f5f7; --card: #fff; --text: #1c1e21; --muted: #5b6270; --error: #b3261e; --border: #d5d9e0; --link: var(--accent); }
@media (prefers-color-scheme: dark) { :root { --bg: #15171a; --card: #1f2226; --text: #eceef1; --muted: #a3aab5; --border: #3a3f46; --error: #ff8a80; --link: color-mix(in srgb, var(--accent), white 55%); } }
* { box-sizing: border-box; }
body { margin: 0; min-height: 100vh; display: flex; align-items: center; justify-content: center; background: var(--bg); color: var(--text); font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; padding: 1rem; }
.card { width: 100%; max-width: 26rem; background: var(--card); border: 1px solid var(--border); border-radius: 12px; padding: 2rem; }
.brand { margin: 0 0 1rem; font-weight: 700; color: var(--link); letter-spacing: .02em; }
h1 { font-size: 1.4rem; margin: 0 0 .5rem; }
p { margin: .25rem 0 1rem; color: var(--muted); }
label { display: block; font-weight: 600; margin: 1rem 0 .25rem; }
input[type=text], input[type=password], input[type=email] { width: 100%; padding: .65rem .75rem; font: inherit; color: inherit; background: transparent; border: 1px solid var(--border); border-radius: 8px; }
input:focus-visible, button:focus-visible, a:focus-visible { outline: 3px solid var(--link); outline-offset: 2px; }
button { width: 100%; margin-top: 1.5rem; padding: .7rem; font: inherit; font-weight: 600; border: 0; border-radius: 8px; background: var(--accent); color: #fff; cursor: pointer; }
button.secondary { background: transparent; color: var(--text); border: 1px solid var(--border); margin-top: .75rem; }
ul.upstream { list-style: none; padding: 0; margin: .75rem 0 0; }
a.button { display: block; box-sizing: border-box; width: 100%; margin-top: .75rem; padding: .7rem; text-align: center; font-weight: 600; border-radius: 8px; text-decoration: none; }
a.button.secondary { color: var(--text); border: 1px solid var(--border); }
.error { color: var(--error); font-weight: 600; margin: 1rem 0 0; }
ul.scopes { padding-left: 1.2rem; }
.client { font-weight: 600; color: var(--text); }
.brand { display: flex; align-items: center; gap: .5rem; }
.brand img { max-height: 32px; width: auto; }
a { color: var(--link); }
.links { display: flex; flex-wrap: wrap; justify-content: space-between; gap: .5rem; margin: 1rem 0 0; }
.notice { border-left: 4px solid var(--accent); padding: .5rem .75rem; color: var(--text); background: var(--bg); border-radius: 4px; }
.hint { font-size: .9rem; margin: .25rem 0 0; }
.field-error { color: var(--error); font-size: .9rem; font-weight: 600; margin: .25rem 0 0; }
input[aria-invalid=true] { border-color: var(--error); }
input[inputmode=numeric] { letter-spacing: .3em; font-variant-numeric: tabular-nums; }
.qr { display: flex; justify-content: center; margin: 1rem 0; }
.qr svg { width: 200px; height: 200px; background: #fff; padding: 8px; border-radius: 8px; }
code.secret { display: block; overflow-wrap: anywhere; padding: .5rem; background: var(--bg); border-radius: 6px; font-size: .95rem; }
/* As many columns as fit whole codes (number and 19 characters); a code never wraps. */
ol.codes { display: grid; grid-template-columns: repeat(auto-fill, minmax(calc(24ch + 1rem), 1fr)); gap: .25rem 1rem; font-family: ui-monospace, monospace; list-style-position: inside; padding: 0; }
ol.codes li { white-space: nowrap; }
dl.account { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; margin: 1rem 0; }
dl.account dt { font-weight: 600; }
dl.account dd { margin: 0; color: var(--muted); word-break: break-word; }
ul.passkeys { list-style: none; padding: 0; margin: 1rem 0; display: flex; flex-direction: column; gap: .75rem; }
ul.passkeys li { border: 1px solid var(--border); border-radius: 8px; padding: .75rem; }
ul.passkeys .hint { display: block; }
ul.passkeys button { margin-top: .5rem; }
h2 { font-size: 1.1rem; margin: 1.5rem 0 .25rem; }
nav.account { display: flex; flex-direction: column; gap: .5rem; margin: 1rem 0 0; }
@media (max-width: 30rem) { body { padding: 0; align-items: stretch; } .card { border-radius: 0; border: 0; padding: 1.25rem; } }
`;
}
