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
