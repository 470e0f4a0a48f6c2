/**
 * Authenticator options: the one place with every setting, its default and its validation.
 * A bad option throws a TypeError naming it while the app is being built; nothing here can fail
 * on a request.
 */
import type { ResolvedSignals } from './signals.ts';
import { SOURCE_NAMES, type CredentialLocations, type SourceName } from './credentials.ts';
import type { JsonWebKeySet } from './jwks.ts';
import { isSupportedAlgorithm, MIN_RSA_MODULUS_BITS, type JwsAlgorithm } from './algorithms.ts';
import type { FetchLike } from './upstream.ts';
import { resolveTrustedOrigins } from './cross-origin.ts';
import { resolveProtectedResource, type ProtectedResourceOptions, type ResolvedProtectedResource } from './protected-resource.ts';

export interface IntrospectionOptions {
  /** Client registered at the issuer for this API, authenticated with client_secret_basic. */
  readonly clientId: string;
  readonly clientSecret: string;
  /** Overrides the discovered `introspection_endpoint`. */
  readonly endpoint?: string;
  /** Seconds an active answer is reused (never past the credential's `exp`). Default 30. */
  readonly cacheTtl?: number;
  /** Seconds an inactive answer is reused. Default 5. */
  readonly negativeCacheTtl?: number;
  /** Most active answers kept. Default 1000. */
  readonly cacheSize?: number;
  /** Most inactive answers kept. Default 1000. */
  readonly negativeCacheSize?: number;
  /**
   * Also introspect JWT access tokens that verified locally, so one whose grant, user or client was
   * revoked at the issuer is refused within `cacheTtl` (never later than its `exp`) instead of working
   * until it expires. Costs one introspection per token per `cacheTtl`; the issuer must introspect
   * its own JWTs (Gatehouse does). Default false: JWTs are checked locally only.
   */
  readonly checkJwts?: boolean;
  /**
   * Throttle of failed introspections per client address: once `max` API keys or opaque tokens from
   * one address were answered inactive within `window` seconds, that address's API keys and opaque
   * tokens get 429 with `Retry-After`, without introspection, until the window ends (IPv6 counted
   * per /64; at most `addresses` addresses tracked). Adapters give the address (see each adapter for
   * proxies). `false` turns it off. Default `{ max: 20, window: 60, addresses: 10000 }`.
   */
  readonly failureLimit?: false | FailureLimitOptions;
}

export interface FailureLimitOptions {
  /** Failed introspections allowed per address and window. Default 20. */
  readonly max?: number;
  /** Seconds a window lasts, from the address's first failure. Default 60. */
  readonly window?: number;
  /** Most addresses tracked (least recently seen forgotten first). Default 10000. */
  readonly addresses?: number;
}

export interface CredentialOptions {
  /** `Authorization: Bearer` (RFC 6750 §2.1). Default true. */
  readonly bearer?: boolean;
  /** Name of a cookie holding an access token. Off unless set. */
  readonly cookie?: string;
  /** Access token in the query (RFC 6750 §2.3 discourages it: URLs get logged). `true` means `access_token`. Off unless set. */
  readonly query?: boolean | string;
  /** API keys, always checked by introspection. `true` means the `X-API-Key` header. Off unless set. */
  readonly apiKey?: boolean | { readonly header?: string | false; readonly query?: string; readonly cookie?: string };
  /**
   * Under an https issuer, credential cookies must be named `__Host-…` or `__Secure-…` (RFC 6265bis
   * §4.1.3): only a secure origin can set such a cookie, so a sibling subdomain or a plain-http page
   * cannot plant one. `true` accepts any name (for a cookie you cannot rename). Default false.
   */
  readonly unprefixedCookies?: boolean;
}

/**
 * Revocation pushed by the issuer (Shared Signals, CAEP): docs/sdk.md "Revocation". Needs a
 * confidential client allowed client_credentials and the `admin:streams:write` scope at the issuer.
 */
export interface SignalsOptions {
  /**
   * `'poll'` (default): a held poll open at the issuer, for an API the issuer cannot reach.
   * `{ push: url }`: the issuer POSTs events to `url` (this API's public URL of the route the
   * adapter mounts at its path); one process per URL.
   */
  readonly delivery?: 'poll' | { readonly push: string };
  /** The receiver's client. Default: the introspection client. */
  readonly clientId?: string;
  readonly clientSecret?: string;
  /** Shown to the issuer's operators. Default: `@gatehouse/sdk <audience>`. */
  readonly description?: string;
  /** Seconds a revocation is kept: longer than any access token lives. Default 86400. */
  readonly retention?: number;
  /** Revocations kept at most; beyond, the oldest become a floor under which every token is refused. Default 10000. */
  readonly maxRevocations?: number;
}

export interface AuthenticatorOptions {
  /** The issuer, compared exactly with `iss` and with the discovery document. Required. */
  readonly issuer: string;
  /** This API's identifier, compared exactly with `aud`. Required. */
  readonly audience: string;
  /** Accepted signature algorithms, e.g. `['ES256']`. Required; asymmetric only. */
  readonly algorithms: readonly JwsAlgorithm[];
  /** Static public keys: with them the SDK never fetches keys. */
  readonly jwks?: JsonWebKeySet;
  /** Overrides the discovered `jwks_uri`. */
  readonly jwksUri?: string;
  /** Enables opaque tokens and API keys (RFC 7662). */
  readonly introspection?: IntrospectionOptions;
  /** Hears of revocations as they happen (Shared Signals streams). Off unless set. */
  readonly signals?: true | SignalsOptions;
  readonly credentials?: CredentialOptions;
  /** Sources a route accepts when it does not say. Default: every enabled source. */
  readonly defaultSources?: readonly SourceName[];
  /** Origins allowed to use cookie credentials on unsafe methods besides the API's own. */
  readonly trustedOrigins?: readonly string[];
  /** Seconds of leeway on `exp`/`nbf`/`iat`. Default 5. */
  readonly clockTolerance?: number;
  /** `realm` of the WWW-Authenticate challenges. Default: the audience. */
  readonly realm?: string;
  /**
   * Publish OAuth 2.0 Protected Resource Metadata (RFC 9728) for the audience, and point every
   * Bearer challenge at it (`resource_metadata`). What MCP clients need to find the issuer. Off unless set.
   */
  readonly protectedResource?: true | ProtectedResourceOptions;
  /** Used for every call to the issuer. Default: global fetch. */
  readonly fetch?: FetchLike;
  /** Seconds before a call to the issuer is abandoned (→ 503). Default 5. */
  readonly timeout?: number;
  /** Minimum seconds between two JWKS fetches triggered by unknown keys or failures. Default 30. */
  readonly jwksCooldown?: number;
  /** Seconds after which the JWKS is refreshed. Default 600. */
  readonly jwksMaxAge?: number;
  /** Verified JWTs kept so a reused token is verified once (never past `exp`); 0 disables. Default 1000. */
  readonly tokenCacheSize?: number;
  /** Longest credential accepted, in characters. Default 8192. */
  readonly maxTokenLength?: number;
  /** Accept an `http:` issuer that is not on a loopback address. Default false (dangerous). */
  readonly allowHttpIssuer?: boolean;
  /**
   * Told about failures that are not the client's fault: the issuer unreachable or answering
   * garbage (each such request gets a 503), or an unexpected error. Never given a credential.
   */
  readonly onError?: (error: Error) => void;
  /** Current time in milliseconds. Default `Date.now`. For tests. */
  readonly now?: () => number;
}

/** Defaults, in one place (seconds unless noted). */
export const DEFAULTS = {
  clockTolerance: 5,
  timeout: 5,
  jwksCooldown: 30,
  jwksMaxAge: 600,
  tokenCacheSize: 1000,
  maxTokenLength: 8192,
  introspectionCacheTtl: 30,
  introspectionNegativeCacheTtl: 5,
  introspectionCacheSize: 1000,
  introspectionNegativeCacheSize: 1000,
  introspectionCheckJwts: false,
  failureLimitMax: 20,
  failureLimitWindow: 60,
  failureLimitAddresses: 10_000,
  apiKeyHeader: 'X-API-Key',
  queryParameter: 'access_token',
} as const;

export interface ResolvedOptions {
  readonly issuer: string;
  readonly audience: string;
  readonly algorithms: readonly JwsAlgorithm[];
  readonly jwks: JsonWebKeySet | undefined;
  readonly jwksUri: string | undefined;
  readonly introspection: ResolvedIntrospection | undefined;
  readonly signals: ResolvedSignals | undefined;
  readonly locations: CredentialLocations;
  readonly enabledSources: ReadonlySet<SourceName>;
  readonly defaultSources: ReadonlySet<SourceName>;
  readonly trustedOrigins: ReadonlySet<string>;
  readonly clockTolerance: number;
  readonly realm: string;
  readonly protectedResource: ResolvedProtectedResource | undefined;
  readonly fetch: FetchLike;
  readonly timeoutMs: number;
  readonly jwksCooldownMs: number;
  readonly jwksMaxAgeMs: number;
  readonly tokenCacheSize: number;
  readonly maxTokenLength: number;
  readonly onError: (error: Error) => void;
  readonly now: () => number;
}

export interface ResolvedIntrospection extends Required<Omit<IntrospectionOptions, 'endpoint' | 'failureLimit'>> {
  readonly endpoint: string | undefined;
  readonly failureLimit: Required<FailureLimitOptions> | undefined;
}

export function resolveOptions(options: AuthenticatorOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) throw new TypeError('Authenticator options: expected an object');

  const issuer = requireUrl(options.issuer, 'issuer', options.allowHttpIssuer === true);
  if (typeof options.audience !== 'string' || options.audience === '') {
    throw new TypeError('audience: required, the identifier of this API (compared exactly with the token\'s aud)');
  }
  const algorithms = resolveAlgorithms(options.algorithms);

  if (options.jwks !== undefined) validateStaticJwks(options.jwks);
  // The keys and the introspection answers decide who gets in, and introspection carries the
  // client's secret: over http, anyone on the path could swap them or read it. Held to the
  // issuer's rule (https, http on loopback, or allowHttpIssuer), as discovered endpoints are.
  const allowHttp = options.allowHttpIssuer === true;
  const jwksUri = options.jwksUri === undefined ? undefined : requireUrl(options.jwksUri, 'jwksUri', allowHttp);
  if (options.jwks !== undefined && jwksUri !== undefined) throw new TypeError('jwks, jwksUri: give one or the other');

  const introspection = resolveIntrospection(options.introspection, allowHttp);
  const signals = resolveSignals(options.signals, introspection, options.audience, allowHttp);
  const locations = resolveLocations(options.credentials, new URL(issuer).protocol === 'https:');
  if (locations.apiKey !== undefined && introspection === undefined) {
    throw new TypeError('credentials.apiKey: API keys are checked by introspection; set the introspection option');
  }
  const enabledSources = new Set<SourceName>(
    SOURCE_NAMES.filter((source) => (source === 'bearer' ? locations.bearer : locations[source] !== undefined)),
  );
  if (enabledSources.size === 0) throw new TypeError('credentials: every credential source is disabled');
  const defaultSources = resolveDefaultSources(options.defaultSources, enabledSources);

  const realm = options.realm ?? options.audience;
  if (typeof realm !== 'string' || !/^[\x20\x21\x23-\x5B\x5D-\x7E]+$/.test(realm)) {
    throw new TypeError('realm: printable ASCII without quotes or backslashes');
  }

  const fetchImpl = options.fetch ?? globalThis.fetch;
  if (typeof fetchImpl !== 'function') throw new TypeError('fetch: expected a function');
  if (options.onError !== undefined && typeof options.onError !== 'function') {
    throw new TypeError('onError: expected a function');
  }
  if (options.now !== undefined && typeof options.now !== 'function') throw new TypeError('now: expected a function');

  return {
    issuer,
    audience: options.audience,
    algorithms,
    jwks: options.jwks,
    jwksUri,
    introspection,
    signals,
    locations,
    enabledSources,
    defaultSources,
    trustedOrigins: resolveTrustedOrigins(options.trustedOrigins),
    clockTolerance: seconds(options.clockTolerance, DEFAULTS.clockTolerance, 'clockTolerance', 300),
    realm,
    protectedResource: resolveProtectedResource(options.protectedResource, {
      audience: options.audience,
      issuer,
      query: locations.query !== undefined,
    }),
    fetch: fetchImpl.bind(globalThis) as FetchLike,
    timeoutMs: seconds(options.timeout, DEFAULTS.timeout, 'timeout') * 1000,
    jwksCooldownMs: seconds(options.jwksCooldown, DEFAULTS.jwksCooldown, 'jwksCooldown') * 1000,
    jwksMaxAgeMs: seconds(options.jwksMaxAge, DEFAULTS.jwksMaxAge, 'jwksMaxAge') * 1000,
    tokenCacheSize: count(options.tokenCacheSize, DEFAULTS.tokenCacheSize, 'tokenCacheSize'),
    maxTokenLength: count(options.maxTokenLength, DEFAULTS.maxTokenLength, 'maxTokenLength'),
    onError: options.onError ?? (() => undefined),
    now: options.now ?? Date.now,
  };
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

function requireUrl(value: unknown, name: string, allowHttp: boolean): string {
  if (typeof value !== 'string') throw new TypeError(`${name}: required, an absolute https URL`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new TypeError(`${name}: expected an absolute https URL, got ${JSON.stringify(value)}`);
  }
  const loopback = LOOPBACK.has(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && (allowHttp || loopback))) {
    throw new TypeError(`${name}: expected an https URL (http is accepted only on loopback or with allowHttpIssuer)`);
  }
  if (url.search !== '' || url.hash !== '') throw new TypeError(`${name}: must not have a query or fragment`);
  return value;
}

function resolveAlgorithms(value: unknown): readonly JwsAlgorithm[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new TypeError('algorithms: required, the signature algorithms your issuer uses, e.g. [\'ES256\']');
  }
  for (const [index, alg] of value.entries()) {
    if (typeof alg === 'string' && alg.toLowerCase() === 'none') {
      throw new TypeError(`algorithms[${index}]: 'none' means no signature and is never accepted`);
    }
    if (typeof alg === 'string' && /^HS/i.test(alg)) {
      throw new TypeError(`algorithms[${index}]: ${alg} is symmetric; an API verifies its issuer's tokens with public keys (RFC 8725 §3.1)`);
    }
    if (!isSupportedAlgorithm(alg)) throw new TypeError(`algorithms[${index}]: unsupported algorithm ${JSON.stringify(alg)}`);
  }
  return Object.freeze([...new Set(value as JwsAlgorithm[])]);
}

function validateStaticJwks(jwks: unknown): void {
  if (typeof jwks !== 'object' || jwks === null || !Array.isArray((jwks as JsonWebKeySet).keys)) {
    throw new TypeError('jwks: expected a JSON Web Key Set ({ keys: [...] })');
  }
  for (const [index, key] of (jwks as JsonWebKeySet).keys.entries()) {
    if (typeof key !== 'object' || key === null) throw new TypeError(`jwks.keys[${index}]: expected a JWK object`);
    if (key.kty === 'oct' || key['k'] !== undefined) throw new TypeError(`jwks.keys[${index}]: symmetric keys are not accepted`);
    const label = typeof key.kid === 'string' ? `jwks.keys[${index}] (kid ${JSON.stringify(key.kid)})` : `jwks.keys[${index}]`;
    if (key['d'] !== undefined) throw new TypeError(`${label}: contains private key material; give the public key only`);
    if (key.kty !== 'RSA' && key.kty !== 'EC' && key.kty !== 'OKP') throw new TypeError(`${label}: expected kty RSA, EC or OKP`);
    // A weak key would be refused on every token later (jwks.ts); refusing it here says why at boot.
    if (key.kty === 'RSA') {
      const bits = rsaModulusBits(key['n']);
      if (bits < MIN_RSA_MODULUS_BITS) {
        throw new TypeError(`${label}: an RSA key of ${bits} bits is too short to be trusted (at least ${MIN_RSA_MODULUS_BITS})`);
      }
    }
  }
}

/** Bits of an RSA modulus given as a JWK `n` (base64url, big-endian); 0 when it is not one. */
function rsaModulusBits(n: unknown): number {
  if (typeof n !== 'string' || !/^[A-Za-z0-9_-]+$/.test(n)) return 0;
  let bytes: string;
  try {
    bytes = atob(n.replace(/-/g, '+').replace(/_/g, '/'));
  } catch {
    return 0;
  }
  let first = 0;
  while (first < bytes.length && bytes.charCodeAt(first) === 0) first += 1;
  if (first === bytes.length) return 0;
  return (bytes.length - first - 1) * 8 + (32 - Math.clz32(bytes.charCodeAt(first)));
}

function resolveSignals(value: AuthenticatorOptions['signals'], introspection: ResolvedIntrospection | undefined, audience: string, allowHttp: boolean): ResolvedSignals | undefined {
  if (value === undefined || (value as unknown) === false) return undefined;
  const given: SignalsOptions = value === true ? {} : value;
  if (typeof given !== 'object' || given === null) throw new TypeError('signals: expected true or { delivery?, clientId?, clientSecret?, … }');
  const clientId = given.clientId ?? introspection?.clientId;
  const clientSecret = given.clientSecret ?? introspection?.clientSecret;
  if (typeof clientId !== 'string' || clientId === '' || typeof clientSecret !== 'string' || clientSecret === '') {
    throw new TypeError('signals.clientId, signals.clientSecret: required (or the introspection client\'s): the stream is the client\'s');
  }
  const delivery = given.delivery ?? 'poll';
  let pushUrl: string | undefined;
  if (delivery !== 'poll') {
    if (typeof delivery !== 'object' || delivery === null || typeof delivery.push !== 'string') throw new TypeError("signals.delivery: 'poll' or { push: '<this API's URL for events>' }");
    pushUrl = requireUrl(delivery.push, 'signals.delivery.push', allowHttp);
  }
  const description = given.description ?? `@gatehouse/sdk ${audience}`;
  if (typeof description !== 'string' || description.length > 200) throw new TypeError('signals.description: a string of at most 200 characters');
  return {
    delivery: pushUrl === undefined ? 'poll' : 'push',
    pushUrl,
    clientId,
    clientSecret,
    description,
    retentionSec: seconds(given.retention, 86400, 'signals.retention'),
    maxRevocations: count(given.maxRevocations, 10000, 'signals.maxRevocations'),
  };
}

function resolveIntrospection(value: IntrospectionOptions | undefined, allowHttp: boolean): ResolvedOptions['introspection'] {
  if (value === undefined) return undefined;
  if (typeof value.clientId !== 'string' || value.clientId === '') throw new TypeError('introspection.clientId: required');
  if (typeof value.clientSecret !== 'string' || value.clientSecret === '') throw new TypeError('introspection.clientSecret: required');
  return {
    clientId: value.clientId,
    clientSecret: value.clientSecret,
    endpoint: value.endpoint === undefined ? undefined : requireUrl(value.endpoint, 'introspection.endpoint', allowHttp),
    cacheTtl: seconds(value.cacheTtl, DEFAULTS.introspectionCacheTtl, 'introspection.cacheTtl'),
    negativeCacheTtl: seconds(value.negativeCacheTtl, DEFAULTS.introspectionNegativeCacheTtl, 'introspection.negativeCacheTtl'),
    cacheSize: count(value.cacheSize, DEFAULTS.introspectionCacheSize, 'introspection.cacheSize'),
    negativeCacheSize: count(value.negativeCacheSize, DEFAULTS.introspectionNegativeCacheSize, 'introspection.negativeCacheSize'),
    checkJwts: flag(value.checkJwts, DEFAULTS.introspectionCheckJwts, 'introspection.checkJwts'),
    failureLimit: resolveFailureLimit(value.failureLimit),
  };
}

function resolveFailureLimit(value: IntrospectionOptions['failureLimit']): ResolvedIntrospection['failureLimit'] {
  if (value === false) return undefined;
  if (value !== undefined && (typeof value !== 'object' || value === null)) {
    throw new TypeError('introspection.failureLimit: expected false or { max?, window?, addresses? }');
  }
  const limit = value ?? {};
  const max = count(limit.max, DEFAULTS.failureLimitMax, 'introspection.failureLimit.max');
  const window = seconds(limit.window, DEFAULTS.failureLimitWindow, 'introspection.failureLimit.window');
  const addresses = count(limit.addresses, DEFAULTS.failureLimitAddresses, 'introspection.failureLimit.addresses');
  // 0 would refuse every address at once, or never remember one: say `false` to turn it off.
  if (max === 0) throw new TypeError('introspection.failureLimit.max: expected an integer ≥ 1 (false turns the limit off)');
  if (window === 0) throw new TypeError('introspection.failureLimit.window: expected a number of seconds > 0 (false turns the limit off)');
  if (addresses === 0) throw new TypeError('introspection.failureLimit.addresses: expected an integer ≥ 1 (false turns the limit off)');
  return { max, window, addresses };
}

// RFC 9110 §5.1 field-name token; RFC 6265 §4.1.1 cookie-name token.
const TOKEN = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;
const RESERVED_HEADERS = new Set(['authorization', 'cookie', 'host', 'origin']);

function resolveLocations(value: CredentialOptions | undefined, secureIssuer: boolean): CredentialLocations {
  const options = value ?? {};
  if (options.bearer !== undefined && typeof options.bearer !== 'boolean') throw new TypeError('credentials.bearer: expected a boolean');
  if (options.unprefixedCookies !== undefined && typeof options.unprefixedCookies !== 'boolean') {
    throw new TypeError('credentials.unprefixedCookies: expected a boolean');
  }
  const cookie = options.cookie === undefined ? undefined : name(options.cookie, 'credentials.cookie');
  const query =
    options.query === undefined || options.query === false
      ? undefined
      : options.query === true
        ? DEFAULTS.queryParameter
        : name(options.query, 'credentials.query');

  let apiKey: CredentialLocations['apiKey'];
  if (options.apiKey === true) {
    apiKey = { header: DEFAULTS.apiKeyHeader };
  } else if (typeof options.apiKey === 'object' && options.apiKey !== null) {
    const header =
      options.apiKey.header === false ? undefined : name(options.apiKey.header ?? DEFAULTS.apiKeyHeader, 'credentials.apiKey.header');
    if (header !== undefined && RESERVED_HEADERS.has(header.toLowerCase())) {
      throw new TypeError(`credentials.apiKey.header: ${header} is reserved`);
    }
    const keyQuery = options.apiKey.query === undefined ? undefined : name(options.apiKey.query, 'credentials.apiKey.query');
    const keyCookie = options.apiKey.cookie === undefined ? undefined : name(options.apiKey.cookie, 'credentials.apiKey.cookie');
    if (header === undefined && keyQuery === undefined && keyCookie === undefined) {
      throw new TypeError('credentials.apiKey: enable at least one of header, query, cookie');
    }
    apiKey = Object.freeze({ header, query: keyQuery, cookie: keyCookie });
  } else if (options.apiKey !== undefined && options.apiKey !== false) {
    throw new TypeError('credentials.apiKey: expected true or { header?, query?, cookie? }');
  }
  if (cookie !== undefined && cookie === apiKey?.cookie) throw new TypeError('credentials: the token and API key cookies need different names');
  if (query !== undefined && query === apiKey?.query) throw new TypeError('credentials: the token and API key parameters need different names');
  if (secureIssuer && options.unprefixedCookies !== true) {
    requireCookiePrefix(cookie, 'credentials.cookie');
    requireCookiePrefix(apiKey?.cookie, 'credentials.apiKey.cookie');
  }

  return Object.freeze({ bearer: options.bearer ?? true, cookie, query, apiKey });
}

const SECURE_COOKIE_PREFIX = /^__(Host|Secure)-/;

function requireCookiePrefix(cookie: string | undefined, label: string): void {
  if (cookie === undefined || SECURE_COOKIE_PREFIX.test(cookie)) return;
  throw new TypeError(
    `${label}: under an https issuer a credential cookie must be named __Host-${cookie} (or __Secure-${cookie}), ` +
      'so that no other site or subdomain can set it; credentials.unprefixedCookies: true accepts the name as it is',
  );
}

function name(value: unknown, label: string): string {
  if (typeof value !== 'string' || !TOKEN.test(value)) throw new TypeError(`${label}: expected a name made of token characters`);
  return value;
}

function resolveDefaultSources(value: readonly SourceName[] | undefined, enabled: ReadonlySet<SourceName>): ReadonlySet<SourceName> {
  if (value === undefined) return enabled;
  if (!Array.isArray(value) || value.length === 0) throw new TypeError('defaultSources: expected a non-empty array of source names');
  for (const [index, source] of value.entries()) {
    if (!enabled.has(source)) throw new TypeError(`defaultSources[${index}]: '${String(source)}' is not an enabled credential source`);
  }
  return new Set(value);
}

function seconds(value: unknown, fallback: number, label: string, max = Number.POSITIVE_INFINITY): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > max) {
    throw new TypeError(`${label}: expected a number of seconds${Number.isFinite(max) ? ` between 0 and ${max}` : ' ≥ 0'}`);
  }
  return value;
}

function flag(value: unknown, fallback: boolean, label: string): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new TypeError(`${label}: expected a boolean`);
  return value;
}

function count(value: unknown, fallback: number, label: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) throw new TypeError(`${label}: expected an integer ≥ 0`);
  return value;
}
