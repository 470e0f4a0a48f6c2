/**
 * The signature algorithms an API may accept, and which keys each of them may use. The signature
 * itself is verified by jose (`verify-jwt.ts`); these rules decide which published key jose is
 * even given (`jwks.ts`), so a key is never used with an algorithm it was not made for.
 *
 * Only asymmetric algorithms exist here. HS* would let a public key be used as an HMAC secret
 * (the classic algorithm-confusion attack, RFC 8725 §2.1), and `none` is no signature at all.
 */

export const SUPPORTED_ALGORITHMS = [
  'ES256', 'ES384', 'ES512',
  'RS256', 'RS384', 'RS512',
  'PS256', 'PS384', 'PS512',
  'EdDSA', 'Ed25519',
] as const;

export type JwsAlgorithm = (typeof SUPPORTED_ALGORITHMS)[number];

export function isSupportedAlgorithm(value: unknown): value is JwsAlgorithm {
  return typeof value === 'string' && (SUPPORTED_ALGORITHMS as readonly string[]).includes(value);
}

/** The key type (and curve) bound to each algorithm: RFC 8725 §3.1, the key decides, not the token. */
const KEY_TYPES: Record<JwsAlgorithm, { readonly kty: 'EC' | 'RSA' | 'OKP'; readonly crv?: string }> = {
  // RFC 7518 §3.4: ES256 is P-256 only, ES384 P-384, ES512 P-521.
  ES256: { kty: 'EC', crv: 'P-256' },
  ES384: { kty: 'EC', crv: 'P-384' },
  ES512: { kty: 'EC', crv: 'P-521' },
  RS256: { kty: 'RSA' },
  RS384: { kty: 'RSA' },
  RS512: { kty: 'RSA' },
  PS256: { kty: 'RSA' },
  PS384: { kty: 'RSA' },
  PS512: { kty: 'RSA' },
  // RFC 8037 §3.1 / RFC 9864: EdDSA and Ed25519 both mean an Ed25519 OKP key here.
  EdDSA: { kty: 'OKP', crv: 'Ed25519' },
  Ed25519: { kty: 'OKP', crv: 'Ed25519' },
};

/** RFC 8725 §3.5 / NIST SP 800-131A: RSA keys shorter than 2048 bits are refused. */
export const MIN_RSA_MODULUS_BITS = 2048;

/** A public JWK as found in a JWKS (only the members used here are typed). */
export interface PublicJwk {
  kty?: unknown;
  crv?: unknown;
  kid?: unknown;
  alg?: unknown;
  use?: unknown;
  key_ops?: unknown;
  [member: string]: unknown;
}

/**
 * Whether `jwk` may verify signatures made with `alg`: key type and curve bound to the algorithm,
 * and the JWK's own `alg`, `use` and `key_ops` (RFC 7517 §4) not saying otherwise.
 */
export function keyMatchesAlgorithm(jwk: PublicJwk, alg: JwsAlgorithm): boolean {
  const expected = KEY_TYPES[alg];
  if (jwk.kty !== expected.kty) return false;
  if (expected.crv !== undefined && jwk.crv !== expected.crv) return false;
  if (jwk.alg !== undefined && jwk.alg !== alg && !isEdDsaPair(jwk.alg, alg)) return false;
  if (jwk.use !== undefined && jwk.use !== 'sig') return false;
  if (jwk.key_ops !== undefined && !(Array.isArray(jwk.key_ops) && jwk.key_ops.includes('verify'))) return false;
  return true;
}

// RFC 9864 names Ed25519 what RFC 8037 called EdDSA with crv Ed25519: the same key serves both.
function isEdDsaPair(a: unknown, b: JwsAlgorithm): boolean {
  return (a === 'EdDSA' && b === 'Ed25519') || (a === 'Ed25519' && b === 'EdDSA');
}
