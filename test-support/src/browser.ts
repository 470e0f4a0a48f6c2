// A minimal cookie-keeping HTTP driver for login flows without a real browser: follows
// redirects by hand, keeps cookies, reads and posts the login form. The real-browser tests use
// playwright-core; this one is for fast protocol tests.

export class CookieJar {
  readonly #cookies = new Map<string, string>();

  store(response: Response): void {
    for (const header of response.headers.getSetCookie()) {
      const [pair] = header.split(';');
      const index = pair!.indexOf('=');
      const name = pair!.slice(0, index).trim();
      const value = pair!.slice(index + 1).trim();
      const expired = /expires=Thu, 01 Jan 1970/i.test(header) || /max-age=0/i.test(header);
      if (expired || value === '') this.#cookies.delete(name);
      else this.#cookies.set(name, value);
    }
  }

  header(): string {
    return [...this.#cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }

  get(name: string): string | undefined {
    return this.#cookies.get(name);
  }

  names(): string[] {
    return [...this.#cookies.keys()];
  }
}

export interface Browser {
  readonly jar: CookieJar;
  get(url: string | URL): Promise<Response>;
  post(url: string | URL, form: Record<string, string>): Promise<Response>;
}

export function createBrowser(jar = new CookieJar()): Browser {
  async function send(url: string | URL, init: RequestInit): Promise<Response> {
    const response = await fetch(url, { ...init, redirect: 'manual', headers: { ...(init.headers as Record<string, string>), cookie: jar.header() } });
    jar.store(response);
    return response;
  }
  return {
    jar,
    get: (url) => send(url, { method: 'GET', headers: { accept: 'text/html' } }),
    post: (url, form) =>
      send(url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' },
        body: new URLSearchParams(form).toString(),
      }),
  };
}

/** Reads a hidden input or form action from a page. */
export function formValue(html: string, name: string): string {
  const match = new RegExp(`name="${name}" value="([^"]*)"`).exec(html);
  if (!match) throw new Error(`no input named ${name} in the page`);
  return match[1]!.replace(/&amp;/g, '&');
}

export function formAction(html: string, contains: string): string {
  const match = new RegExp(`action="([^"]*${contains}[^"]*)"`).exec(html);
  if (!match) throw new Error(`no form posting to ${contains}`);
  return match[1]!.replace(/&amp;/g, '&');
}

export interface LoginResult {
  /** Where the server finally sent the browser (the client's redirect URI with code or error). */
  readonly callback: URL;
  /** Every response status on the way, for assertions. */
  readonly statuses: number[];
  /** The pages shown on the way (login, consent), in order. */
  readonly pages: string[];
}

/**
 * Drives an authorization request through the login page: GET /authorize, follow redirects to
 * the login page, post the form, follow redirects until the client's redirect URI.
 */
export async function loginThroughForm(
  browser: Browser,
  authorizationUrl: URL,
  credentials: { username: string; password: string },
  redirectUri: string,
): Promise<LoginResult> {
  const statuses: number[] = [];
  const pages: string[] = [];
  let response = await browser.get(authorizationUrl);
  for (let hops = 0; hops < 10; hops++) {
    statuses.push(response.status);
    const location = response.headers.get('location');
    if (location) {
      const next = new URL(location, response.url || authorizationUrl);
      if (next.href.startsWith(redirectUri)) return { callback: next, statuses, pages };
      response = await browser.get(next);
      continue;
    }
    const html = await response.text();
    pages.push(html);
    if (html.includes('name="password"')) {
      const base = new URL(response.url);
      response = await browser.post(new URL(formAction(html, '/login'), base), {
        csrf: formValue(html, 'csrf'),
        username: credentials.username,
        password: credentials.password,
      });
      continue;
    }
    if (html.includes('/consent')) {
      const base = new URL(response.url);
      response = await browser.post(new URL(formAction(html, '/consent'), base), { csrf: formValue(html, 'csrf') });
      continue;
    }
    throw new Error(`unexpected page (status ${response.status}): ${html.slice(0, 300)}`);
  }
  throw new Error('too many redirects');
}
