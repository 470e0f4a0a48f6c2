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

export function resourceServerFor(api: Api, client: ProviderClient, config: Config): ResourceServer {
  return {
    scope: clientApiScopes(api.scopes.map((s) => s.name), allowedScopesOf(client)).join(' '),
    audience: api.identifier,
    accessTokenTTL: api.accessTokenTtl ?? config.accessTokenTtl,
    accessTokenFormat: 'jwt',
    jwt: { sign: { alg: api.signingAlg ?? 'ES256' } },
  };
}

/** The scopes of OpenID Connect itself: what the userinfo endpoint answers for. */
export const OPENID_SCOPES = ['openid', 'offline_access', 'profile', 'email'] as const;

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
    async getResourceServerInfo(_ctx: KoaContextWithOIDC, indicator: string, client: ProviderClient): Promise<ResourceServer> {
      if (!grantedApisOf(client).includes(indicator)) throw new errors.InvalidTarget(NOT_GRANTED);
      const api = await apis.get(indicator, () => findApi(db, indicator));
      if (!api) throw new errors.InvalidTarget(NOT_GRANTED);
      return resourceServerFor(api, client, config);
    },
    // The token request may omit `resource`: use the one the authorization was for.
    async useGrantedResource(): Promise<boolean> {
      return true;
    },
  };
}
