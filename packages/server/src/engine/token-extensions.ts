// What introspection (RFC 7662) and revocation (RFC 7009) know beyond oidc-provider's opaque
// tokens: Gatehouse's JWT access tokens and API keys. Runs after oidc-provider has authenticated
// the client and answered; only an answer of {"active": false} is looked at again, so everything
// oidc-provider knows keeps its own answer.
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet, type JWTPayload } from 'jose';
import type { Client as ProviderClient, KoaContextWithOIDC } from 'oidc-provider';
import { findAccessToken, revokeAccessToken } from '../storage/access-tokens.ts';
import { looksLikeApiKey, verifyApiKey } from '../storage/api-keys.ts';
import type { Db } from '../storage/database.ts';
import { findStoredClient } from '../storage/clients.ts';
import { apisOpenToDynamicClients } from '../storage/apis.ts';
import { accountRecord, grantedScopes } from '../storage/users.ts';
import { OIDC_SCOPES, splitScope } from './scope-policy.ts';
import { answerUnavailable } from './unavailable.ts';
import { isMetadataDocumentClientId } from './metadata-documents.ts';

export interface TokenExtensionsOptions {
  readonly db: Db;
  readonly issuer: string;
  /** Whether clients described by metadata documents are accepted now (GATEHOUSE_CLIENT_ID_METADATA_DOCUMENTS). */
  readonly metadataDocuments: boolean;
  /** The public keys currently published (active, next and retired). */
  readonly jwks: () => JSONWebKeySet;
  /** Told when an API key was used (last-used time is written in batches). */
  readonly onApiKeyUse?: (id: string) => void;
  /** The server's own clients, which are not stored (the admin console: console-client.ts). */
  readonly builtInClient?: (clientId: string) => Promise<{ readonly apis: readonly string[]; readonly scopes: readonly string[] } | undefined>;
}

type Introspection = Record<string, unknown> & { active: boolean };
const INACTIVE: Introspection = { active: false };

export interface TokenExtensions {
  /** The answer for a JWT access token or an API key, or undefined when it is neither. */
  introspect(token: string): Promise<Introspection | undefined>;
  /** RFC 7009 for a JWT access token: 'revoked', 'not_mine' (another client's), or undefined. */
  revoke(token: string, clientId: string): Promise<'revoked' | 'not_mine' | undefined>;
}

const looksLikeJwt = (token: string) => token.split('.').length === 3;

export function createTokenExtensions({ db, issuer, jwks, onApiKeyUse, builtInClient, metadataDocuments }: TokenExtensionsOptions): TokenExtensions {
  async function verifyOwnJwt(token: string): Promise<JWTPayload | undefined> {
    try {
      const { payload } = await jwtVerify(token, createLocalJWKSet(jwks()), { issuer, typ: 'at+jwt', algorithms: ['ES256', 'RS256'] });
      return typeof payload.jti === 'string' && typeof payload.client_id === 'string' ? payload : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * The APIs and scopes the token's client may hold now: a built-in client's, a stored client's
   * (none once revoked), and for a dynamic client (registered through RFC 7591 or described by a
   * metadata document) also every API open to such clients, with its scopes, as resources.ts
   * decides at each token request.
   */
  async function reachOf(clientId: string): Promise<{ readonly apis: readonly string[]; readonly scopes: readonly string[] } | undefined> {
    const builtIn = await builtInClient?.(clientId);
    if (builtIn) return builtIn;
    const described = isMetadataDocumentClientId(clientId);
    // Documents turned off: such clients are unknown, and so are the tokens they still hold.
    if (described && !metadataDocuments) return undefined;
    const stored = described ? undefined : await findStoredClient(db, clientId);
    if (!described && (!stored || stored.revokedAt)) return undefined;
    if (stored && !stored.registeredDynamically) return stored;
    const open = await apisOpenToDynamicClients(db);
    return {
      apis: [...(stored?.apis ?? []), ...open.map((api) => api.identifier)],
      scopes: [...(stored?.scopes ?? []), ...open.flatMap((api) => api.scopes.map((scope) => scope.name))],
    };
  }

  async function introspectJwt(token: string): Promise<Introspection> {
    const claims = await verifyOwnJwt(token);
    if (!claims) return INACTIVE;
    const clientId = claims.client_id as string;
    const client = await reachOf(clientId);
    if (!client) return INACTIVE;
    const record = await findAccessToken(db, claims.jti!);
    if (record?.revoked_at) return INACTIVE;
    // The token is checked against the grant as it is now, not as it was at issuance: a JWT
    // carrying a scope the client (or, for a user token, the user's roles) no longer has, or for
    // an API the client is no longer granted, is inactive (issue 10, item 8d; ADR 0004).
    const scopes = splitScope(claims.scope).filter((scope) => !OIDC_SCOPES.has(scope));
    const audiences = typeof claims.aud === 'string' ? [claims.aud] : (claims.aud ?? []);
    if (!audiences.every((aud) => client.apis.includes(aud))) return INACTIVE;
    if (!scopes.every((scope) => client.scopes.includes(scope))) return INACTIVE;
    // Client-credentials tokens say so (gty); older ones are told apart by sub = client_id and no
    // record of a user (user JWTs are recorded at issuance).
    const isClientToken = claims.gty === 'client_credentials' || (claims.sub === clientId && !record?.account_id);
    if (!isClientToken) {
      // A user token lives as long as its grant and its user: both are checked now.
      if (!record?.grant_id || typeof claims.sub !== 'string') return INACTIVE;
      const grant = await db
        .selectFrom('oidc_payloads')
        .select('expires_at')
        .where('model', '=', 'Grant')
        .where('grant_id', '=', record.grant_id)
        .executeTakeFirst();
      if (!grant || (grant.expires_at !== null && grant.expires_at <= Date.now())) return INACTIVE;
      const user = await accountRecord(db, claims.sub);
      if (!user || user.disabled === 1) return INACTIVE;
      const roleScopes = await grantedScopes(db, user.id);
      if (!scopes.every((scope) => roleScopes.has(scope))) return INACTIVE;
    }
    return {
      active: true,
      scope: typeof claims.scope === 'string' ? claims.scope : undefined,
      client_id: clientId,
      sub: claims.sub,
      aud: claims.aud,
      iss: claims.iss,
      exp: claims.exp,
      iat: claims.iat,
      jti: claims.jti,
      token_type: 'Bearer',
      ...(claims.gty === 'client_credentials' ? { gty: 'client_credentials' } : {}),
      ...(typeof claims.preferred_username === 'string' ? { username: claims.preferred_username } : {}),
    };
  }

  async function introspectApiKey(token: string): Promise<Introspection> {
    const key = await verifyApiKey(db, token);
    if (!key) return INACTIVE;
    onApiKeyUse?.(key.id);
    return {
      active: true,
      // The kind of credential (RFC 7662 leaves token_type open): the SDK refuses an API key
      // presented as a bearer token, and an access token presented as an API key.
      token_type: 'api_key',
      scope: key.scopes.join(' ') || undefined,
      sub: key.owner.id,
      ...(key.owner.kind === 'client' ? { client_id: key.owner.id } : {}),
      aud: key.api,
      iss: issuer,
      iat: Math.floor(key.issuedAt / 1000),
      ...(key.expiresAt === null ? {} : { exp: Math.floor(key.expiresAt / 1000) }),
      gatehouse_key_id: key.id,
      gatehouse_owner_kind: key.owner.kind,
    };
  }

  return {
    async introspect(token) {
      if (looksLikeApiKey(token)) return introspectApiKey(token);
      if (looksLikeJwt(token)) return introspectJwt(token);
      return undefined;
    },
    async revoke(token, clientId) {
      if (!looksLikeJwt(token)) return undefined;
      const claims = await verifyOwnJwt(token);
      if (!claims) return undefined;
      if (claims.client_id !== clientId) return 'not_mine';
      await revokeAccessToken(db, {
        jti: claims.jti!,
        grantId: null,
        accountId: typeof claims.sub === 'string' ? claims.sub : null,
        clientId,
        exp: claims.exp ?? Math.floor(Date.now() / 1000),
      });
      return 'revoked';
    },
  };
}

/** The Koa middleware (provider.use) that applies the extensions to /introspect and /revoke. */
/**
 * RFC 7662 §2.1 leaves who may introspect to the server: authenticated (confidential) clients, and
 * among them not one a metadata document describes (anyone can publish a document with a key).
 * Both oidc-provider's policy (configuration.ts) and the answers for Gatehouse's own tokens use it.
 */
export function mayIntrospect(client: Pick<ProviderClient, 'clientAuthMethod' | 'clientId'> | undefined): boolean {
  return client !== undefined && client.clientAuthMethod !== 'none' && !isMetadataDocumentClientId(client.clientId);
}

export function tokenExtensionsMiddleware(
  extensions: TokenExtensions,
  paths: { introspection: string; revocation: string },
  onError: (error: unknown) => void,
) {
  return async (ctx: KoaContextWithOIDC, next: () => Promise<void>): Promise<void> => {
    await next();
    if (ctx.method !== 'POST') return;
    const isIntrospection = ctx.path === paths.introspection;
    const isRevocation = ctx.path === paths.revocation;
    if (!isIntrospection && !isRevocation) return;
    const token = ctx.oidc?.params?.token;
    const client = ctx.oidc?.client;
    if (typeof token !== 'string' || !client) return;
    // oidc-provider's answer when it did not know the token: inactive (opaque), or a refusal of
    // structured tokens, which it raises only after authenticating the client.
    const body = ctx.body as { active?: boolean; error?: string } | undefined;
    const unknownToEngine = (ctx.status === 200 && body?.active === false) || (ctx.status === 400 && body?.error === 'unsupported_token_type');
    if (!unknownToEngine) return;
    try {
      if (isIntrospection) {
        ctx.status = 200;
        ctx.body = mayIntrospect(client) ? ((await extensions.introspect(token)) ?? { active: false }) : { active: false };
      } else {
        // Revoked, another client's (RFC 7009 §2.1: not this client's to revoke, so left alone),
        // or not a token we know: §2.2 answers 200 in every case, so the answer confirms nothing.
        await extensions.revoke(token, client.clientId);
        ctx.status = 200;
        ctx.body = '';
      }
    } catch (error) {
      // A storage failure is never an answer: not active:false, not a 200 on revocation.
      onError(error);
      ctx.status = 500;
      ctx.set('Cache-Control', 'no-store');
      ctx.body = { error: 'server_error', error_description: 'oops! something went wrong' };
      // The database or Redis down: 503 with Retry-After.
      answerUnavailable(ctx, error);
    }
  };
}
