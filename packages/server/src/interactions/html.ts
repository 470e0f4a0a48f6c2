// Server-rendered HTML: escaping, one layout, and the security headers every page carries.
// Pages have no inline scripts or styles, so the Content-Security-Policy can be strict.

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** A string that is already safe HTML. */
export class Html {
  readonly value: string;
  constructor(value: string) {
    this.value = value;
  }
  toString(): string {
    return this.value;
  }
}

export function escape(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

/** Tagged template: interpolated values are escaped unless they are Html (or arrays of Html). */
export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0]!;
  values.forEach((value, i) => {
    if (value instanceof Html) out += value.value;
    else if (Array.isArray(value)) out += value.map((v) => (v instanceof Html ? v.value : escape(v))).join('');
    else if (value === undefined || value === null || value === false) out += '';
    else out += escape(value);
    out += strings[i + 1]!;
  });
  return new Html(out);
}

export interface PageOptions {
  readonly title: string;
  readonly body: Html;
  readonly productName?: string;
}

export const STYLESHEET_PATH = '/assets/gatehouse.css';

export function page({ title, body, productName = 'Gatehouse' }: PageOptions): string {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${title} · ${productName}</title>
<link rel="stylesheet" href="${STYLESHEET_PATH}">
</head>
<body>
<main class="card">
<p class="brand">${productName}</p>
${body}
</main>
</body>
</html>
`.value;
}

/**
 * Headers for every HTML page: no framing, no referrer, no inline code, forms post only to
 * this server (and to the origins a redirect after the post may reach, which browsers check too).
 */
export function pageHeaders(formTargets: readonly string[] = []): Record<string, string> {
  const formAction = ["'self'", ...new Set(formTargets)].join(' ');
  return {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    'content-security-policy': [
      "default-src 'none'",
      "style-src 'self'",
      "img-src 'self' data:",
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

/** The origin of a URL, when it has one worth allowing as a form target. */
export function originOf(uri: unknown): string | undefined {
  if (typeof uri !== 'string' || !URL.canParse(uri)) return undefined;
  const { origin, protocol } = new URL(uri);
  if (origin !== 'null') return origin;
  // Private-use schemes (native apps): CSP source expressions take a bare scheme.
  return /^[a-z][a-z0-9+.-]*:$/.test(protocol) ? protocol : undefined;
}

export const STYLESHEET = `
:root { color-scheme: light dark; --accent: #2f5bd3; --bg: #f4f5f7; --card: #fff; --text: #1c1e21; --muted: #5b6270; --error: #b3261e; --border: #d5d9e0; }
@media (prefers-color-scheme: dark) { :root { --bg: #15171a; --card: #1f2226; --text: #eceef1; --muted: #a3aab5; --border: #3a3f46; --error: #ff8a80; --accent: #8fb0ff; } }
* { box-sizing: border-box; }
body { margin: 0; min-height: 100vh; display: flex; align-items: center; justify-content: center; background: var(--bg); color: var(--text); font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; padding: 1rem; }
.card { width: 100%; max-width: 26rem; background: var(--card); border: 1px solid var(--border); border-radius: 12px; padding: 2rem; }
.brand { margin: 0 0 1rem; font-weight: 700; color: var(--accent); letter-spacing: .02em; }
h1 { font-size: 1.4rem; margin: 0 0 .5rem; }
p { margin: .25rem 0 1rem; color: var(--muted); }
label { display: block; font-weight: 600; margin: 1rem 0 .25rem; }
input[type=text], input[type=password], input[type=email] { width: 100%; padding: .65rem .75rem; font: inherit; color: inherit; background: transparent; border: 1px solid var(--border); border-radius: 8px; }
input:focus-visible, button:focus-visible, a:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
button { width: 100%; margin-top: 1.5rem; padding: .7rem; font: inherit; font-weight: 600; border: 0; border-radius: 8px; background: var(--accent); color: #fff; cursor: pointer; }
button.secondary { background: transparent; color: var(--text); border: 1px solid var(--border); margin-top: .75rem; }
.error { color: var(--error); font-weight: 600; margin: 1rem 0 0; }
ul.scopes { padding-left: 1.2rem; }
.client { font-weight: 600; color: var(--text); }
`;
