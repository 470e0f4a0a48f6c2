/**
 * JWS signature verification with WebCrypto: which key types each algorithm may use, how a JWK
 * becomes a verification key for exactly one algorithm, and the signature check itself.
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

interface AlgorithmSpec {
  /** The key type bound to this algorithm (RFC 8725 §3.1: the key decides, not the token). */
  kty: 'EC' | 'RSA' | 'OKP';
  crv?: 'P-256' | 'P-384' | 'P-521' | 'Ed25519';
  importParams: EcKeyImportParams | RsaHashedImportParams | Algorithm;
  verifyParams: EcdsaParams | RsaPssParams | Algorithm;
  /** Exact signature length in bytes where the algorithm fixes it (RFC 7518 §3.4, RFC 8037 §3.1). */
  signatureLength?: number;
}

const SPECS: Record<JwsAlgorithm, AlgorithmSpec> = {
  ES256: ec('P-256', 'SHA-256', 64),
  ES384: ec('P-384', 'SHA-384', 96),
  ES512: ec('P-521', 'SHA-512', 132),
  RS256: rsa('RSASSA-PKCS1-v1_5', 'SHA-256'),
  RS384: rsa('RSASSA-PKCS1-v1_5', 'SHA-384'),
  RS512: rsa('RSASSA-PKCS1-v1_5', 'SHA-512'),
  // RFC 7518 §3.5: the PSS salt is as long as the hash.
  PS256: rsa('RSA-PSS', 'SHA-256', 32),
  PS384: rsa('RSA-PSS', 'SHA-384', 48),
  PS512: rsa('RSA-PSS', 'SHA-512', 64),
  EdDSA: ed25519(),
  Ed25519: ed25519(),
};

function ec(crv: 'P-256' | 'P-384' | 'P-521', hash: string, signatureLength: number): AlgorithmSpec {
  return {
    kty: 'EC',
    crv,
    importParams: { name: 'ECDSA', namedCurve: crv },
    verifyParams: { name: 'ECDSA', hash },
    signatureLength,
  };
}

function rsa(name: 'RSASSA-PKCS1-v1_5' | 'RSA-PSS', hash: string, saltLength?: number): AlgorithmSpec {
  return {
    kty: 'RSA',
    importParams: { name, hash },
    verifyParams: saltLength === undefined ? { name } : { name, saltLength },
  };
}

function ed25519(): AlgorithmSpec {
  return { kty: 'OKP', crv: 'Ed25519', importParams: { name: 'Ed25519' }, verifyParams: { name: 'Ed25519' }, signatureLength: 64 };
}

/** RFC 8725 §3.5 / NIST SP 800-131A: RSA keys shorter than 2048 bits are refused. */
const MIN_RSA_MODULUS_BITS = 2048;

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
  const spec = SPECS[alg];
  if (jwk.kty !== spec.kty) return false;
  if (spec.crv !== undefined && jwk.crv !== spec.crv) return false;
  if (jwk.alg !== undefined && jwk.alg !== alg && !(isEdDsaPair(jwk.alg, alg))) return false;
  if (jwk.use !== undefined && jwk.use !== 'sig') return false;
  if (jwk.key_ops !== undefined && !(Array.isArray(jwk.key_ops) && jwk.key_ops.includes('verify'))) return false;
  return true;
}

// RFC 9864 names Ed25519 what RFC 8037 called EdDSA with crv Ed25519: the same key serves both.
function isEdDsaPair(a: unknown, b: JwsAlgorithm): boolean {
  return (a === 'EdDSA' && b === 'Ed25519') || (a === 'Ed25519' && b === 'EdDSA');
}

/**
 * Imports the public part of `jwk` as a key usable only to verify `alg` signatures.
 * Throws when the JWK does not fit the algorithm or is not a valid public key.
 */
export async function importVerifyKey(jwk: PublicJwk, alg: JwsAlgorithm): Promise<CryptoKey> {
  if (!keyMatchesAlgorithm(jwk, alg)) throw new Error(`key does not match ${alg}`);
  if (jwk['d'] !== undefined || jwk['p'] !== undefined || jwk['k'] !== undefined) {
    throw new Error('private or symmetric key material in a verification key');
  }
  const spec = SPECS[alg];
  // Only the public members: other members (alg, key_ops, ext) would be checked by WebCrypto
  // against the import parameters and are already checked above.
  const publicPart: JsonWebKey =
    spec.kty === 'RSA'
      ? { kty: 'RSA', n: asString(jwk['n']), e: asString(jwk['e']) }
      : spec.kty === 'EC'
        ? { kty: 'EC', crv: asString(jwk.crv), x: asString(jwk['x']), y: asString(jwk['y']) }
        : { kty: 'OKP', crv: asString(jwk.crv), x: asString(jwk['x']) };
  const key = await crypto.subtle.importKey('jwk', publicPart, spec.importParams, false, ['verify']);
  if (spec.kty === 'RSA') {
    const { modulusLength } = key.algorithm as RsaHashedKeyAlgorithm;
    if (modulusLength < MIN_RSA_MODULUS_BITS) throw new Error(`RSA key shorter than ${MIN_RSA_MODULUS_BITS} bits`);
  }
  return key;
}

function asString(value: unknown): string {
  if (typeof value !== 'string') throw new Error('JWK member is not a string');
  return value;
}

/**
 * Verifies a JWS signature over `signingInput`. Never throws: any failure is `false`.
 * ECDSA signatures must be exactly 2 × the curve size in the IEEE P1363 form RFC 7518 §3.4
 * requires; a DER signature or a short one is refused before WebCrypto sees it.
 */
export async function verifySignature(
  alg: JwsAlgorithm,
  key: CryptoKey,
  signingInput: Uint8Array<ArrayBuffer>,
  signature: Uint8Array<ArrayBuffer>,
): Promise<boolean> {
  const spec = SPECS[alg];
  if (spec.signatureLength !== undefined && signature.byteLength !== spec.signatureLength) return false;
  if (!keyFitsAlgorithm(key, spec)) return false;
  try {
    return await crypto.subtle.verify(spec.verifyParams, key, signature, signingInput);
  } catch {
    return false;
  }
}

/** Defence in depth: the CryptoKey itself must be of the algorithm's family and curve. */
function keyFitsAlgorithm(key: CryptoKey, spec: AlgorithmSpec): boolean {
  const imported = key.algorithm as Partial<EcKeyAlgorithm & RsaHashedKeyAlgorithm>;
  const expected = spec.importParams as Partial<EcKeyImportParams & RsaHashedImportParams>;
  if (imported.name !== expected.name) return false;
  if (expected.namedCurve !== undefined && imported.namedCurve !== expected.namedCurve) return false;
  if (expected.hash !== undefined && imported.hash?.name !== expected.hash) return false;
  return key.usages.includes('verify');
}
