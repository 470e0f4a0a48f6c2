// APIs as oidc-provider resource servers (RFC 8707): the audience, the scopes a client may get,
// the lifetime and signing algorithm of JWT access tokens (RFC 9068).
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

export function resourceServerFor(api: Api, client: ProviderClient, config: Config): ResourceServer {
  return {
    scope: clientApiScopes(api.scopes.map((s) => s.name), allowedScopesOf(client)).join(' '),
    audience: api.identifier,
    accessTokenTTL: api.accessTokenTtl ?? config.accessTokenTtl,
    accessTokenFormat: 'jwt',
    jwt: { sign: { alg: api.signingAlg ?? 'ES256' } },
  };
}

export function createResourceIndicators(db: Db, config: Config) {
  const apis = new TtlCache<Api | undefined>(config.cacheTtl * 1000);
  return {
    /** Drops cached API definitions (after a change made through this process). */
    invalidate(): void {
      apis.clear();
    },
    enabled: true,
    async defaultResource(): Promise<string | undefined> {
      return config.defaultApi;
    },
    async getResourceServerInfo(_ctx: KoaContextWithOIDC, indicator: string, client: ProviderClient): Promise<ResourceServer> {
      const api = await apis.get(indicator, () => findApi(db, indicator));
      if (!api) throw new errors.InvalidTarget(`unknown API: no API has the identifier given in "resource"`);
      return resourceServerFor(api, client, config);
    },
    // The token request may omit `resource`: use the one the authorization was for.
    async useGrantedResource(): Promise<boolean> {
      return true;
    },
  };
}
