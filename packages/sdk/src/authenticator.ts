/**
 * The authenticator: created once per API, it takes a request and a route's requirement and
 * answers with a principal or with the exact error response to send. Adapters only translate.
 */
import { assertWellFormed, extractCredential, schemeOf, type AuthRequest, type Credential, type SourceName } from './credentials.ts';
import { checkCrossOrigin } from './cross-origin.ts';
import { Discovery, type IssuerMetadata } from './discovery.ts';
import { AuthError, toErrorResponse, type ChallengeOptions, type ErrorResponse } from './errors.ts';
import { FailureThrottle } from './failure-throttle.ts';
import { Introspector, type IntrospectionResult } from './introspect.ts';
import { RemoteKeys, StaticKeys, type KeyStore } from './jwks.ts';
import { LruCache } from './lru.ts';
import { resolveOptions, type AuthenticatorOptions, type ResolvedOptions } from './options.ts';
import { buildPrincipal, isAudience, type Claims, type Principal } from './principal.ts';
import { Revocations } from './revocations.ts';
import { SignalReceiver, type ReceiveOutcome, type SignalEffect, type SignalsStatus } from './signals.ts';
import { authorize, ResolvedRequirement, type AuthRequirement } from './requirement.ts';
import type { ResolvedProtectedResource } from './protected-resource.ts';
import { UpstreamError } from './upstream.ts';
import { createJwtVerifier, type VerifiedJwt } from './verify-jwt.ts';

export type AuthOutcome =
  | {
      readonly ok: true;
      readonly principal: Principal | undefined;
      /**
       * Headers the answer must carry, set by every adapter: `Cache-Control: no-store` when the
       * credential came in the URL (RFC 6750 §2.3: a cache keyed by URL would hand the response,
       * obtained with someone's token, to whoever asks for the same URL).
       */
      readonly headers?: Readonly<Record<string, string>> | undefined;
    }
  | { readonly ok: false; readonly error: AuthError; readonly response: ErrorResponse };

/** What adapters and the OpenAPI builder need to know about the configuration. */
export interface AuthenticatorDescription {
  readonly issuer: string;
  readonly audience: string;
  readonly realm: string;
  readonly locations: ResolvedOptions['locations'];
  readonly enabledSources: ReadonlySet<SourceName>;
  readonly defaultSources: ReadonlySet<SourceName>;
  /** Opaque tokens and API keys are checked by introspection. */
  readonly introspection: boolean;
  /** Failed introspections are throttled per client address (429 with Retry-After). */
  readonly failureLimit: boolean;
  /** A request may need the issuer (discovery, JWKS or introspection), so a 503 is possible. */
  readonly usesIssuer: boolean;
  /** RFC 9728 metadata to serve (its path, absolute URL and document), when `protectedResource` is set. */
  readonly protectedResource: ResolvedProtectedResource | undefined;
  /** With `signals`: how events come, and for push the path of the route the adapter mounts. */
  readonly signals: { readonly delivery: 'poll' | 'push'; readonly pushPath: string | undefined } | undefined;
}

/**
 * Where the client's address is read from, only when the failure limit needs it: adapters may
 * compute it lazily (Fastify's `request.ip` parses forwarding headers under `trustProxy`), and a
 * cache hit never reads it.
 */
type ClientAddress = Pick<AuthRequest, 'clientIp'>;

export interface Authenticator {
  /** Checks a request against a route's requirement; never throws for request or token problems. */
  authenticate(request: AuthRequest, requirement?: AuthRequirement | ResolvedRequirement): Promise<AuthOutcome>;
  /**
   * The same, but answers synchronously when it can without I/O (a credential verified or
   * introspected before and still cached): for adapters, so a busy API's hot path allocates no
   * promise. Otherwise returns the promise `authenticate` would.
   */
  authenticateNow(request: AuthRequest, requirement?: AuthRequirement | ResolvedRequirement): AuthOutcome | Promise<AuthOutcome>;
  /**
   * Verifies one credential outside HTTP (a WebSocket message, a job). `apiKey: true` treats it
   * as an API key. Throws `AuthError`.
   */
  verify(credential: string, options?: { apiKey?: boolean; clientIp?: string }): Promise<Principal>;
  /** Validates a requirement once, at route declaration; throws a TypeError naming the problem. */
  requirement(input?: AuthRequirement, label?: string): ResolvedRequirement;
  /** The issuer's discovery document (fetched once). Rejects when it cannot be read or names another issuer. */
  discover(): Promise<IssuerMetadata>;
  /**
   * Starts what runs beside the requests: the Shared Signals stream, with the `signals` option
   * (adapters call it as the app starts). Rejects if the stream could not be made now; polling
   * keeps trying in the background, and `status()` says how it goes.
   */
  start(): Promise<void>;
  /** Stops it and deletes the stream (adapters call it as the app closes). */
  close(): Promise<void>;
  /** How the revocation stream goes: `off` without the `signals` option. */
  status(): { readonly signals: SignalsStatus };
  /** A SET pushed by the issuer (RFC 8935), for the adapters' push route: 202, or the error to answer. */
  receiveSignal(set: string, authorization: string | undefined): Promise<ReceiveOutcome>;
  readonly description: AuthenticatorDescription;
}

export function createAuthenticator(options: AuthenticatorOptions): Authenticator {
  return new GatehouseAuthenticator(resolveOptions(options));
}

class GatehouseAuthenticator implements Authenticator {
  readonly #options: ResolvedOptions;
  readonly #discovery: Discovery;
  readonly #verifyToken: (token: string) => Promise<VerifiedJwt>;
  readonly #introspector: Introspector | undefined;
  /** Set when verified JWTs are also introspected (`introspection.checkJwts`). */
  readonly #jwtIntrospector: Introspector | undefined;
  readonly #throttle: FailureThrottle | undefined;
  /** Verified JWTs by token: a reused token is verified once, and never served past its exp. */
  readonly #verified: LruCache<Principal>;
  readonly #tokenPrincipals = new WeakMap<IntrospectionResult, Principal>();
  readonly #keyPrincipals = new WeakMap<IntrospectionResult, Principal>();
  readonly #defaultRequirement: ResolvedRequirement;
  readonly #keys: KeyStore;
  /** JWTs revoked by security events (signals); undefined without the option. */
  readonly #revocations: Revocations | undefined;
  readonly #signals: SignalReceiver | undefined;
  readonly description: AuthenticatorDescription;

  constructor(options: ResolvedOptions) {
    this.#options = options;
    this.#discovery = new Discovery({
      issuer: options.issuer,
      fetch: options.fetch,
      timeoutMs: options.timeoutMs,
      retryAfterMs: options.jwksCooldownMs,
      now: options.now,
    });
    const keys: KeyStore =
      options.jwks !== undefined
        ? new StaticKeys(options.jwks, options.onError)
        : new RemoteKeys({
            jwksUri: async () => options.jwksUri ?? this.#endpoint('jwks_uri'),
            fetch: options.fetch,
            timeoutMs: options.timeoutMs,
            cooldownMs: options.jwksCooldownMs,
            maxAgeMs: options.jwksMaxAgeMs,
            now: options.now,
            onStaleKeys: options.onError,
            onKeyError: options.onError,
          });
    this.#keys = keys;
    this.#verifyToken = createJwtVerifier({
      issuer: options.issuer,
      audience: options.audience,
      algorithms: options.algorithms,
      keys,
      clockToleranceSec: options.clockTolerance,
      maxTokenLength: options.maxTokenLength,
      now: options.now,
    });
    const introspection = options.introspection;
    this.#introspector =
      introspection === undefined
        ? undefined
        : new Introspector({
            endpoint: async () => introspection.endpoint ?? this.#endpoint('introspection_endpoint'),
            clientId: introspection.clientId,
            clientSecret: introspection.clientSecret,
            fetch: options.fetch,
            timeoutMs: options.timeoutMs,
            cacheTtlMs: introspection.cacheTtl * 1000,
            negativeCacheTtlMs: introspection.negativeCacheTtl * 1000,
            cacheSize: introspection.cacheSize,
            negativeCacheSize: introspection.negativeCacheSize,
            now: options.now,
          });
    this.#jwtIntrospector = introspection?.checkJwts === true ? this.#introspector : undefined;
    const limit = introspection?.failureLimit;
    this.#throttle =
      limit === undefined
        ? undefined
        : new FailureThrottle({ max: limit.max, windowMs: limit.window * 1000, addresses: limit.addresses, now: options.now });
    this.#verified = new LruCache(options.tokenCacheSize);
    const signals = options.signals;
    this.#revocations = signals === undefined ? undefined : new Revocations({ maxEntries: signals.maxRevocations, retentionSec: signals.retentionSec });
    this.#signals =
      signals === undefined
        ? undefined
        : new SignalReceiver({
            issuer: options.issuer,
            signals,
            fetch: options.fetch,
            timeoutMs: options.timeoutMs,
            clockToleranceSec: options.clockTolerance,
            now: options.now,
            keys,
            algorithms: options.algorithms,
            tokenEndpoint: async () => {
              const endpoint = (await this.#discovery.get()).token_endpoint;
              if (endpoint === undefined) throw new UpstreamError('discovery', 'discovery document has no token_endpoint');
              return endpoint;
            },
            apply: (effect) => this.#apply(effect),
            onError: options.onError,
          });
    this.description = Object.freeze({
      issuer: options.issuer,
      audience: options.audience,
      realm: options.realm,
      locations: options.locations,
      enabledSources: options.enabledSources,
      defaultSources: options.defaultSources,
      introspection: introspection !== undefined,
      failureLimit: this.#throttle !== undefined,
      usesIssuer: options.jwks === undefined || introspection !== undefined,
      protectedResource: options.protectedResource,
      signals: signals === undefined ? undefined : { delivery: signals.delivery, pushPath: signals.pushUrl === undefined ? undefined : new URL(signals.pushUrl).pathname },
    });
    this.#defaultRequirement = this.requirement({});
  }

  requirement(input: AuthRequirement = {}, label = 'auth'): ResolvedRequirement {
    return new ResolvedRequirement(input, this.#options.enabledSources, this.#options.defaultSources, label);
  }

  discover(): Promise<IssuerMetadata> {
    return this.#discovery.get();
  }

  async start(): Promise<void> {
    await this.#signals?.start();
  }

  async close(): Promise<void> {
    await this.#signals?.close();
  }

  status(): { readonly signals: SignalsStatus } {
    return { signals: this.#signals?.status() ?? SIGNALS_OFF };
  }

  async receiveSignal(set: string, authorization: string | undefined): Promise<ReceiveOutcome> {
    if (this.#signals === undefined) return { ok: false, status: 400, err: 'invalid_request', description: 'This API receives no security events' };
    try {
      return await this.#signals.receive(set, authorization);
    } catch (error) {
      // The keys could not be fetched: the transmitter tries again later.
      this.#options.onError(error instanceof Error ? error : new Error(String(error)));
      throw error;
    }
  }

  /** What a security event asks: forget what it names, and refuse the JWTs it revoked. */
  #apply(effect: SignalEffect): void {
    switch (effect.kind) {
      case 'revoke': {
        const { subject } = effect;
        this.#revocations!.revoke(subject, effect.at, this.#options.now() / 1000);
        const named = (claims: Readonly<Claims>): boolean =>
          subject.kind === 'user'
            ? claims.sub === subject.sub
            : subject.kind === 'client'
              ? claims.client_id === subject.clientId
              : claims.sub === subject.sub && claims.client_id === subject.clientId;
        this.#verified.deleteWhere((principal) => named(principal.claims));
        this.#introspector?.evict(named);
        return;
      }
      case 'api-key':
        this.#introspector?.evict((claims) => claims.gatehouse_key_id === effect.keyId);
        return;
      case 'keys':
        this.#keys.expire?.();
        return;
      default:
        return;
    }
  }

  async authenticate(request: AuthRequest, requirement?: AuthRequirement | ResolvedRequirement): Promise<AuthOutcome> {
    return this.authenticateNow(request, requirement);
  }

  authenticateNow(request: AuthRequest, requirement?: AuthRequirement | ResolvedRequirement): AuthOutcome | Promise<AuthOutcome> {
    const route =
      requirement === undefined
        ? this.#defaultRequirement
        : requirement instanceof ResolvedRequirement
          ? requirement
          : this.requirement(requirement);
    let credential: Credential;
    try {
      // 1. extract: the one credential among the sources this route accepts (400 if several).
      const found = extractCredential(request, this.#options.locations, route.sources, this.#options.maxTokenLength);
      if (found === undefined) {
        // RFC 6750 §3.1: no credential → 401 without error code; optional routes go on anonymously.
        if (route.optional) return { ok: true, principal: undefined };
        throw new AuthError('missing_credentials', 'Authentication is required');
      }
      credential = found;
      // 2. cross-origin: a cookie credential on an unsafe method must come from a trusted origin.
      checkCrossOrigin(request, credential, this.#options.trustedOrigins);
      // 3a. resolve from cache, with no I/O and no promise: the hot path of a busy API.
      const cached = this.#cachedPrincipal(credential, request);
      if (cached !== undefined) {
        // 4. authorize: principal kind, then scopes (403 insufficient_scope).
        authorize(cached, route);
        return credential.location === 'query' ? { ok: true, principal: cached, headers: NO_STORE } : { ok: true, principal: cached };
      }
    } catch (error) {
      return this.#failure(error, route);
    }
    return this.#authenticateUncached(credential, route, request);
  }

  async #authenticateUncached(credential: Credential, route: ResolvedRequirement, client: ClientAddress): Promise<AuthOutcome> {
    try {
      // 3b. resolve: a JWT is verified locally (then, with checkJwts, introspected); anything else
      // is introspected unless its address is over the failure limit (429).
      const principal = await this.#resolve(credential, client);
      // 4. authorize: principal kind, then scopes (403 insufficient_scope).
      authorize(principal, route);
      return credential.location === 'query' ? { ok: true, principal, headers: NO_STORE } : { ok: true, principal };
    } catch (error) {
      return this.#failure(error, route);
    }
  }

  #failure(error: unknown, route: ResolvedRequirement): AuthOutcome {
    const authError = this.#toAuthError(error);
    authError.response = toErrorResponse(authError, this.#challenge(route));
    return { ok: false, error: authError, response: authError.response };
  }

  /**
   * The principal for a credential already verified or introspected, if it is still cached; throws
   * when a cached answer refuses it. No I/O.
   */
  #cachedPrincipal(credential: Credential, client: ClientAddress): Principal | undefined {
    if (this.#isJwt(credential)) {
      const principal = this.#verified.get(credential.value, this.#options.now());
      if (principal === undefined) return principal;
      // Revoked by a security event since it was verified (one size check when nothing is).
      if (this.#revocations !== undefined && this.#revocations.size !== 0 && this.#revocations.refuses(principal.claims)) throw revokedJwt();
      if (this.#jwtIntrospector === undefined) return principal;
      // checkJwts: a verified JWT also needs a cached answer from the issuer that it is still active.
      const answer = this.#jwtIntrospector.cached(credential.value);
      if (answer !== undefined && !answer.active) throw revokedJwt();
      return answer === undefined ? undefined : principal;
    }
    const result = this.#introspector?.cached(credential.value);
    if (result === undefined) return undefined;
    // An address over the limit gets 429 for a known-bad credential too: the answer does not
    // depend on what it sends.
    if (!result.active) this.#throttle?.check(client.clientIp, schemeOf(credential.source));
    return this.#principalFromIntrospection(result, credential);
  }

  async verify(credential: string, options: { apiKey?: boolean; clientIp?: string } = {}): Promise<Principal> {
    if (typeof credential !== 'string' || credential === '') throw new AuthError('missing_credentials', 'Authentication is required');
    if (credential.length > this.#options.maxTokenLength) throw new AuthError('invalid_token', 'The credential is too large');
    try {
      const source = options.apiKey === true ? 'apiKey' : 'bearer';
      return await this.#resolve({ value: credential, source, location: 'header' }, options);
    } catch (error) {
      throw this.#toAuthError(error);
    }
  }

  // API keys are always introspected; a token that looks like a JWS (has dots) is verified
  // locally, so an opaque token or API key never has a dot (RFC 7515 §7.1).
  #isJwt(credential: Credential): boolean {
    return credential.source !== 'apiKey' && credential.value.includes('.');
  }

  async #resolve(credential: Credential, client: ClientAddress): Promise<Principal> {
    assertWellFormed(credential);
    if (!this.#isJwt(credential)) return this.#introspect(credential, client);
    // The signature first: only a token the issuer signed is ever introspected.
    const principal = await this.#verifyJwt(credential.value);
    if (this.#jwtIntrospector !== undefined) {
      // checkJwts: RFC 7662 says whether it was revoked since (grant, user or client).
      const answer = await this.#jwtIntrospector.introspect(credential.value, 'access_token');
      if (!answer.active) throw revokedJwt();
    }
    return principal;
  }

  async #verifyJwt(token: string): Promise<Principal> {
    const now = this.#options.now();
    const cached = this.#verified.get(token, now);
    if (cached !== undefined) return cached;
    const { claims, scopes } = await this.#verifyToken(token);
    if (this.#revocations !== undefined && this.#revocations.size !== 0 && this.#revocations.refuses(claims)) throw revokedJwt();
    const principal = buildPrincipal('token', claims, scopes);
    // exp is required and checked, so the entry ends when the token does.
    this.#verified.set(token, principal, (claims.exp as number) * 1000, now);
    return principal;
  }

  async #introspect(credential: Credential, client: ClientAddress): Promise<Principal> {
    if (this.#introspector === undefined) {
      // Without introspection only JWTs can be checked; anything else cannot be valid here.
      throw new AuthError('invalid_token', 'The access token is malformed', { scheme: schemeOf(credential.source) });
    }
    const isApiKey = credential.source === 'apiKey';
    // Failure limit: an address with too many inactive answers gets 429 before another call;
    // this call counts as failed unless it answers active.
    const attempt = this.#throttle?.reserve(client.clientIp, schemeOf(credential.source));
    let result: IntrospectionResult;
    try {
      result = await this.#introspector.introspect(credential.value, isApiKey ? undefined : 'access_token');
    } catch (error) {
      // The issuer could not answer (503): not the client's failure.
      this.#throttle?.release(attempt);
      throw error;
    }
    if (result.active) this.#throttle?.release(attempt);
    return this.#principalFromIntrospection(result, credential);
  }

  /** Checks an introspection answer for this API and turns it into a principal (memoized per answer). */
  #principalFromIntrospection(result: IntrospectionResult, credential: Credential): Principal {
    const scheme = schemeOf(credential.source);
    const invalid = (description: string): AuthError => new AuthError('invalid_token', description, { scheme });
    const isApiKey = credential.source === 'apiKey';
    // RFC 7662 §2.2: inactive covers unknown, expired, revoked — one answer for all.
    if (!result.active) throw invalid(isApiKey ? 'The API key is not valid' : 'The access token is not valid');

    const { claims } = result;
    const nowSec = this.#options.now() / 1000;
    const leeway = this.#options.clockTolerance;
    // The introspection answer is checked like a JWT's claims: same issuer, this API, in time.
    if (claims.iss !== undefined && claims.iss !== this.#options.issuer) throw invalid('The credential was issued by another issuer');
    const aud = claims.aud;
    if (!isAudience(aud) || !(typeof aud === 'string' ? aud === this.#options.audience : aud.includes(this.#options.audience))) {
      throw invalid('The credential is not meant for this API');
    }
    if (claims.exp !== undefined && claims.exp <= nowSec - leeway) throw invalid('The credential has expired');
    if (claims.nbf !== undefined && claims.nbf > nowSec + leeway) throw invalid('The credential is not valid yet');
    // An API key only through an API-key source, and a token never through one: a route that does
    // not accept API keys cannot be reached with one sent as a bearer token, and vice versa.
    const keyAnswer = result.tokenType === 'api_key';
    if (isApiKey && !keyAnswer) throw invalid('The credential is not an API key');
    if (!isApiKey && keyAnswer) throw invalid('API keys are not accepted as bearer tokens');

    // Answers are cached and immutable, so the principal built from one can be too.
    const memo = isApiKey ? this.#keyPrincipals : this.#tokenPrincipals;
    let principal = memo.get(result);
    if (principal === undefined) {
      principal = buildPrincipal(isApiKey ? 'api_key' : 'token', claims, result.scopes);
      memo.set(result, principal);
    }
    return principal;
  }

  #toAuthError(error: unknown): AuthError {
    if (error instanceof AuthError) return error;
    if (error instanceof UpstreamError) {
      this.#options.onError(error);
      // RFC 9110 §10.2.3: every 503 says when to come back — when the SDK will ask the issuer
      // again if it is waiting on purpose (a cooldown), otherwise after a short pause.
      const retryAfter = Math.max(UNAVAILABLE_RETRY_AFTER_SEC, Math.ceil((error.retryAfterMs ?? 0) / 1000));
      return new AuthError('temporarily_unavailable', 'The authorization server could not be reached', { cause: error, retryAfter });
    }
    // Anything else is a bug in this package; refusing (not 500) keeps it fail-closed.
    this.#options.onError(error instanceof Error ? error : new Error(String(error)));
    return new AuthError('invalid_token', 'The credential could not be verified', { cause: error });
  }

  async #endpoint(member: 'jwks_uri' | 'introspection_endpoint'): Promise<string> {
    const metadata = await this.#discovery.get();
    const value = metadata[member];
    if (value === undefined) throw new UpstreamError('discovery', `discovery document has no ${member}`);
    return value;
  }

  #challenge(route: ResolvedRequirement): ChallengeOptions {
    const bearer = route.sources.has('bearer') || route.sources.has('cookie') || route.sources.has('query');
    return {
      realm: this.#options.realm,
      resourceMetadata: this.#options.protectedResource?.url,
      bearer,
      apiKey: route.sources.has('apiKey') ? this.#options.locations.apiKey : undefined,
    };
  }
}

const SIGNALS_OFF: SignalsStatus = Object.freeze({ state: 'off', events: 0 });

const NO_STORE: Readonly<Record<string, string>> = Object.freeze({ 'cache-control': 'no-store' });

/** Seconds a 503 asks the client to wait when nothing better is known. */
const UNAVAILABLE_RETRY_AFTER_SEC = 1;

/** RFC 7662 §2.2: the issuer says a JWT that verified locally is no longer active (revoked). */
function revokedJwt(): AuthError {
  return new AuthError('invalid_token', 'The access token is not valid', { scheme: 'Bearer' });
}
