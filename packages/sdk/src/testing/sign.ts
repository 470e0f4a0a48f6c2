/**
 * Signing compact JWS for tests, with full control of the header (including headers a real
 * issuer never sends: `jwk`, `jku`, `crit`, odd `typ`), so tests can craft the tokens attackers do.
 */
import { base64url } from 'jose';
import type { JwsAlgorithm } from '../algorithms.ts';

const SIGN_PARAMS: Record<JwsAlgorithm, AlgorithmIdentifier | EcdsaParams | RsaPssParams> = {
  ES256: { name: 'ECDSA', hash: 'SHA-256' },
  ES384: { name: 'ECDSA', hash: 'SHA-384' },
  ES512: { name: 'ECDSA', hash: 'SHA-512' },
  RS256: { name: 'RSASSA-PKCS1-v1_5' },
  RS384: { name: 'RSASSA-PKCS1-v1_5' },
  RS512: { name: 'RSASSA-PKCS1-v1_5' },
  PS256: { name: 'RSA-PSS', saltLength: 32 },
  PS384: { name: 'RSA-PSS', saltLength: 48 },
  PS512: { name: 'RSA-PSS', saltLength: 64 },
  EdDSA: { name: 'Ed25519' },
  Ed25519: { name: 'Ed25519' },
};

const encoder = new TextEncoder();

/** Encodes a JSON value as one base64url JWS segment. */
export function encodeSegment(value: unknown): string {
  return base64url.encode(encoder.encode(JSON.stringify(value)));
}

/**
 * Signs `payload` with `privateKey` under `header` as given (its `alg` picks the signature
 * algorithm; nothing is added or checked).
 */
export async function signJws(header: Record<string, unknown>, payload: unknown, privateKey: CryptoKey): Promise<string> {
  const alg = header.alg as JwsAlgorithm;
  const params = SIGN_PARAMS[alg];
  if (params === undefined) throw new TypeError(`signJws: cannot sign ${String(header.alg)}`);
  const signingInput = `${encodeSegment(header)}.${encodeSegment(payload)}`;
  const signature = new Uint8Array(await crypto.subtle.sign(params, privateKey, encoder.encode(signingInput)));
  return `${signingInput}.${base64url.encode(signature)}`;
}
