// The key that protects secrets at rest (signing keys, cookie/CSRF/TOTP keys, the admin API's
// introspection secret) and the envelope those secrets are stored in. The key comes from outside
// the database (GATEHOUSE_SECRET_KEY, a file, later a KMS: key-provider.ts), so a copy of the
// database holds only ciphertext.
//
// Envelope: `v1.<key id>.<iv>.<ciphertext>.<tag>`, each part base64url. AES-256-GCM (NIST SP
// 800-38D) with a random 96-bit IV per value; the authenticated data is the envelope's header
// (`v1.<key id>`) and the record's identity (its table, purpose, id…), so a ciphertext moved to
// another row, purpose or key id fails authentication instead of being read as that row's secret.
// The key id is derived from the key (an HMAC of a fixed label), never chosen: it tells which key
// of the keyring opens a value without revealing anything about the key.
import { createCipheriv, createDecipheriv, createHmac, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';

export const SECRET_KEY_BYTES = 32;
const VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_ID_LABEL = 'gatehouse secret key id';

const B64URL = '[A-Za-z0-9_-]';
const ENVELOPE = new RegExp(`^${VERSION}\\.(${B64URL}{12})\\.(${B64URL}{16})\\.(${B64URL}*)\\.(${B64URL}{22})$`);

/**
 * A key as an operator writes it: 32 bytes in base64 or base64url (`openssl rand -base64 32`).
 * Throws an Error that never contains the value.
 */
export function decodeSecretKey(text: string): Buffer {
  const compact = text.trim();
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(compact)) throw new Error('not base64 or base64url');
  const bytes = Buffer.from(compact.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, ''), 'base64url');
  if (bytes.length !== SECRET_KEY_BYTES) throw new Error(`decodes to ${bytes.length} bytes, not ${SECRET_KEY_BYTES}`);
  return bytes;
}

/** A new random key, base64url (development keys, tests). */
export function generateSecretKey(): string {
  return randomBytes(SECRET_KEY_BYTES).toString('base64url');
}

/** The id of a key: 72 bits of HMAC-SHA256(key, label), base64url (12 characters). */
export function secretKeyId(key: Uint8Array): string {
  return createHmac('sha256', key).update(KEY_ID_LABEL).digest().subarray(0, 9).toString('base64url');
}

/** Why a stored value could not be opened. Never carries the value, sealed or not. */
export class SealedValueError extends Error {
  readonly reason: 'not_sealed' | 'unknown_key' | 'not_authentic';
  /** The key id the value names, when it is an envelope. */
  readonly keyId: string | undefined;
  constructor(reason: SealedValueError['reason'], keyId?: string) {
    super(
      reason === 'not_sealed'
        ? 'the value is not encrypted'
        : reason === 'unknown_key'
          ? `the value is encrypted under secret key ${keyId}, which is not in the keyring`
          : `the value does not authenticate under secret key ${keyId} (modified, or moved from another record)`,
    );
    this.name = 'SealedValueError';
    this.reason = reason;
    this.keyId = keyId;
  }
}

/** The key id an envelope names, or undefined when the value is not an envelope (plaintext). */
export function sealedKeyId(value: string): string | undefined {
  return ENVELOPE.exec(value)?.[1];
}

/**
 * The current key (encrypts) and previous keys (still decrypt, while values sealed under them
 * are re-encrypted: `gatehouse secrets reencrypt`).
 */
export class Keyring {
  readonly currentKeyId: string;
  readonly #keys = new Map<string, KeyObject>();

  constructor(current: Uint8Array, previous: readonly Uint8Array[] = []) {
    for (const key of [current, ...previous]) {
      if (key.length !== SECRET_KEY_BYTES) throw new Error(`a secret key is ${SECRET_KEY_BYTES} bytes`);
      const id = secretKeyId(key);
      if (!this.#keys.has(id)) this.#keys.set(id, createSecretKey(key));
    }
    this.currentKeyId = secretKeyId(current);
  }

  /** Every key id, the current one first. */
  get keyIds(): string[] {
    return [...this.#keys.keys()];
  }

  knows(keyId: string): boolean {
    return this.#keys.has(keyId);
  }

  /** Encrypts under the current key, bound to `context` (the record's identity). */
  seal(plaintext: string, context: string): string {
    const iv = randomBytes(IV_BYTES);
    const header = `${VERSION}.${this.currentKeyId}`;
    const cipher = createCipheriv('aes-256-gcm', this.#keys.get(this.currentKeyId)!, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(aad(header, context));
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return [header, iv.toString('base64url'), ciphertext.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.');
  }

  /** Decrypts a value sealed (by any key of the keyring) for this `context`; throws SealedValueError. */
  open(sealed: string, context: string): string {
    const match = ENVELOPE.exec(sealed);
    if (!match) throw new SealedValueError('not_sealed');
    const [, keyId, iv, ciphertext, tag] = match as unknown as [string, string, string, string, string];
    const key = this.#keys.get(keyId);
    if (!key) throw new SealedValueError('unknown_key', keyId);
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'), { authTagLength: TAG_BYTES });
      decipher.setAAD(aad(`${VERSION}.${keyId}`, context));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString('utf8');
    } catch {
      throw new SealedValueError('not_authentic', keyId);
    }
  }
}

function aad(header: string, context: string): Buffer {
  return Buffer.from(`${header}\n${context}`, 'utf8');
}
