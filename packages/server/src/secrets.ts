// Random identifiers and high-entropy secrets, and how secrets are stored: SHA-256 is the
// right hash for 256-bit random secrets (no slow hash needed), compared in constant time.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export function randomId(bytes = 16): string {
  return randomBytes(bytes).toString('base64url');
}

/** A secret with a recognisable prefix, so secret scanners can find leaked ones. */
export function newSecret(prefix: string): string {
  return `${prefix}${randomBytes(32).toString('base64url')}`;
}

export function sha256(value: string): string {
  return createHash('sha256').update(value).digest('base64url');
}

export function hashSecret(secret: string): string {
  return `sha256:${sha256(secret)}`;
}

export function verifySecret(secret: string, stored: string): boolean {
  if (!stored.startsWith('sha256:')) return false;
  const expected = Buffer.from(stored.slice('sha256:'.length), 'base64url');
  const actual = createHash('sha256').update(secret).digest();
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}
