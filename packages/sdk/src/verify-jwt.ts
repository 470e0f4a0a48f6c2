/**
 * Verification of a JWT access token (RFC 9068): jose's `jwtVerify` behind cheap checks that run
 * before any key lookup or network call, with a key resolver that only ever reads this issuer's
 * key set, and jose's errors mapped to `invalid_token` descriptions in one place.
 *
 * Nothing the token says is trusted before its signature is verified, except what is needed to
 * find the key: `alg` (only to refuse it if not configured), `kid`, and `iss` (only to refuse a
 * foreign issuer before any key lookup, so a foreign token can never cause a JWKS fetch).
 *
 * Inside `jwtVerify` (jose/dist/webapi/lib/jws_verify.js, jwt/verify.js, lib/jwt_claims_set.js) the
 * order is: three segments; protected header decoded (strict UTF-8, JSON object); `crit` (RFC 7515
 * §4.1.11, anything but `b64` refused); `alg` against `algorithms`; the key resolver; the signature
 * (`crypto.subtle.verify`); then the claims: `typ`, required claims, `iss`, `aud`, `nbf`, `exp`.
 * So the signature is always checked before any claim is believed.
 */
import { decodeJwt, errors, jwtVerify, type JWTHeaderParameters, type JWTPayload, type JWTVerifyOptions } from 'jose';
import type { JwsAlgorithm } from './algorithms.ts';
import { AuthError } from './errors.ts';
import type { KeyStore } from './jwks.ts';
import { isAudience, type Claims } from './principal.ts';
import { readScopes } from './scopes.ts';

export interface JwtVerifyContext {
  readonly issuer: string;
  readonly audience: string;
  readonly algorithms: readonly JwsAlgorithm[];
  readonly keys: KeyStore;
  /** Seconds of leeway for `exp`, `nbf` and `iat`. */
  readonly clockToleranceSec: number;
  readonly maxTokenLength: number;
  readonly now: () => number;
}

export interface VerifiedJwt {
  readonly claims: Readonly<Claims>;
  readonly scopes: ReadonlySet<string>;
}

/** Every description a token failure can have: fixed strings, safe to send (errors.ts). */
const DESCRIPTIONS = {
  tooLarge: 'The access token is too large',
  encrypted: 'Encrypted tokens (JWE) are not accepted',
  malformed: 'The access token is malformed',
  issuer: 'The access token was issued by another issuer',
  algorithm: 'The access token is signed with an algorithm this API does not accept',
  extension: 'The access token uses an unsupported JWS extension',
  signature: 'The access token signature is invalid',
  type: 'The token is not an access token',
  audience: 'The access token is not meant for this API',
  noExpiry: 'The access token has no valid expiry',
  expired: 'The access token has expired',
  notYetValid: 'The access token is not valid yet',
  issuedInFuture: 'The access token was issued in the future',
} as const;

function invalid(description: string): AuthError {
  return new AuthError('invalid_token', description, { scheme: 'Bearer' });
}

/**
 * Compact JWS (RFC 7515 §7.1): three unpadded base64url segments (RFC 7515 §2), header and payload
 * non-empty. jose decodes with `atob`, which would also accept padding, `+`, `/` and whitespace;
 * this keeps decoding strict and refuses a broken signature segment before any key lookup. The
 * signature may be empty so that `alg: none` is refused for its algorithm, not its shape.
 */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** Builds the verifier once per authenticator; the returned function runs once per (uncached) token. */
export function createJwtVerifier(context: JwtVerifyContext): (token: string) => Promise<VerifiedJwt> {
  const allowed: readonly string[] = context.algorithms;
  const resolveKey = async (header: JWTHeaderParameters): Promise<CryptoKey> => {
    // jose has already refused an `alg` outside `algorithms` (JOSEAlgNotAllowed, before it calls
    // this); checked again so the allow-list never rests on a single line in a dependency. Getting
    // here would be a bug, so it is reported (onError) as well as refused.
    const alg = header.alg;
    if (!allowed.includes(alg)) throw brokenInvariant('the key resolver was called for an algorithm outside the allow-list');
    // RFC 7515 §4.1.11: we implement no extension. jose refuses a `crit` naming anything but `b64`,
    // yet accepts `b64` (RFC 7797) itself and a bare `b64: true`: refuse them all here.
    if (header.crit !== undefined || header.b64 !== undefined) throw invalid(DESCRIPTIONS.extension);
    const kid: unknown = header.kid;
    if (kid !== undefined && typeof kid !== 'string') throw invalid(DESCRIPTIONS.malformed);
    // Exact `kid` in this issuer's key set, bound to `alg`; `jwk`, `jku`, `x5u`, `x5c` are never read.
    return context.keys.getKey(kid, alg as JwsAlgorithm);
  };
  const jwtOptions: JWTVerifyOptions = {
    issuer: context.issuer,
    audience: context.audience,
    algorithms: [...context.algorithms],
    // RFC 9068 §4: an access token says `at+jwt`; jose compares media types case-insensitively
    // with the "application/" prefix optional (RFC 7515 §4.1.9). An ID token (`JWT`) is refused.
    typ: 'at+jwt',
    // RFC 9068 §2.2: access tokens must expire (and `exp` bounds the verified-token cache).
    requiredClaims: ['exp'],
    clockTolerance: context.clockToleranceSec,
  };

  return async (token) => {
    // 1. shape: size cap before any parsing, then three strict base64url segments (5 = JWE).
    if (token.length > context.maxTokenLength) throw invalid(DESCRIPTIONS.tooLarge);
    if (!COMPACT_JWS.test(token)) {
      throw invalid(token.split('.').length === 5 ? DESCRIPTIONS.encrypted : DESCRIPTIONS.malformed);
    }

    // 2. issuer first, on the unverified payload: a token from another issuer is refused before any
    //    key lookup, so it can never cause a JWKS fetch; keys are looked up by (issuer, kid).
    const unverified = decodeUnverified(token);
    if (unverified.iss !== context.issuer) throw invalid(DESCRIPTIONS.issuer);

    // 3. jose: header, crit, alg allow-list, key (resolveKey), signature, typ, iss, aud, nbf, exp.
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, resolveKey, { ...jwtOptions, currentDate: new Date(context.now()) }));
    } catch (error) {
      throw toAuthError(error);
    }

    // 4. the members the principal is built from have the right types.
    const claims = checkClaimTypes(payload);
    // 5. jose checks `iat` only against a maximum age; a token issued beyond the leeway in the
    //    future is refused, as RFC 9068 profiles (and FAPI) do: it was minted by a clock we do
    //    not share, or made to outlive its real lifetime.
    if (claims.iat !== undefined && (claims.iat as number) > context.now() / 1000 + context.clockToleranceSec) {
      throw invalid(DESCRIPTIONS.issuedInFuture);
    }
    return { claims, scopes: readTokenScopes(claims) };
  };
}

/** The payload as the token claims it, before any check: used only to read `iss`. */
function decodeUnverified(token: string): JWTPayload {
  try {
    return decodeJwt(token);
  } catch {
    throw invalid(DESCRIPTIONS.malformed); // payload not base64url, not UTF-8, not JSON, or not an object
  }
}

/**
 * The one place where a jose failure becomes an SDK answer. Errors thrown by the key resolver
 * reach here unwrapped (jose awaits it without a try: jws_verify.js), so an `AuthError` (401) or
 * an `UpstreamError` from the JWKS (503, authenticator.ts) keeps its meaning. Anything else is
 * returned as is: the authenticator refuses it as `invalid_token` and reports it to `onError`.
 */
function toAuthError(error: unknown): unknown {
  if (!(error instanceof errors.JOSEError)) return error;
  switch (error.code) {
    case errors.JOSEAlgNotAllowed.code:
      return invalid(DESCRIPTIONS.algorithm);
    case errors.JOSENotSupported.code:
      // From jwtVerify with an allow-list of supported algorithms and a CryptoKey, this can only be
      // a `crit` naming an extension jose does not implement (lib/validate.js validateCrit).
      return invalid(DESCRIPTIONS.extension);
    case errors.JWSSignatureVerificationFailed.code:
      return invalid(DESCRIPTIONS.signature);
    case errors.JWTExpired.code:
      return invalid(DESCRIPTIONS.expired);
    case errors.JWTClaimValidationFailed.code:
      return invalid(claimFailure(error as errors.JWTClaimValidationFailed));
    default:
      // JWSInvalid, JWTInvalid: header not JSON, `alg` missing, claims not an object, …
      return invalid(DESCRIPTIONS.malformed);
  }
}

function claimFailure({ claim }: errors.JWTClaimValidationFailed): string {
  switch (claim) {
    case 'typ':
      return DESCRIPTIONS.type;
    case 'iss':
      return DESCRIPTIONS.issuer;
    case 'aud':
      return DESCRIPTIONS.audience;
    case 'exp':
      return DESCRIPTIONS.noExpiry; // missing or not a number (an expired one is JWTExpired)
    case 'nbf':
      return DESCRIPTIONS.notYetValid;
    default:
      return DESCRIPTIONS.malformed;
  }
}

/**
 * A guarantee jose gives with our options did not hold. Never caused by a token alone: it is
 * thrown as a plain Error, which the authenticator refuses (401) and reports to `onError`.
 */
function brokenInvariant(message: string): Error {
  return new Error(`JWT verification invariant broken: ${message}`);
}

function checkClaimTypes(payload: JWTPayload): Readonly<Claims> {
  // `requiredClaims: ['exp']` makes jose refuse a token without a numeric exp.
  if (typeof payload.exp !== 'number') throw brokenInvariant('a token without a numeric exp passed jose');
  // jose only checks that exp/nbf/iat are numbers; JSON's 1e400 is Infinity, which would never
  // expire (nor leave the verified-token cache).
  if (!Number.isFinite(payload.exp)) throw invalid(DESCRIPTIONS.noExpiry);
  for (const member of ['nbf', 'iat'] as const) {
    if (payload[member] !== undefined && !Number.isFinite(payload[member])) throw invalid(DESCRIPTIONS.malformed);
  }
  // RFC 7519 §4.1.3: a string or an array of strings (jose only needs one element to match).
  if (!isAudience(payload.aud)) throw invalid(DESCRIPTIONS.audience);
  for (const member of ['sub', 'client_id', 'jti'] as const) {
    if (payload[member] !== undefined && typeof payload[member] !== 'string') throw invalid(DESCRIPTIONS.malformed);
  }
  return Object.freeze({ ...payload }) as Readonly<Claims>;
}

function readTokenScopes(claims: Readonly<Claims>): ReadonlySet<string> {
  const scopes = readScopes(claims);
  if (scopes === undefined) throw invalid(DESCRIPTIONS.malformed);
  return scopes;
}
