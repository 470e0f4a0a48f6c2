/**
 * Strict decoding of a compact JWS (RFC 7515 §7.1) before anything is trusted: length capped
 * first, exactly three base64url segments, UTF-8 that decodes without error, JSON objects.
 * Every failure is a 401 `invalid_token`; nothing here can throw anything else.
 */
import { AuthError } from './errors.ts';

export interface DecodedJws {
  readonly header: Readonly<Record<string, unknown>>;
  readonly payload: Readonly<Record<string, unknown>>;
  /** ASCII(BASE64URL(header) || '.' || BASE64URL(payload)), the bytes the signature covers. */
  readonly signingInput: Uint8Array<ArrayBuffer>;
  readonly signature: Uint8Array<ArrayBuffer>;
}

const BASE64URL = /^[A-Za-z0-9_-]*$/;
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const ascii = new TextEncoder();

function invalid(description: string): AuthError {
  return new AuthError('invalid_token', description, { scheme: 'Bearer' });
}

export function decodeCompactJws(token: string, maxLength: number): DecodedJws {
  // Cap before any parsing so an oversized token costs nothing (the credential reader checks
  // too; this keeps the function safe on its own).
  if (token.length > maxLength) throw invalid('The access token is too large');

  const segments = token.split('.');
  if (segments.length === 5) throw invalid('Encrypted tokens (JWE) are not accepted');
  if (segments.length !== 3) throw invalid('The access token is malformed');
  const [headerPart, payloadPart, signaturePart] = segments as [string, string, string];

  const header = decodeJsonObject(headerPart);
  const payload = decodeJsonObject(payloadPart);
  const signature = decodeBase64Url(signaturePart);
  if (header === undefined || payload === undefined || signature === undefined) {
    throw invalid('The access token is malformed');
  }
  return { header, payload, signingInput: ascii.encode(`${headerPart}.${payloadPart}`), signature };
}

function decodeBase64Url(segment: string): Uint8Array<ArrayBuffer> | undefined {
  // Unpadded base64url (RFC 7515 §2); a length of 1 mod 4 cannot encode whole bytes.
  if (!BASE64URL.test(segment) || segment.length % 4 === 1) return undefined;
  try {
    const binary = atob(segment.replace(/-/g, '+').replace(/_/g, '/'));
    const bytes = new Uint8Array(binary.length);
    for (let index = 0; index < binary.length; index += 1) bytes[index] = binary.charCodeAt(index);
    return bytes;
  } catch {
    return undefined;
  }
}

function decodeJsonObject(segment: string): Record<string, unknown> | undefined {
  const bytes = decodeBase64Url(segment);
  if (bytes === undefined) return undefined;
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return undefined; // not UTF-8 (RFC 7515 §5.2 step 3)
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  // RFC 7519 §7.2 step 10: the claims set must be a JSON object (not an array, string or null).
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  return value as Record<string, unknown>;
}
