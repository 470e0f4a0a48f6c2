/**
 * ES256 through node:crypto, for the tokens Gatehouse issues (issue 14).
 *
 * jose verifies with WebCrypto (`crypto.subtle.verify`), which on Node costs about 1.7× what
 * node:crypto's `verify` does for the same P-256 signature with a key imported once. For an
 * ordinary ES256 token — header a JSON object with `alg: "ES256"`, no `crit` or `b64`, a string
 * `kid` or none, every segment a whole number of base64url characters and a 64-byte signature —
 * verify-jwt.ts takes the same steps as jose's `jwtVerify` in the same order, with this module's
 * signature check and claim validation; every other token goes through jose unchanged, and gets
 * jose's answer. Errors are jose's own classes, so verify-jwt.ts maps both paths in one place.
 *
 * What makes this safe to keep beside jose: `test/es256-native.test.ts` sends a corpus of tokens
 * (every claim and header edge jose checks, forged and truncated signatures) through both paths
 * and requires the same answer, and Project Wycheproof's P-256 vectors run against this path
 * (test/wycheproof.test.ts). node:crypto is loaded with `process.getBuiltinModule`, not imported:
 * on a runtime without it (a worker without Node compatibility), every token goes through jose.
 */
import type { KeyObject } from 'node:crypto';
import { errors, type JWTHeaderParameters, type JWTPayload } from 'jose';

type NodeCrypto = typeof import('node:crypto');
type NodeBuffer = typeof import('node:buffer').Buffer;

const builtin = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process?.getBuiltinModule;
const nodeCrypto = builtin?.('node:crypto') as NodeCrypto | undefined;
const Buffer = (builtin?.('node:buffer') as { Buffer: NodeBuffer } | undefined)?.Buffer;

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** An ES256 signature (RFC 7518 §3.4): r and s, 32 bytes each, 86 base64url characters. */
const SIGNATURE_LENGTH = 86;

export interface NativeEs256 {
  /** Throws jose's JWSSignatureVerificationFailed unless `token`'s signature is `key`'s. */
  verifySignature(token: string, key: CryptoKey): Promise<void>;
}

/** The native verifier, or undefined when node:crypto is not available. */
export const nativeEs256: NativeEs256 | undefined = nodeCrypto && Buffer && createNativeEs256(nodeCrypto, Buffer);

function createNativeEs256(crypto: NodeCrypto, Buffer: NodeBuffer): NativeEs256 {
  // The key set's CryptoKeys live as long as the key set: their KeyObjects are made once.
  const keyObjects = new WeakMap<CryptoKey, KeyObject>();
  const keyObjectOf = (key: CryptoKey): KeyObject => {
    let keyObject = keyObjects.get(key);
    if (keyObject === undefined) {
      // What jose would hand WebCrypto for ES256 (lib/jws_algorithms.js, lib/key.js): a P-256
      // public ECDSA key. The key store binds keys to `alg`; checked again here, as jose does.
      const { algorithm, type } = key;
      if (type !== 'public' || algorithm.name !== 'ECDSA' || (algorithm as EcKeyAlgorithm).namedCurve !== 'P-256') {
        throw new TypeError('ES256 verification needs a P-256 ECDSA public key');
      }
      keyObject = crypto.KeyObject.from(key);
      keyObjects.set(key, keyObject);
    }
    return keyObject;
  };
  return {
    async verifySignature(token, key) {
      const dot = token.lastIndexOf('.');
      const keyObject = keyObjectOf(key);
      let verified: boolean;
      try {
        verified = crypto.verify(
          'sha256',
          Buffer.from(token.slice(0, dot), 'latin1'),
          { key: keyObject, dsaEncoding: 'ieee-p1363' },
          Buffer.from(token.slice(dot + 1), 'base64url'),
        );
      } catch (cause) {
        throw new errors.JWSSignatureVerificationFailed(undefined, { cause });
      }
      if (!verified) throw new errors.JWSSignatureVerificationFailed();
    },
  };
}

/**
 * The protected header of `token` when it is an ordinary ES256 token (see above), else undefined:
 * the token then goes through jose, which gives every unusual header its own answer.
 */
export function ordinaryEs256Header(token: string): JWTHeaderParameters | undefined {
  if (Buffer === undefined) return undefined;
  const first = token.indexOf('.');
  const last = token.lastIndexOf('.');
  // A header of 4n+1 characters is not base64url: jose refuses it, Buffer would drop a character.
  // (Such a payload never gets here: jose's decodeJwt, in verify-jwt.ts, has refused it.)
  if (first % 4 === 1 || token.length - last - 1 !== SIGNATURE_LENGTH) return undefined;
  let header: unknown;
  try {
    header = JSON.parse(strictUtf8.decode(Buffer.from(token.slice(0, first), 'base64url')));
  } catch {
    return undefined;
  }
  if (!isPlainObject(header)) return undefined;
  const { alg, crit, b64, kid } = header;
  if (alg !== 'ES256' || crit !== undefined || b64 !== undefined || (kid !== undefined && typeof kid !== 'string')) return undefined;
  return header as JWTHeaderParameters;
}

export interface ClaimRules {
  readonly issuer: string;
  readonly audience: string;
  readonly typ: string;
  readonly clockToleranceSec: number;
}

/**
 * jose's `validateClaimsSet` (lib/jwt_claims_set.js) for verify-jwt.ts's options — `typ`,
 * `issuer`, `audience`, `requiredClaims: ['exp']`, a numeric `clockTolerance` — in its order and
 * with its errors: `typ`; presence of `iss`, `aud`, `exp`; `iss`; `aud`; `iat` a number; `nbf`;
 * `exp`. `claims` was decoded strictly (UTF-8, a JSON object) by jose's `decodeJwt`, as jose
 * decodes it after the signature.
 */
export function validateClaims(header: JWTHeaderParameters, claims: JWTPayload, rules: ClaimRules, nowMs: number): JWTPayload {
  if (typeof header.typ !== 'string' || normalizeTyp(header.typ) !== normalizeTyp(rules.typ)) {
    throw new errors.JWTClaimValidationFailed('unexpected "typ" JWT header value', claims, 'typ', 'check_failed');
  }
  for (const claim of ['iss', 'aud', 'exp'] as const) {
    if (!Object.hasOwn(claims, claim)) throw new errors.JWTClaimValidationFailed(`missing required "${claim}" claim`, claims, claim, 'missing');
  }
  if (claims.iss !== rules.issuer) throw unexpected(claims, 'iss');
  const { aud } = claims;
  if (!(typeof aud === 'string' ? aud === rules.audience : Array.isArray(aud) && aud.includes(rules.audience))) throw unexpected(claims, 'aud');
  const now = Math.floor(nowMs / 1000);
  const tolerance = rules.clockToleranceSec;
  // A clock that answers NaN or Infinity would make every comparison below pass: jose throws.
  if (!Number.isFinite(now)) throw new TypeError('Invalid currentDate option input');
  if (!Number.isFinite(tolerance) || tolerance < 0) throw new TypeError('Invalid clockTolerance option input');
  numericDate(claims, 'iat');
  const nbf = numericDate(claims, 'nbf');
  if (nbf !== undefined && nbf > now + tolerance) {
    throw new errors.JWTClaimValidationFailed('"nbf" claim timestamp check failed', claims, 'nbf', 'check_failed');
  }
  const exp = numericDate(claims, 'exp');
  if (exp !== undefined && exp <= now - tolerance) throw new errors.JWTExpired('"exp" claim timestamp check failed', claims, 'exp', 'check_failed');
  return claims;
}

function numericDate(claims: JWTPayload, claim: 'iat' | 'nbf' | 'exp'): number | undefined {
  const value = claims[claim];
  if (value === undefined) return undefined;
  if (typeof value !== 'number') throw new errors.JWTClaimValidationFailed(`"${claim}" claim must be a number`, claims, claim, 'invalid');
  return value;
}

function unexpected(claims: JWTPayload, claim: string): errors.JWTClaimValidationFailed {
  return new errors.JWTClaimValidationFailed(`unexpected "${claim}" claim value`, claims, claim, 'check_failed');
}

/** RFC 7515 §4.1.9: media types compare case-insensitively, "application/" optional (as jose). */
function normalizeTyp(value: string): string {
  const normalized = value.toLowerCase();
  return value.includes('/') ? normalized : `application/${normalized}`;
}

/**
 * jose's isObject (lib/validate.js) for what JSON.parse can return: an object, not an array or null
 * (JSON.parse makes no other kind of object; a "__proto__" member is an own property).
 */
function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
