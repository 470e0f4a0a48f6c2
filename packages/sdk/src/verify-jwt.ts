/**
 * Verification of a JWT access token (RFC 9068), as a list of named checks in the order they run.
 * Nothing the token says is trusted before its signature is verified, except what is needed to
 * find the key: `alg` (only to refuse it if not configured), `kid`, and `iss` (only to refuse a
 * foreign issuer before any key lookup or network call).
 */
import { AuthError } from './errors.ts';
import { decodeCompactJws } from './jws.ts';
import type { KeyStore } from './jwks.ts';
import { isAudience, type Claims } from './principal.ts';
import { readScopes } from './scopes.ts';
import { verifySignature, type JwsAlgorithm } from './signature.ts';

export interface JwtVerifyContext {
  readonly issuer: string;
  readonly audience: string;
  readonly algorithms: readonly JwsAlgorithm[];
  readonly keys: KeyStore;
  /** Seconds of leeway for `exp` and `nbf`. */
  readonly clockToleranceSec: number;
  readonly maxTokenLength: number;
  readonly now: () => number;
}

export interface VerifiedJwt {
  readonly claims: Readonly<Claims>;
  readonly scopes: ReadonlySet<string>;
}

function invalid(description: string): AuthError {
  return new AuthError('invalid_token', description, { scheme: 'Bearer' });
}

export async function verifyJwt(token: string, context: JwtVerifyContext): Promise<VerifiedJwt> {
  // 1. decode: size cap, three segments, base64url, UTF-8, JSON objects (jws.ts).
  const { header, payload, signingInput, signature } = decodeCompactJws(token, context.maxTokenLength);

  // 2. algorithm: only the configured ones, compared exactly, so `none` in any casing and HS* with
  //    a public key never get further (RFC 8725 §3.1). The key's type is then bound to it.
  const alg = header.alg;
  if (typeof alg !== 'string' || !(context.algorithms as readonly string[]).includes(alg)) {
    throw invalid('The access token is signed with an algorithm this API does not accept');
  }

  // 3. critical headers: we implement no extension, so any `crit` (or unencoded payload, RFC 7797)
  //    must be refused (RFC 7515 §4.1.11).
  if (header.crit !== undefined || header.b64 !== undefined) {
    throw invalid('The access token uses an unsupported JWS extension');
  }

  // 4. issuer first: a token from another issuer is refused before any key lookup, so it can
  //    never cause a JWKS fetch; keys are looked up by (issuer, kid).
  if (payload.iss !== context.issuer) throw invalid('The access token was issued by another issuer');

  // 5. key: exact `kid` lookup in this issuer's key set; `jwk`, `jku`, `x5u`, `x5c` are ignored.
  const kid = header.kid;
  if (kid !== undefined && typeof kid !== 'string') throw invalid('The access token is malformed');
  const key = await context.keys.getKey(kid, alg as JwsAlgorithm);

  // 6. signature, before any claim is believed.
  if (!(await verifySignature(alg as JwsAlgorithm, key, signingInput, signature))) {
    throw invalid('The access token signature is invalid');
  }

  // 7. type: RFC 9068 §4 — `at+jwt` (or `application/at+jwt`); an ID token is not an access token.
  if (!isAccessTokenType(header.typ)) throw invalid('The token is not an access token');

  // 8. claims, with a small leeway for clock skew on exp/nbf only.
  return { claims: checkClaims(payload, context), scopes: readTokenScopes(payload) };
}

function isAccessTokenType(typ: unknown): boolean {
  if (typeof typ !== 'string') return false;
  // RFC 7515 §4.1.9: media type names are case-insensitive and "application/" may be omitted.
  const normalized = typ.toLowerCase();
  return normalized === 'at+jwt' || normalized === 'application/at+jwt';
}

function checkClaims(payload: Readonly<Record<string, unknown>>, context: JwtVerifyContext): Readonly<Claims> {
  const now = context.now() / 1000;
  const leeway = context.clockToleranceSec;

  // iss: exact string equality (already seen above; repeated here where claims are checked).
  if (payload.iss !== context.issuer) throw invalid('The access token was issued by another issuer');

  // aud: must name this API exactly (RFC 9068 §4); an array is fine if one element matches.
  const aud = payload.aud;
  if (!isAudience(aud) || !(typeof aud === 'string' ? aud === context.audience : aud.includes(context.audience))) {
    throw invalid('The access token is not meant for this API');
  }

  // exp: required for access tokens (RFC 9068 §2.2); expired beyond the leeway is refused.
  const exp = payload.exp;
  if (!isNumericDate(exp)) throw invalid('The access token has no valid expiry');
  if (exp <= now - leeway) throw invalid('The access token has expired');

  // nbf: optional; not yet valid beyond the leeway is refused.
  const nbf = payload.nbf;
  if (nbf !== undefined && (!isNumericDate(nbf) || nbf > now + leeway)) throw invalid('The access token is not valid yet');

  // Types of the members the principal is built from.
  for (const member of ['sub', 'client_id', 'jti'] as const) {
    if (payload[member] !== undefined && typeof payload[member] !== 'string') throw invalid('The access token is malformed');
  }
  if (payload.iat !== undefined && !isNumericDate(payload.iat)) throw invalid('The access token is malformed');
  return Object.freeze({ ...payload }) as Readonly<Claims>;
}

function readTokenScopes(payload: Readonly<Record<string, unknown>>): ReadonlySet<string> {
  const scopes = readScopes(payload);
  if (scopes === undefined) throw invalid('The access token is malformed');
  return scopes;
}

function isNumericDate(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}
