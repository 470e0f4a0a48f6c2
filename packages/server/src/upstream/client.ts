// Signing in at an upstream identity provider (docs/adr/0017-upstream-identity-providers.md), as a
// relying party built on oauth4webapi (OpenID-certified, the same author as oidc-provider):
// authorization code with PKCE (S256), `state` and `nonce`; the ID token's claims checked by
// oauth4webapi (iss, aud, azp, exp, iat, nonce) and its signature by the provider's JWKS (jose).
// GitHub speaks OAuth 2.0 without OpenID Connect: its user and verified-email APIs say who signed in.
import * as oauth from 'oauth4webapi';
import { createRemoteJWKSet, jwtVerify, type JWTVerifyGetKey } from 'jose';
import type { UpstreamProvider } from '../storage/upstream.ts';
import { isLoopbackHost } from '../storage/validate.ts';

/** Who signed in upstream. */
export interface UpstreamAccount {
  /** The provider's stable id for the account (OIDC `sub`; GitHub's numeric user id). */
  readonly subject: string;
  /** Only when the provider says it is verified. */
  readonly verifiedEmail: string | undefined;
  readonly preferredUsername: string | undefined;
  /** RFC 8176 `amr` of the upstream sign-in, when the provider says. */
  readonly amr: readonly string[];
  /** Every claim, for role mapping (e.g. `groups`). */
  readonly claims: Readonly<Record<string, unknown>>;
}

/** What the browser carries between the redirect and the callback (in a signed cookie). */
export interface PendingSignIn {
  readonly state: string;
  readonly nonce: string;
  readonly verifier: string;
}

/** A provider answered something unusable, or refused: said on a page, never a 500. */
export class UpstreamSignInError extends Error {
  override readonly name = 'UpstreamSignInError';
  /** The upstream `error` (access_denied…) when the provider sent one. */
  readonly code: string | undefined;
  constructor(message: string, options: { code?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = options.code;
  }
}

const DISCOVERY_TTL_MS = 10 * 60 * 1000;
const TIMEOUT_MS = 10_000;

export class UpstreamClients {
  readonly #discovered = new Map<string, { metadata: oauth.AuthorizationServer; until: number; keys: JWTVerifyGetKey }>();

  /** Where to send the browser, and what to keep for the callback. */
  async begin(provider: UpstreamProvider, redirectUri: string): Promise<{ url: string; pending: PendingSignIn }> {
    const as = await this.#server(provider);
    const pending = { state: oauth.generateRandomState(), nonce: oauth.generateRandomNonce(), verifier: oauth.generateRandomCodeVerifier() };
    const url = new URL(as.authorization_endpoint!);
    url.searchParams.set('client_id', provider.clientId);
    url.searchParams.set('redirect_uri', redirectUri);
    url.searchParams.set('response_type', 'code');
    url.searchParams.set('scope', provider.scopes.join(' '));
    url.searchParams.set('state', pending.state);
    url.searchParams.set('code_challenge', await oauth.calculatePKCECodeChallenge(pending.verifier));
    url.searchParams.set('code_challenge_method', 'S256');
    if (provider.kind === 'oidc') url.searchParams.set('nonce', pending.nonce);
    return { url: url.href, pending };
  }

  /** The callback: checks `state`, redeems the code, validates the ID token, says who signed in. */
  async complete(provider: UpstreamProvider, clientSecret: string, redirectUri: string, callback: URL, pending: PendingSignIn): Promise<UpstreamAccount> {
    const as = await this.#server(provider);
    const client: oauth.Client = { client_id: provider.clientId };
    let params: URLSearchParams;
    try {
      params = oauth.validateAuthResponse(as, client, callback, pending.state);
    } catch (error) {
      if (error instanceof oauth.AuthorizationResponseError) throw new UpstreamSignInError(`${provider.name} refused the sign-in (${error.error})`, { code: error.error, cause: error });
      throw new UpstreamSignInError(`${provider.name}'s answer does not match this sign-in`, { cause: error });
    }
    let result: oauth.TokenEndpointResponse;
    try {
      const response = await oauth.authorizationCodeGrantRequest(as, client, oauth.ClientSecretBasic(clientSecret), params, redirectUri, pending.verifier, this.#options(as));
      result = await oauth.processAuthorizationCodeResponse(as, client, response, provider.kind === 'oidc' ? { expectedNonce: pending.nonce, requireIdToken: true } : {});
    } catch (error) {
      throw new UpstreamSignInError(`${provider.name} did not complete the sign-in`, { cause: error });
    }
    if (provider.kind === 'github') return this.#githubAccount(provider, result.access_token);

    // The claims are oauth4webapi's checks; the signature is checked here by the provider's keys.
    const claims = oauth.getValidatedIdTokenClaims(result)!;
    try {
      await jwtVerify(result.id_token!, this.#discovered.get(provider.issuer)!.keys, { issuer: as.issuer, audience: provider.clientId });
    } catch (error) {
      throw new UpstreamSignInError(`${provider.name}'s ID token is not signed by its keys`, { cause: error });
    }
    // In the code flow a provider may keep email and profile claims for its userinfo endpoint
    // (oidc-provider does): asked there, for the same subject (oauth4webapi checks it).
    let profile: Record<string, unknown> = {};
    if (as.userinfo_endpoint) {
      try {
        const response = await oauth.userInfoRequest(as, client, result.access_token, this.#options(as));
        profile = { ...(await oauth.processUserInfoResponse(as, client, claims.sub, response)) };
      } catch (error) {
        throw new UpstreamSignInError(`${provider.name}'s userinfo endpoint did not answer for this user`, { cause: error });
      }
    }
    const all: Record<string, unknown> = { ...profile, ...claims };
    const amr = claims.amr;
    return {
      subject: claims.sub,
      verifiedEmail: typeof all.email === 'string' && all.email_verified === true ? all.email : undefined,
      preferredUsername: typeof all.preferred_username === 'string' ? all.preferred_username : undefined,
      // Only the ID token says how the user signed in.
      amr: Array.isArray(amr) ? amr.filter((value): value is string => typeof value === 'string') : [],
      claims: all,
    };
  }

  /** GitHub: the user (id, login) and their primary verified email, from its API. */
  async #githubAccount(provider: UpstreamProvider, accessToken: string): Promise<UpstreamAccount> {
    const api = githubApi(provider.issuer);
    const get = async (path: string): Promise<unknown> => {
      const response = await fetch(`${api}${path}`, {
        headers: { authorization: `Bearer ${accessToken}`, accept: 'application/vnd.github+json', 'user-agent': 'Gatehouse' },
        signal: AbortSignal.timeout(TIMEOUT_MS),
        redirect: 'error',
      });
      if (!response.ok) throw new UpstreamSignInError(`${provider.name}'s API answered ${response.status} for ${path}`);
      return response.json();
    };
    const user = (await get('/user')) as { id?: unknown; login?: unknown };
    if (typeof user.id !== 'number' && typeof user.id !== 'string') throw new UpstreamSignInError(`${provider.name}'s API named no user`);
    const emails = (await get('/user/emails').catch(() => [])) as { email?: unknown; primary?: unknown; verified?: unknown }[];
    const primary = Array.isArray(emails) ? emails.find((e) => e.primary === true && e.verified === true && typeof e.email === 'string') : undefined;
    return {
      subject: String(user.id),
      verifiedEmail: primary?.email as string | undefined,
      preferredUsername: typeof user.login === 'string' ? user.login : undefined,
      amr: [],
      claims: { ...user },
    };
  }

  async #server(provider: UpstreamProvider): Promise<oauth.AuthorizationServer> {
    if (provider.kind === 'github') {
      const web = provider.issuer.replace(/\/$/, '');
      return { issuer: web, authorization_endpoint: `${web}/login/oauth/authorize`, token_endpoint: `${web}/login/oauth/access_token` };
    }
    const cached = this.#discovered.get(provider.issuer);
    if (cached && cached.until > Date.now()) return cached.metadata;
    const issuer = new URL(provider.issuer);
    let metadata: oauth.AuthorizationServer;
    try {
      const response = await oauth.discoveryRequest(issuer, { algorithm: 'oidc', ...this.#options({ issuer: provider.issuer }) });
      metadata = await oauth.processDiscoveryResponse(issuer, response);
    } catch (error) {
      throw new UpstreamSignInError(`${provider.name} could not be reached (discovery at ${provider.issuer})`, { cause: error });
    }
    if (!metadata.authorization_endpoint || !metadata.token_endpoint || !metadata.jwks_uri) {
      throw new UpstreamSignInError(`${provider.name}'s discovery document lacks an authorization endpoint, a token endpoint or a JWKS`);
    }
    this.#discovered.set(provider.issuer, { metadata, until: Date.now() + DISCOVERY_TTL_MS, keys: createRemoteJWKSet(new URL(metadata.jwks_uri), { timeoutDuration: TIMEOUT_MS }) });
    return metadata;
  }

  /** Plain http only to a provider on this machine (development, tests). */
  #options(as: { issuer: string }): { [oauth.allowInsecureRequests]?: boolean; signal: AbortSignal } {
    const { protocol, hostname } = new URL(as.issuer);
    const loopback = isLoopbackHost(hostname);
    return { signal: AbortSignal.timeout(TIMEOUT_MS), ...(protocol === 'http:' && loopback ? { [oauth.allowInsecureRequests]: true } : {}) };
  }
}

/** github.com's API is api.github.com; GitHub Enterprise Server's is <its URL>/api/v3. */
function githubApi(web: string): string {
  const url = new URL(web);
  return url.hostname === 'github.com' ? 'https://api.github.com' : `${url.origin}/api/v3`;
}
