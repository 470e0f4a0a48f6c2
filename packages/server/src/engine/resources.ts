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

/** The client's allowed API scopes, kept in its metadata (see client-metadata.ts). */
export function allowedScopesOf(client: ProviderClient): string[] {
  return Array.isArray(client.api_scopes) ? (client.api_scopes as string[]) : [];
}

/** The API identifiers the client was granted, kept in its metadata (see client-metadata.ts). */
export function grantedApisOf(client: ProviderClient): string[] {
  return Array.isArray(client.apis) ? (client.apis as string[]) : [];
}

/** Registered through RFC 7591 (client-metadata.ts): reaches the APIs open to such clients (ADR 0011). */
export function registeredDynamically(client: ProviderClient): boolean {
  return client.registered_dynamically === true;
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

// RFC 8707 §2: invalid_target. An API that exists but was not granted gets the same words as one
// that does not exist: a client learns nothing about the APIs it may not use.
const NOT_GRANTED = 'resource is not an API this client may get tokens for';

export function createResourceIndicators(db: Db, config: Config) {
  const apis = new TtlCache<Api | undefined>(config.cacheTtl * 1000);
  return {
    /** Drops cached API definitions (after a change made through this process). */
    invalidate(): void {
      apis.clear();
    },
    enabled: true,
    /** GATEHOUSE_DEFAULT_API, for a client granted it; others get no API token without `resource`. */
    async defaultResource(_ctx: KoaContextWithOIDC, client?: ProviderClient): Promise<string | undefined> {
      const fallback = config.defaultApi;
      return fallback !== undefined && client !== undefined && grantedApisOf(client).includes(fallback) ? fallback : undefined;
    },
    async getResourceServerInfo(_ctx: KoaContextWithOIDC, indicator: string, client: ProviderClient): Promise<ResourceServer> {
      // A dynamically registered client reaches the APIs open to such clients, decided now (an API
      // closed to them stops their tokens and refreshes at once), besides any granted to it by name.
      const granted = grantedApisOf(client).includes(indicator);
      if (!granted && !registeredDynamically(client)) throw new errors.InvalidTarget(NOT_GRANTED);
      const api = await apis.get(indicator, () => findApi(db, indicator));
      if (!api) throw new errors.InvalidTarget(NOT_GRANTED);
      if (granted) return resourceServerFor(api, client, config);
      if (!api.openToDynamicClients) throw new errors.InvalidTarget(NOT_GRANTED);
      return resourceServerFor(api, client, config, true);
    },
    // The token request may omit `resource`: use the one the authorization was for.
    async useGrantedResource(): Promise<boolean> {
      return true;
    },
  };
}
