// TOTP two-factor authentication (RFC 6238) with the parameters every authenticator app supports:
// SHA-1, 6 digits, 30-second steps, 160-bit secrets. Secrets are stored encrypted (AES-256-GCM
// under the `totp` server secret, which is itself stored encrypted under GATEHOUSE_SECRET_KEY, a
// key kept outside the database: storage/sealing.ts), so a copy of the database alone cannot
// generate codes. Recovery codes are 80 random bits each, stored as SHA-256 hashes.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { Secret, TOTP } from 'otpauth';

const PERIOD = 30;
const DIGITS = 6;
/** Codes from one step before or after are accepted too: phone clocks drift. */
const WINDOW = 1;

export const RECOVERY_CODE_COUNT = 10;

export function newTotpSecret(): string {
  return new Secret({ size: 20 }).base32;
}

function totp(secretBase32: string, label = '', issuer = ''): TOTP {
  return new TOTP({ issuer, label, algorithm: 'SHA1', digits: DIGITS, period: PERIOD, secret: Secret.fromBase32(secretBase32) });
}

/** The `otpauth://` URI an authenticator app reads from the QR code. */
export function totpUri(secretBase32: string, issuer: string, account: string): string {
  return totp(secretBase32, account, issuer).toString();
}

/** The code for a time (tests and tools; the server never needs to produce one). */
export function totpCode(secretBase32: string, timestamp = Date.now()): string {
  return totp(secretBase32).generate({ timestamp });
}

/**
 * The time step of a valid code, or undefined. The caller must also check the step is later
 * than the last one accepted for the account, so that a code works once.
 */
export function totpStep(secretBase32: string, code: string, timestamp = Date.now()): number | undefined {
  const normalized = code.replace(/\s/g, '');
  if (!/^\d{6}$/.test(normalized)) return undefined;
  const delta = totp(secretBase32).validate({ token: normalized, timestamp, window: WINDOW });
  if (delta === null) return undefined;
  return Math.floor(timestamp / 1000 / PERIOD) + delta;
}

/** Encrypts TOTP secrets at rest with the server's `totp` secrets (the first one encrypts). */
export class SecretBox {
  readonly #keys: readonly Buffer[];
  constructor(secrets: readonly string[]) {
    if (secrets.length === 0) throw new Error('SecretBox: no secrets');
    this.#keys = secrets.map((s) => createHash('sha256').update(`gatehouse totp:${s}`).digest());
  }

  seal(plain: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#keys[0]!, iv);
    const data = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    return `v1.${iv.toString('base64url')}.${data.toString('base64url')}`;
  }

  open(sealed: string): string | undefined {
    const [version, iv, data] = sealed.split('.');
    if (version !== 'v1' || !iv || !data) return undefined;
    const bytes = Buffer.from(data, 'base64url');
    for (const key of this.#keys) {
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
        decipher.setAuthTag(bytes.subarray(bytes.length - 16));
        return Buffer.concat([decipher.update(bytes.subarray(0, bytes.length - 16)), decipher.final()]).toString('utf8');
      } catch {
        // Not this key.
      }
    }
    return undefined;
  }
}

const CODE_ALPHABET = 'abcdefghijkmnpqrstuvwxyz23456789'; // 32 symbols, no 0/o/1/l

/** Ten codes of 16 symbols (80 bits), shown as xxxx-xxxx-xxxx-xxxx. */
export function newRecoveryCodes(count = RECOVERY_CODE_COUNT): string[] {
  return Array.from({ length: count }, () => {
    const bytes = randomBytes(16);
    const symbols = [...bytes].map((b) => CODE_ALPHABET[b & 31]).join('');
    return symbols.match(/.{4}/g)!.join('-');
  });
}

/** A recovery code as typed (any case, with or without dashes and spaces), or undefined. */
export function normalizeRecoveryCode(input: string): string | undefined {
  const compact = input.toLowerCase().replace(/[\s-]/g, '');
  if (compact.length !== 16 || [...compact].some((c) => !CODE_ALPHABET.includes(c))) return undefined;
  return compact;
}

export function hashRecoveryCode(normalized: string): string {
  return createHash('sha256').update(normalized).digest('base64url');
}

/** What storage looks a recovery code up by: the hash of the code as typed, or undefined if it cannot be one. */
export function recoveryCodeHash(input: string): string | undefined {
  const normalized = normalizeRecoveryCode(input);
  return normalized === undefined ? undefined : hashRecoveryCode(normalized);
}

/** What storage keeps of new recovery codes (from `newRecoveryCodes()`): their hashes. */
export function recoveryCodeHashes(codes: readonly string[]): string[] {
  return codes.map((code) => {
    const hash = recoveryCodeHash(code);
    if (hash === undefined) throw new TypeError('recoveryCodeHashes: not a recovery code');
    return hash;
  });
}
