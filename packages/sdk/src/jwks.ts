/**
 * The issuer's signing keys: either configured statically (no network at all) or read from the
 * issuer's JWKS (RFC 7517 §5) and cached.
 *
 * One store belongs to one issuer, and the verifier has already checked the token's issuer before
 * asking it, so a key is found by (issuer, kid). `kid` is only an exact-match lookup key; nothing
 * else in the token header (`jwk`, `jku`, `x5u`, `x5c`) is ever used to find a key.
 *
 * Remote rules, after panva/jose's remote key set:
 * - keys are refreshed when older than `maxAgeMs`; an unknown `kid` triggers at most one refetch
 *   per `cooldownMs`, and concurrent requests share that single fetch;
 * - when a refetch fails, the last good keys stay in use;
 * - an unknown `kid` that is still unknown is refused (fail closed); while the last fetch failed
 *   (until one succeeds), the answer is 503 instead, because the key may exist: an outage of the
 *   issuer never turns into a 401 for a token signed with a newly rotated key. The 503 says when
 *   the next fetch will be allowed (Retry-After).
 * - a published key that cannot be imported (too short, not on its curve, …) verifies nothing and
 *   is reported to `onError`, naming its `kid`.
 */
import { importJWK, type JWK } from 'jose';
import { keyMatchesAlgorithm, MIN_RSA_MODULUS_BITS, type JwsAlgorithm, type PublicJwk } from './algorithms.ts';
import { AuthError } from './errors.ts';
import { fetchJson, isObject, UpstreamError, type FetchLike } from './upstream.ts';

export interface JsonWebKeySet {
  keys: readonly PublicJwk[];
}

interface KeyEntry {
  readonly jwk: PublicJwk;
  readonly kid: string | undefined;
  readonly imported: Map<JwsAlgorithm, Promise<CryptoKey | undefined>>;
}

export interface RemoteKeysOptions {
  /** Resolves the JWKS URL (from configuration or discovery). */
  jwksUri: () => Promise<string>;
  fetch: FetchLike;
  timeoutMs: number;
  cooldownMs: number;
  maxAgeMs: number;
  now: () => number;
  /** Told about a failed refresh that was absorbed by keeping the last good keys. */
  onStaleKeys: (error: UpstreamError) => void;
  /** Told about a published key that cannot be used. */
  onKeyError: (error: Error) => void;
}

function unknownKey(): AuthError {
  return new AuthError('invalid_token', 'The access token was signed with an unknown key', { scheme: 'Bearer' });
}

function toEntries(jwks: JsonWebKeySet): KeyEntry[] {
  return jwks.keys
    .filter((jwk) => isObject(jwk))
    .map((jwk) => ({ jwk, kid: typeof jwk.kid === 'string' ? jwk.kid : undefined, imported: new Map() }));
}

/**
 * Imports the public part of `jwk` as a key for `alg` only, with jose's `importJWK`. The binding
 * rules (`keyMatchesAlgorithm`) and the RSA size rule are checked here, before jose ever sees the
 * key; jose checks the CryptoKey against the algorithm again when it verifies. Throws when the JWK
 * does not fit the algorithm or is not a usable public key.
 */
async function importVerifyKey(jwk: PublicJwk, alg: JwsAlgorithm): Promise<CryptoKey> {
  if (!keyMatchesAlgorithm(jwk, alg)) throw new Error(`key does not match ${alg}`);
  if (jwk['d'] !== undefined || jwk['p'] !== undefined || jwk['k'] !== undefined) {
    throw new Error('private or symmetric key material in a verification key');
  }
  // Only the public members: `alg`, `use` and `key_ops` were checked above, and jose would pass
  // `key_ops` to WebCrypto as the key's usages. A member of the wrong type fails the import.
  const publicPart = (
    jwk.kty === 'RSA'
      ? { kty: 'RSA', n: jwk['n'], e: jwk['e'] }
      : jwk.kty === 'EC'
        ? { kty: 'EC', crv: jwk.crv, x: jwk['x'], y: jwk['y'] }
        : { kty: 'OKP', crv: jwk.crv, x: jwk['x'] }
  ) as JWK;
  const key = await importJWK(publicPart, alg);
  if (!(key instanceof CryptoKey) || key.type !== 'public') throw new Error('not a public key');
  if (jwk.kty === 'RSA' && (key.algorithm as RsaHashedKeyAlgorithm).modulusLength < MIN_RSA_MODULUS_BITS) {
    throw new Error(`RSA key shorter than ${MIN_RSA_MODULUS_BITS} bits`);
  }
  return key;
}

/** Picks the one key for (kid, alg) among `entries`, or undefined. Ambiguity is refused. */
async function select(
  entries: readonly KeyEntry[],
  kid: string | undefined,
  alg: JwsAlgorithm,
  onKeyError: (error: Error) => void,
): Promise<CryptoKey | undefined> {
  // Exact string comparison; a key without kid never matches a token that names one.
  const candidates = entries.filter((entry) => (kid === undefined || entry.kid === kid) && keyMatchesAlgorithm(entry.jwk, alg));
  if (candidates.length === 0) return undefined;
  if (candidates.length > 1) {
    throw new AuthError('invalid_token', 'The access token does not identify a single signing key', { scheme: 'Bearer' });
  }
  const entry = candidates[0] as KeyEntry;
  let imported = entry.imported.get(alg);
  if (imported === undefined) {
    // A key the issuer published but that cannot be imported verifies nothing.
    imported = importVerifyKey(entry.jwk, alg).catch((error: unknown) => {
      const name = entry.kid === undefined ? 'without kid' : JSON.stringify(entry.kid);
      onKeyError(new Error(`JWKS key ${name} cannot verify ${alg}: ${error instanceof Error ? error.message : String(error)}`, { cause: error }));
      return undefined;
    });
    entry.imported.set(alg, imported);
  }
  const key = await imported;
  if (key === undefined) throw new AuthError('invalid_token', 'The access token\'s signing key is unusable', { scheme: 'Bearer' });
  return key;
}

export interface KeyStore {
  /** The verification key for (kid, alg); throws `AuthError` (401) or `UpstreamError` (503). */
  getKey(kid: string | undefined, alg: JwsAlgorithm): Promise<CryptoKey>;
  /** The issuer said its keys changed: the next lookup fetches them again. */
  expire?(): void;
}

/** Keys given in configuration: never any network. */
export class StaticKeys implements KeyStore {
  readonly #entries: KeyEntry[];
  readonly #onKeyError: (error: Error) => void;

  constructor(jwks: JsonWebKeySet, onKeyError: (error: Error) => void) {
    this.#entries = toEntries(jwks);
    this.#onKeyError = onKeyError;
  }

  async getKey(kid: string | undefined, alg: JwsAlgorithm): Promise<CryptoKey> {
    const key = await select(this.#entries, kid, alg, this.#onKeyError);
    if (key === undefined) throw unknownKey();
    return key;
  }
}

export class RemoteKeys implements KeyStore {
  readonly #options: RemoteKeysOptions;
  /** The last good key set. */
  #entries: KeyEntry[] | undefined;
  #fetchedAt = Number.NEGATIVE_INFINITY;
  #attemptedAt = Number.NEGATIVE_INFINITY;
  #lastFailure: UpstreamError | undefined;
  #inflight: Promise<void> | undefined;

  constructor(options: RemoteKeysOptions) {
    this.#options = options;
  }

  expire(): void {
    this.#fetchedAt = Number.NEGATIVE_INFINITY;
    this.#attemptedAt = Number.NEGATIVE_INFINITY;
  }

  async getKey(kid: string | undefined, alg: JwsAlgorithm): Promise<CryptoKey> {
    const { now, maxAgeMs } = this.#options;

    // 1. Have keys: load them the first time, refresh them when old (keeping them if that fails).
    let refreshFailure: UpstreamError | undefined;
    if (this.#entries === undefined || now() - this.#fetchedAt >= maxAgeMs) {
      await this.#refreshIfAllowed().catch((error: UpstreamError) => {
        refreshFailure = error;
        if (this.#entries !== undefined) this.#options.onStaleKeys(error);
      });
    }
    if (this.#entries === undefined) throw this.#outage() ?? new UpstreamError('jwks', 'no keys loaded');

    const key = await select(this.#entries, kid, alg, this.#options.onKeyError);
    if (key !== undefined) return key;
    // The refresh that could have brought this key just failed: it may exist, so 503.
    if (refreshFailure !== undefined) throw this.#outage() ?? refreshFailure;

    // 2. Unknown kid (perhaps a rotation): one shared refetch per cooldown, then fail closed —
    //    unless the last fetch failed: until one succeeds the key may exist, so 503, not 401.
    const refreshed = await this.#refreshIfAllowed();
    if (!refreshed) throw this.#outage() ?? unknownKey();
    const retried = await select(this.#entries, kid, alg, this.#options.onKeyError);
    if (retried === undefined) throw unknownKey();
    return retried;
  }

  /**
   * Joins the fetch in flight, or starts one if the cooldown allows. Resolves true when a fetch
   * completed, false when none was allowed; rejects with `UpstreamError` when it failed.
   */
  async #refreshIfAllowed(): Promise<boolean> {
    if (this.#inflight === undefined) {
      if (this.#options.now() - this.#attemptedAt < this.#options.cooldownMs) return false;
      this.#attemptedAt = this.#options.now();
      this.#inflight = this.#fetch().finally(() => {
        this.#inflight = undefined;
      });
    }
    await this.#inflight;
    return true;
  }

  async #fetch(): Promise<void> {
    const { fetch, timeoutMs, now } = this.#options;
    try {
      const url = await this.#options.jwksUri();
      const { status, body } = await fetchJson({ endpoint: 'jwks', url, fetch, timeoutMs });
      if (status !== 200) throw new UpstreamError('jwks', `JWKS answered ${status}`);
      if (!isObject(body) || !Array.isArray(body.keys)) throw new UpstreamError('jwks', 'JWKS is not a key set');
      this.#entries = toEntries(body as unknown as JsonWebKeySet);
      this.#fetchedAt = now();
      this.#lastFailure = undefined;
    } catch (error) {
      this.#lastFailure = error instanceof UpstreamError ? error : new UpstreamError('jwks', 'JWKS fetch failed', error);
      throw this.#lastFailure;
    }
  }

  /**
   * While the last fetch failed: the failure, saying when the next fetch may start (what a 503
   * tells the client to wait).
   */
  #outage(): UpstreamError | undefined {
    const failure = this.#lastFailure;
    if (failure === undefined) return undefined;
    const retryAfterMs = Math.max(0, this.#attemptedAt + this.#options.cooldownMs - this.#options.now());
    return new UpstreamError('jwks', failure.message, failure.cause ?? failure, retryAfterMs);
  }
}
