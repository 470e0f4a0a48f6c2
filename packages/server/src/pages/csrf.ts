// CSRF tokens for the interaction forms: an HMAC of the interaction id under a server secret.
// The interaction itself is bound to the browser by oidc-provider's signed, SameSite cookie, so
// a form posted from elsewhere fails twice: no cookie, and no token an attacker could compute.
import { createHmac, timingSafeEqual } from 'node:crypto';

export class CsrfTokens {
  readonly #secrets: readonly string[];
  constructor(secrets: readonly string[]) {
    this.#secrets = secrets;
  }

  #sign(secret: string, uid: string, purpose: string): Buffer {
    return createHmac('sha256', secret).update(`${purpose}:${uid}`).digest();
  }

  issue(uid: string, purpose: string): string {
    return this.#sign(this.#secrets[0]!, uid, purpose).toString('base64url');
  }

  verify(uid: string, purpose: string, token: unknown): boolean {
    if (typeof token !== 'string' || token.length > 100) return false;
    const given = Buffer.from(token, 'base64url');
    return this.#secrets.some((secret) => {
      const expected = this.#sign(secret, uid, purpose);
      return given.length === expected.length && timingSafeEqual(given, expected);
    });
  }
}

/**
 * Short-lived values the server hands to the browser and must get back unchanged: "this user
 * passed the password step of this interaction, a second factor is next". HMAC-signed with an
 * expiry, bound to a purpose (which includes the interaction id).
 */
export class SignedValues {
  readonly #secrets: readonly string[];
  constructor(secrets: readonly string[]) {
    this.#secrets = secrets;
  }

  #mac(secret: string, purpose: string, body: string): Buffer {
    return createHmac('sha256', secret).update(`${purpose}\n${body}`).digest();
  }

  sign(purpose: string, value: string, ttlSeconds: number): string {
    const body = Buffer.from(JSON.stringify({ v: value, e: Date.now() + ttlSeconds * 1000 })).toString('base64url');
    return `${body}.${this.#mac(this.#secrets[0]!, purpose, body).toString('base64url')}`;
  }

  verify(purpose: string, token: unknown): string | undefined {
    if (typeof token !== 'string' || token.length > 500) return undefined;
    const [body, mac] = token.split('.');
    if (!body || !mac) return undefined;
    const given = Buffer.from(mac, 'base64url');
    const valid = this.#secrets.some((secret) => {
      const expected = this.#mac(secret, purpose, body);
      return given.length === expected.length && timingSafeEqual(given, expected);
    });
    if (!valid) return undefined;
    try {
      const { v, e } = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as { v: unknown; e: unknown };
      return typeof v === 'string' && typeof e === 'number' && e > Date.now() ? v : undefined;
    } catch {
      return undefined;
    }
  }
}

/**
 * Defence in depth beside the CSRF tokens, for every form the pages post (OWASP ASVS 5 §3.5.3,
 * Fetch Metadata): why a POST must be refused as coming from another site, or undefined.
 *
 * - `Sec-Fetch-Site` (sent by current browsers whatever the referrer policy): only `same-origin`
 *   (our own pages) and `none` (typed or bookmarked) are accepted; `same-site` (a sibling
 *   subdomain) and `cross-site` are not.
 * - `Origin`: when it names an origin, it must be the public URL's. `Origin: null` is accepted:
 *   browsers send it for a form posted from a page served with `Referrer-Policy: no-referrer`,
 *   as ours are (Fetch §3.1, "serializing a request origin"); Sec-Fetch-Site still applies.
 * - Neither header (a non-browser client, an old browser): the CSRF token decides alone.
 */
export function crossSiteFormProblem(headers: Readonly<Record<string, string | string[] | undefined>>, publicOrigin: string): string | undefined {
  const site = headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return `Sec-Fetch-Site: ${String(site)}`;
  const origin = headers['origin'];
  if (origin !== undefined && origin !== 'null' && origin !== publicOrigin) return 'a foreign Origin';
  return undefined;
}
