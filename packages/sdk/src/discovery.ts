/**
 * Issuer discovery: reads the issuer's metadata once, lazily, and only trusts a document that
 * names exactly the configured issuer (OpenID Connect Discovery §4.3, RFC 8414 §3.3), so a
 * misrouted or spoofed document cannot point the SDK at someone else's keys.
 */
import { fetchJson, isObject, UpstreamError, type FetchLike } from './upstream.ts';

export interface IssuerMetadata {
  readonly issuer: string;
  readonly jwks_uri?: string;
  readonly introspection_endpoint?: string;
  readonly authorization_endpoint?: string;
  readonly token_endpoint?: string;
  readonly [member: string]: unknown;
}

export interface DiscoveryOptions {
  issuer: string;
  fetch: FetchLike;
  timeoutMs: number;
  /** After a failed attempt, callers get the same failure until this much time has passed. */
  retryAfterMs: number;
  now: () => number;
}

/** The two well-known locations, in the order they are tried. */
export function discoveryUrls(issuer: string): [string, string] {
  const url = new URL(issuer);
  const path = url.pathname.replace(/\/$/, '');
  return [
    // OpenID Connect Discovery §4: the issuer, terminating "/" removed, + /.well-known/openid-configuration.
    `${url.origin}${path}/.well-known/openid-configuration`,
    // RFC 8414 §3.1: /.well-known/oauth-authorization-server inserted between host and path.
    `${url.origin}/.well-known/oauth-authorization-server${path}`,
  ];
}

export class Discovery {
  readonly #options: DiscoveryOptions;
  #metadata: IssuerMetadata | undefined;
  #failure: { error: UpstreamError; at: number } | undefined;
  #inflight: Promise<IssuerMetadata> | undefined;

  constructor(options: DiscoveryOptions) {
    this.#options = options;
  }

  /** The issuer's metadata; fetched on first use and kept (single flight for concurrent callers). */
  async get(): Promise<IssuerMetadata> {
    if (this.#metadata !== undefined) return this.#metadata;
    if (this.#inflight !== undefined) return this.#inflight;
    const failure = this.#failure;
    const waited = failure === undefined ? 0 : this.#options.now() - failure.at;
    if (failure !== undefined && waited < this.#options.retryAfterMs) {
      throw new UpstreamError('discovery', failure.error.message, failure.error, this.#options.retryAfterMs - waited);
    }

    this.#inflight = this.#load().then(
      (metadata) => {
        this.#metadata = metadata;
        this.#failure = undefined;
        this.#inflight = undefined;
        return metadata;
      },
      (error: unknown) => {
        const upstream = error instanceof UpstreamError ? error : new UpstreamError('discovery', 'discovery failed', error);
        this.#failure = { error: upstream, at: this.#options.now() };
        this.#inflight = undefined;
        throw new UpstreamError('discovery', upstream.message, upstream, this.#options.retryAfterMs);
      },
    );
    return this.#inflight;
  }

  async #load(): Promise<IssuerMetadata> {
    const { issuer, fetch, timeoutMs } = this.#options;
    let lastStatus = 0;
    for (const url of discoveryUrls(issuer)) {
      const { status, body } = await fetchJson({ endpoint: 'discovery', url, fetch, timeoutMs });
      if (status !== 200) {
        // Only "not here" moves on to the next location; a network error or 5xx already threw.
        lastStatus = status;
        continue;
      }
      return validateMetadata(body, issuer);
    }
    throw new UpstreamError('discovery', `no discovery document (last status ${lastStatus})`);
  }
}

function validateMetadata(body: unknown, issuer: string): IssuerMetadata {
  if (!isObject(body)) throw new UpstreamError('discovery', 'discovery document is not a JSON object');
  // Exact string comparison, no normalisation: "https://a/" and "https://a" are different issuers.
  if (body.issuer !== issuer) {
    throw new UpstreamError('discovery', 'discovery document names a different issuer than the configured one');
  }
  // An https issuer never sends keys or credentials over plain http.
  const secure = new URL(issuer).protocol === 'https:';
  for (const member of ['jwks_uri', 'introspection_endpoint', 'authorization_endpoint', 'token_endpoint'] as const) {
    const value = body[member];
    if (value !== undefined && !isHttpUrl(value, secure)) {
      throw new UpstreamError('discovery', `discovery document has an invalid ${member}`);
    }
  }
  return body as IssuerMetadata;
}

function isHttpUrl(value: unknown, httpsOnly: boolean): value is string {
  if (typeof value !== 'string') return false;
  try {
    const url = new URL(value);
    return url.protocol === 'https:' || (!httpsOnly && url.protocol === 'http:');
  } catch {
    return false;
  }
}
