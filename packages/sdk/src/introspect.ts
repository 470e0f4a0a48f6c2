/**
 * Token introspection (RFC 7662) for opaque tokens and API keys, with two bounded caches:
 * active answers for a short TTL that never outlives the credential's `exp`, and inactive answers
 * for an even shorter TTL so a flood of bad credentials does not become a flood of calls.
 * Concurrent requests for the same credential share one call.
 */
import { isAudience, type Claims } from './principal.ts';
import { LruCache } from './lru.ts';
import { readScopes } from './scopes.ts';
import { fetchJson, isObject, UpstreamError, type FetchLike } from './upstream.ts';

export type IntrospectionResult =
  | { readonly active: false }
  | { readonly active: true; readonly claims: Readonly<Claims>; readonly scopes: ReadonlySet<string>; readonly tokenType: string | undefined };

export interface IntrospectorOptions {
  endpoint: () => Promise<string>;
  clientId: string;
  clientSecret: string;
  fetch: FetchLike;
  timeoutMs: number;
  cacheTtlMs: number;
  negativeCacheTtlMs: number;
  cacheSize: number;
  negativeCacheSize: number;
  now: () => number;
}

const INACTIVE: IntrospectionResult = Object.freeze({ active: false });

export class Introspector {
  readonly #options: IntrospectorOptions;
  readonly #authorization: string;
  readonly #active: LruCache<IntrospectionResult>;
  readonly #inactive: LruCache<true>;
  readonly #inflight = new Map<string, Promise<IntrospectionResult>>();
  /** Bumped by `evict`: an answer to a call started before is not cached (it may predate the revocation). */
  #generation = 0;

  constructor(options: IntrospectorOptions) {
    this.#options = options;
    // RFC 6749 §2.3.1: client_secret_basic with both parts form-urlencoded before base64.
    const encoded = `${formEncode(options.clientId)}:${formEncode(options.clientSecret)}`;
    this.#authorization = `Basic ${btoa(encoded)}`;
    this.#active = new LruCache(options.cacheSize);
    this.#inactive = new LruCache(options.negativeCacheSize);
  }

  /** The cached answer for `token`, if there is one: no I/O. */
  cached(token: string): IntrospectionResult | undefined {
    const now = this.#options.now();
    if (this.#inactive.get(token, now) === true) return INACTIVE;
    return this.#active.get(token, now);
  }

  /** Drops the active answers whose claims `match` (a revocation named them); calls in flight are not cached. */
  evict(match: (claims: Readonly<Claims>) => boolean): number {
    this.#generation++;
    return this.#active.deleteWhere((result) => result.active && match(result.claims));
  }

  /** The issuer's answer for `token`, from cache when possible. Throws `UpstreamError` (→ 503). */
  async introspect(token: string, hint: 'access_token' | undefined): Promise<IntrospectionResult> {
    const cached = this.cached(token);
    if (cached !== undefined) return cached;

    let pending = this.#inflight.get(token);
    if (pending === undefined) {
      pending = this.#call(token, hint).finally(() => this.#inflight.delete(token));
      this.#inflight.set(token, pending);
    }
    return pending;
  }

  async #call(token: string, hint: 'access_token' | undefined): Promise<IntrospectionResult> {
    const { fetch, timeoutMs, now, cacheTtlMs, negativeCacheTtlMs } = this.#options;
    const generation = this.#generation;
    const form = new URLSearchParams({ token });
    if (hint !== undefined) form.set('token_type_hint', hint);
    const url = await this.#options.endpoint();
    const { status, body } = await fetchJson({
      endpoint: 'introspection',
      url,
      fetch,
      timeoutMs,
      init: {
        method: 'POST',
        headers: { authorization: this.#authorization, 'content-type': 'application/x-www-form-urlencoded' },
        body: form.toString(),
      },
    });
    // A 4xx here means our own client credentials or request are wrong: the token may be fine.
    if (status !== 200) throw new UpstreamError('introspection', `introspection answered ${status}`);
    const result = parseAnswer(body);

    const at = now();
    if (generation !== this.#generation) return result;
    if (!result.active) {
      this.#inactive.set(token, true, at + negativeCacheTtlMs, at);
    } else {
      // Never cache past the credential's own expiry.
      const exp = result.claims.exp;
      const until = Math.min(at + cacheTtlMs, exp === undefined ? Number.POSITIVE_INFINITY : exp * 1000);
      this.#active.set(token, result, until, at);
    }
    return result;
  }
}

/** Checks the member types RFC 7662 §2.2 defines; an answer that breaks them is unusable. */
function parseAnswer(body: unknown): IntrospectionResult {
  if (!isObject(body) || typeof body.active !== 'boolean') {
    throw new UpstreamError('introspection', 'introspection answer has no boolean "active"');
  }
  if (!body.active) return INACTIVE;
  const strings = ['scope', 'client_id', 'sub', 'iss', 'token_type', 'jti', 'username'] as const;
  const numbers = ['exp', 'iat', 'nbf'] as const;
  const wrongType =
    strings.some((member) => body[member] !== undefined && typeof body[member] !== 'string') ||
    numbers.some((member) => body[member] !== undefined && (typeof body[member] !== 'number' || !Number.isFinite(body[member]))) ||
    (body.aud !== undefined && !isAudience(body.aud));
  const scopes = readScopes(body);
  if (wrongType || scopes === undefined) throw new UpstreamError('introspection', 'introspection answer has malformed members');
  const { active: _active, ...claims } = body;
  return Object.freeze({
    active: true,
    claims: Object.freeze(claims) as Readonly<Claims>,
    scopes,
    tokenType: body.token_type as string | undefined,
  });
}

/** application/x-www-form-urlencoded for one value (RFC 6749 Appendix B). */
export function formEncode(value: string): string {
  return encodeURIComponent(value).replace(/%20/g, '+');
}
