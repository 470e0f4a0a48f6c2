// APIs as oidc-provider resource servers (RFC 8707): the audience, the scopes a client may get,
// the lifetime and signing algorithm of JWT access tokens (RFC 9068).
//
// A client gets tokens only for the APIs it was granted (its `apis`; docs/adr/0008-client-api-grants.md).
// Every grant that issues an access token asks getResourceServerInfo for its resource (the
// authorization endpoint, and the token endpoint for codes, refresh tokens, client credentials and
// the password grant), so this is the one place that refuses the others.
import { errors, type KoaContextWithOIDC, type ResourceServer, type Client as ProviderClient } from 'oidc-provider';
import type { Config } from '../config/schema.ts';
import { findApi, type Api } from '../storage/apis.ts';
import { TtlCache } from '../storage/cache.ts';
import type { Db } from '../storage/database.ts';
import { clientApiScopes } from './scope-policy.ts';
import { OPENID_SCOPES } from './configuration.ts';
import { isMetadataDocumentClientId } from './metadata-documents.ts';

/** The client's allowed API scopes, kept in its metadata (see client-metadata.ts). */
export function allowedScopesOf(client: ProviderClient): string[] {
  return Array.isArray(client.api_scopes) ? (client.api_scopes as string[]) : [];
}

/** The API identifiers the client was granted, kept in its metadata (see client-metadata.ts). */
export function grantedApisOf(client: ProviderClient): string[] {
  return Array.isArray(client.apis) ? (client.apis as string[]) : [];
}

/**
 * A client no operator set up: registered through RFC 7591 (client-metadata.ts; ADR 0011) or
 * described by a client metadata document (metadata-documents.ts; ADR 0012). It reaches the APIs
 * open to dynamic clients.
 */
export function isDynamicClient(client: ProviderClient): boolean {
  return client.registered_dynamically === true || isMetadataDocumentClientId(client.clientId);
}

/**
 * `openAccess`: the client reaches this API because it is open to dynamically registered clients,
 * and may then ask for every scope it defines (the user's roles still decide; ADR 0011).
 */
export function resourceServerFor(api: Api, client: ProviderClient, config: Config, openAccess = false): ResourceServer {
  const apiScopes = api.scopes.map((s) => s.name);
  return {
    scope: (openAccess ? apiScopes : clientApiScopes(apiScopes, allowedScopesOf(client))).join(' '),
    audience: api.identifier,
    accessTokenTTL: api.accessTokenTtl ?? config.accessTokenTtl,
    accessTokenFormat: 'jwt',
    jwt: { sign: { alg: api.signingAlg ?? 'ES256' } },
  };
}


/**
 * A request that asks for `openid` and nothing but OpenID Connect scopes is a sign-in: its access
 * token is for the userinfo endpoint, which refuses a token for an API. Relying parties such as
 * mod_auth_openidc sign in this way and then call userinfo.
 */
function isPlainSignIn(scope: unknown): boolean {
  if (typeof scope !== 'string') return false;
  const scopes = scope.split(' ').filter(Boolean);
  return scopes.includes('openid') && scopes.every((s) => (OPENID_SCOPES as readonly string[]).includes(s));
}

// RFC 8707 §2: invalid_target. An API that exists but was not granted gets the same words as one
// that does not exist: a client learns nothing about the APIs it may not use.
const NOT_GRANTED = 'resource is not an API this client may get tokens for';

/**
 * The refusal for a resource this client may not reach. A refresh for the very API its refresh
 * token was issued for (the API was taken away or closed since) is `invalid_grant`: the grant is
 * spent (RFC 6749 §5.2), and clients such as the MCP SDK then send the user back to authorization,
 * where `invalid_target` would be fatal to them. Any other resource is `invalid_target` (RFC 8707 §2).
 */
function refusal(ctx: KoaContextWithOIDC, indicator: string): Error {
  const refreshToken = ctx.oidc.entities.RefreshToken as { resource?: string | string[] } | undefined;
  const issuedFor = refreshToken?.resource === undefined ? [] : [refreshToken.resource].flat();
  if (ctx.oidc.params?.grant_type === 'refresh_token' && issuedFor.includes(indicator)) {
    return new errors.InvalidGrant('the API this refresh token was issued for is no longer available to this client');
  }
  return new errors.InvalidTarget(NOT_GRANTED);
}

export function createResourceIndicators(db: Db, config: Config) {
  const apis = new TtlCache<Api | undefined>(config.cacheTtl * 1000);
  return {
    /** Drops cached API definitions (after a change made through this process). */
    invalidate(): void {
      apis.clear();
    },
    enabled: true,
    /**
     * GATEHOUSE_DEFAULT_API, for a client granted it, unless the request is a plain OpenID Connect
     * sign-in (docs/adr/0014-interop-choices.md); others get no API token without `resource`.
     */
    async defaultResource(ctx: KoaContextWithOIDC, client?: ProviderClient): Promise<string | undefined> {
      const fallback = config.defaultApi;
      if (fallback === undefined || client === undefined || !grantedApisOf(client).includes(fallback)) return undefined;
      return isPlainSignIn(ctx.oidc.params?.scope) ? undefined : fallback;
    },
    async getResourceServerInfo(ctx: KoaContextWithOIDC, indicator: string, client: ProviderClient): Promise<ResourceServer> {
      // A dynamic client reaches the APIs open to such clients, decided now (an API
      // closed to them stops their tokens and refreshes at once), besides any granted to it by name.
      const granted = grantedApisOf(client).includes(indicator);
      if (!granted && !isDynamicClient(client)) throw refusal(ctx, indicator);
      const api = await apis.get(indicator, () => findApi(db, indicator));
      if (!api) throw refusal(ctx, indicator);
      if (granted) return resourceServerFor(api, client, config);
      if (!api.openToDynamicClients) throw refusal(ctx, indicator);
      return resourceServerFor(api, client, config, true);
    },
    // The token request may omit `resource`: use the one the authorization was for.
    async useGrantedResource(): Promise<boolean> {
      return true;
    },
  };
}
