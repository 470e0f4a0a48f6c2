/**
 * The app as an OAuth client of Gatehouse, through oauth4webapi (panva's certified client, the
 * library openid-client is built on): discovery, client authentication and the options every
 * call shares (timeout, fetch, http on loopback). Protocol code lives in oauth4webapi; this
 * module only wires it, and sorts its failures into "Gatehouse is unavailable" and the rest.
 */
import * as oauth from 'oauth4webapi';
import { AuthError } from '../errors.ts';
import type { FetchLike } from '../upstream.ts';

export interface IssuerClientOptions {
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly fetch: FetchLike;
  readonly timeoutMs: number;
}

export class IssuerClient {
  readonly client: oauth.Client;
  readonly clientAuth: oauth.ClientAuth;
  readonly #issuer: URL;
  readonly #options: IssuerClientOptions;
  #metadata: Promise<oauth.AuthorizationServer> | undefined;

  constructor(options: IssuerClientOptions) {
    this.#options = options;
    this.#issuer = new URL(options.issuer);
    this.client = { client_id: options.clientId };
    // RFC 6749 §2.3.1; Gatehouse's default for confidential clients.
    this.clientAuth = oauth.ClientSecretBasic(options.clientSecret);
  }

  /**
   * The issuer's metadata (OpenID Connect Discovery 1.0), read once; oauth4webapi checks that the
   * document names exactly the configured issuer (§4.3). Concurrent callers share one request; a
   * failure is not kept, so the next request tries again.
   */
  metadata(): Promise<oauth.AuthorizationServer> {
    this.#metadata ??= (async () => {
      const response = await oauth.discoveryRequest(this.#issuer, { algorithm: 'oidc', ...this.http() });
      return oauth.processDiscoveryResponse(this.#issuer, response);
    })().catch((error: unknown) => {
      this.#metadata = undefined;
      throw error;
    });
    return this.#metadata;
  }

  /** Options for one call to Gatehouse. */
  http(): { signal: AbortSignal; [oauth.customFetch]: FetchLike; [oauth.allowInsecureRequests]: boolean } {
    return {
      signal: AbortSignal.timeout(this.#options.timeoutMs),
      [oauth.customFetch]: this.#options.fetch,
      // The authenticator accepted this issuer: https, or http on loopback or when explicitly allowed.
      [oauth.allowInsecureRequests]: this.#issuer.protocol === 'http:',
    };
  }
}

/**
 * Whether a failure means "Gatehouse could not answer" (retry later, keep the session) rather than
 * "Gatehouse said no" or "its answer failed a check" (the sign-in or session is over).
 */
export function isUnavailable(error: unknown): boolean {
  if (error instanceof AuthError) return error.code === 'temporarily_unavailable';
  if (error instanceof oauth.ResponseBodyError) {
    return error.status >= 500 || error.error === 'temporarily_unavailable' || error.error === 'server_error';
  }
  if (error instanceof oauth.WWWAuthenticateChallengeError) return error.status >= 500;
  // oauth4webapi keeps the response as the cause of an unexpected status.
  if (error instanceof oauth.OperationProcessingError) return error.cause instanceof Response && error.cause.status >= 500;
  if (error instanceof oauth.AuthorizationResponseError || error instanceof oauth.UnsupportedOperationError) return false;
  // AbortSignal.timeout → TimeoutError; fetch's network failures are TypeErrors.
  if (error instanceof DOMException) return error.name === 'TimeoutError' || error.name === 'AbortError';
  return error instanceof TypeError;
}
