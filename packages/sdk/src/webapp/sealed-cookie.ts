/**
 * Sealed cookies: the session (tokens) and a sign-in in progress (state, nonce, PKCE verifier)
 * are kept in the browser as JWTs encrypted with `dir` + `A256GCM` (RFC 7516; RFC 7518 §4.5,
 * §5.3) by jose. Encryption keeps the refresh token unreadable outside the app; GCM's tag makes
 * any change to the cookie fail to open, so a tampered cookie is simply no session.
 *
 * Keys: one per (secret, purpose), derived with HKDF-SHA256 (RFC 5869) from the configured
 * secret, so a sign-in cookie can never be opened as a session cookie. The `kid` header names the
 * secret (a hash, not the secret): the first secret seals, every configured one opens, which is
 * how a secret is rotated without signing everyone out.
 */
import { base64url, EncryptJWT, jwtDecrypt, type JWTPayload } from 'jose';

export type CookiePurpose = 'session' | 'login';

/** Browsers keep about 4096 bytes per cookie (RFC 6265 §6.1); a larger one is refused up front. */
export const MAX_COOKIE_VALUE = 3800;

const SALT = new TextEncoder().encode('gatehouse/webapp');

interface SecretKeys {
  readonly kid: string;
  readonly keys: Readonly<Record<CookiePurpose, Uint8Array>>;
}

export class CookieSealer {
  readonly #secrets: readonly string[];
  readonly #now: () => number;
  #keys: Promise<readonly SecretKeys[]> | undefined;

  constructor(secrets: readonly string[], now: () => number) {
    this.#secrets = secrets;
    this.#now = now;
  }

  /** Encrypts `payload` until `expiresAt` (seconds since the epoch) with the first secret. */
  async seal(purpose: CookiePurpose, payload: JWTPayload, expiresAt: number): Promise<string> {
    const [current] = await this.#derived();
    return new EncryptJWT(payload)
      .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', kid: current!.kid, typ: typeOf(purpose) })
      .setIssuedAt(Math.floor(this.#now() / 1000))
      .setExpirationTime(Math.floor(expiresAt))
      .encrypt(current!.keys[purpose]);
  }

  /** The payload of a cookie this app sealed for `purpose` and that has not expired; otherwise undefined. */
  async open(purpose: CookiePurpose, value: string): Promise<JWTPayload | undefined> {
    if (value.length > MAX_COOKIE_VALUE) return undefined;
    const secrets = await this.#derived();
    try {
      const { payload } = await jwtDecrypt(
        value,
        (header) => {
          const match = secrets.find((secret) => secret.kid === header.kid);
          if (match === undefined) throw new Error('sealed by an unknown secret');
          return match.keys[purpose];
        },
        {
          // Only what seal() produces: no key wrapping, no other cipher, this purpose's `typ`.
          keyManagementAlgorithms: ['dir'],
          contentEncryptionAlgorithms: ['A256GCM'],
          typ: typeOf(purpose),
          requiredClaims: ['exp', 'iat'],
          currentDate: new Date(this.#now()),
        },
      );
      return payload;
    } catch {
      // Tampered, truncated, sealed with a retired secret or for another purpose, or expired.
      return undefined;
    }
  }

  #derived(): Promise<readonly SecretKeys[]> {
    this.#keys ??= Promise.all(this.#secrets.map(deriveKeys));
    return this.#keys;
  }
}

function typeOf(purpose: CookiePurpose): string {
  return `gatehouse-${purpose}+jwt`;
}

async function deriveKeys(secret: string): Promise<SecretKeys> {
  const material = await crypto.subtle.importKey('raw', new TextEncoder().encode(secret), 'HKDF', false, ['deriveBits']);
  const derive = async (info: string, bits: number) =>
    new Uint8Array(await crypto.subtle.deriveBits({ name: 'HKDF', hash: 'SHA-256', salt: SALT, info: new TextEncoder().encode(info) }, material, bits));
  const kid = base64url.encode(await derive('gatehouse/webapp kid', 64));
  return {
    kid,
    keys: { session: await derive('gatehouse/webapp session', 256), login: await derive('gatehouse/webapp login', 256) },
  };
}
