// Builds the OpenID Provider: oidc-provider configured with Gatehouse's storage, accounts,
// APIs, keys, grants and pages. This folder is the only one that imports oidc-provider.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { JSONWebKeySet, JWK } from 'jose';
import Provider, { errors, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import { clientAddress, trustFunction } from '../config/proxy.ts';
import type { Config } from '../config/schema.ts';
import type { PasswordLogin } from '../passwords/password-login.ts';
import { verifySecret } from '../secrets.ts';
import { TtlCache } from '../storage/cache.ts';
import { findStoredClient } from '../storage/clients.ts';
import type { Db } from '../storage/database.ts';
import { recordAccessToken } from '../storage/access-tokens.ts';
import { ensureSecrets, ensureSigningKeys, listSigningKeys, type SigningKey } from '../storage/keys.ts';
import { accountRecord } from '../storage/users.ts';
import { createOidcAdapter, type AlreadyConsumedError } from './oidc-adapter.ts';
import type { AuditEventInput } from '../storage/audit.ts';
import { createFindAccount } from './accounts.ts';
import { CODE_REPLAYED, registerAuthorizationCode } from './authorization-code.ts';
import { registerClientCredentials } from './client-credentials.ts';
import { toClientMetadata } from './client-metadata.ts';
import { createLoadExistingGrant } from './grants.ts';
import { createInteractionPolicy } from './interaction-policy.ts';
import { registerPasswordGrant } from './password-grant.ts';
import { registerRefreshRotation } from './refresh-rotation.ts';
import { createResourceIndicators } from './resources.ts';
import { protocolAnswersMiddleware } from './protocol-answers.ts';
import { createTokenExtensions, tokenExtensionsMiddleware } from './token-extensions.ts';
import { answerUnavailableFromProvider } from './unavailable.ts';
import { securityAuditEvent, type SecurityEvent } from './security-events.ts';
import { createProviderPages } from './provider-pages.ts';
import type { Layout } from '../html/layout.ts';
import { accountClientMetadata, ACCOUNT_CLIENT_ID } from './account-client.ts';
import { consoleClientMetadata, CONSOLE_CLIENT_ID } from './console-client.ts';
import { findApi } from '../storage/apis.ts';

/** Where each protocol endpoint lives, relative to the issuer. */
export const ROUTES = {
  authorization: '/authorize',
  token: '/token',
  userinfo: '/userinfo',
  jwks: '/jwks',
  introspection: '/introspect',
  revocation: '/revoke',
  end_session: '/logout',
  pushed_authorization_request: '/par',
  // Dynamic registration is off; its path is kept clear of the self-service /register page.
  registration: '/connect/register',
  code_verification: '/device',
  device_authorization: '/device/auth',
  backchannel_authentication: '/backchannel',
  challenge: '/challenge',
  credential: '/credential',
} as const;

export const INTERACTION_PATH = '/interaction';

// Asymmetric algorithms only: with client secrets stored as hashes, an HS* algorithm would use
// the hash as a key. EdDSA and PS256 are accepted from clients; the server signs with ES256/RS256.
const SIGNING_ALGS = ['ES256', 'RS256'];
const CLIENT_ALGS = ['ES256', 'ES384', 'RS256', 'PS256', 'EdDSA'];

export interface Engine {
  /** The current provider; replaced (not mutated) when the signing keys change. */
  readonly provider: Provider;
  /** A request handler that always reaches the current provider. */
  readonly callback: (req: IncomingMessage, res: ServerResponse) => void;
  /** Rebuilds the provider when the published signing keys changed; true if they had. */
  reloadKeys(): Promise<boolean>;
  /** The public keys published now (active, next, retired). */
  publishedJwks(): JSONWebKeySet;
  /** How long a retired key stays published (the longest token lifetime). */
  retentionMs(): number;
  /** Forgets cached client and API definitions (call after changing them in this process). */
  invalidateCaches(): void;
  /** Removes everything issued under a grant: refresh tokens, codes, the grant itself. */
  revokeGrant(grantId: string): Promise<void>;
}

export interface EngineDeps {
  readonly db: Db;
  readonly config: Config;
  readonly passwordLogin: PasswordLogin;
  /** The branded layout of the pages oidc-provider renders (errors, logout). */
  readonly layout: Layout;
  readonly onServerError?: (error: unknown) => void;
  /** Told when an API key was used (last-used times are written in batches). */
  readonly onApiKeyUse?: (id: string) => void;
  /** Told why a protocol request was refused (for debug logs; never a secret). */
  readonly onProtocolError?: (event: { endpoint: string; error: string | undefined; detail: string | undefined }) => void;
  /** Writes to the audit log (security events: a replayed code, a reused refresh token). */
  readonly audit?: (event: AuditEventInput) => Promise<void>;
}

const PUBLIC_MEMBERS = ['kty', 'crv', 'x', 'y', 'n', 'e', 'kid', 'alg', 'use'] as const;

function publicJwk(key: SigningKey): JWK {
  const jwk: JWK = {};
  for (const member of PUBLIC_MEMBERS) if (key.privateJwk[member] !== undefined) (jwk as Record<string, unknown>)[member] = key.privateJwk[member];
  if (key.state !== 'active') jwk.key_ops = ['verify'];
  return jwk;
}

/**
 * The keys oidc-provider is given: the active key of each algorithm signs; `next` keys (published
 * before they sign) and `retired` keys (published until what they signed has expired) only verify.
 */
function providerKeys(keys: readonly SigningKey[]): JWK[] {
  const order = { active: 0, next: 1, retired: 2 } as const;
  return [...keys]
    .sort((a, b) => order[a.state] - order[b.state])
    .map((key) => (key.state === 'active' ? key.privateJwk : { ...key.privateJwk, key_ops: ['verify'] }));
}

/**
 * Under an https issuer, cookie name prefixes make browsers enforce what the cookies need
 * (RFC 6265bis §4.1.3): `__Host-` for the session (Secure, Path=/, no Domain: no subdomain can
 * set or shadow it); `__Secure-` for the interaction cookies, whose paths are the interaction's
 * (`/interaction/<uid>`, `/authorize/<uid>`), which `__Host-` forbids. Over http (development)
 * browsers refuse both prefixes, so the names stay oidc-provider's.
 */
export function cookieNames(publicUrl: string): { session: string; interaction: string; resume: string } {
  return publicUrl.startsWith('https:')
    ? { session: '__Host-session', interaction: '__Secure-interaction', resume: '__Secure-interaction_resume' }
    : { session: '_session', interaction: '_interaction', resume: '_interaction_resume' };
}

const fingerprint = (keys: readonly SigningKey[]) => keys.map((k) => `${k.kid}:${k.state}`).sort().join(',');

export async function createEngine({ db, config, passwordLogin, layout, onServerError, onApiKeyUse, onProtocolError, audit }: EngineDeps): Promise<Engine> {
  const { renderError, logoutSource, postLogoutSuccessSource } = createProviderPages(layout);
  const [initialKeys, cookieKeys] = await Promise.all([ensureSigningKeys(db), ensureSecrets(db, 'cookie')]);
  const revokeGrant = async (grantId: string): Promise<void> => {
    await db.deleteFrom('oidc_payloads').where('grant_id', '=', grantId).execute();
  };
  const resourceIndicators = createResourceIndicators(db, config);
  const clientMetadata = new TtlCache<ReturnType<typeof toClientMetadata> | undefined>(config.cacheTtl * 1000);
  const usernames = new TtlCache<string | undefined>(config.cacheTtl * 1000);
  const trust = trustFunction(config.trustProxy);

  const onSecurityEvent = async (event: SecurityEvent): Promise<void> => {
    await audit?.(securityAuditEvent(event));
  };
  // The console may ask for every scope the admin API defines (its users' roles decide what they get).
  const consoleScopes = new TtlCache<readonly string[]>(config.cacheTtl * 1000);
  const consoleClient = async (): Promise<ReturnType<typeof consoleClientMetadata>> => {
    const adminApi = `${config.publicUrl}/admin/api`;
    const adminScopes = await consoleScopes.get(adminApi, async () => (await findApi(db, adminApi))?.scopes.map((scope) => scope.name) ?? []);
    return consoleClientMetadata({ publicUrl: config.publicUrl, brandName: layout.brand.name, adminApi, adminScopes });
  };
  const adapter = createOidcAdapter(db, {
    refreshReuseGraceMs: config.refreshTokenReuseGrace * 1000,
    // A consumed code is kept as long as its grant may live, so a late replay still revokes it.
    consumedCodeRetentionMs: Math.max(config.grantTtl, config.authorizationCodeTtl) * 1000,
    async findClient(clientId) {
      // The server's own account pages sign in through it like any app (engine/account-client.ts).
      if (clientId === ACCOUNT_CLIENT_ID) return accountClientMetadata(config.publicUrl, layout.brand.name);
      // The admin console (/admin), unless GATEHOUSE_ADMIN_CONSOLE=false: engine/console-client.ts.
      if (clientId === CONSOLE_CLIENT_ID && config.adminConsole) return consoleClient();
      const metadata = await clientMetadata.get(clientId, async () => {
        const client = await findStoredClient(db, clientId);
        // A revoked client is an unknown client: no authentication, no tokens.
        return client && !client.revokedAt ? toClientMetadata(client) : undefined;
      });
      // oidc-provider may keep what it is given: hand out a copy.
      return metadata && { ...metadata };
    },
    async onConsumeRace(race: AlreadyConsumedError) {
      // Two redemptions of one code at the same moment: exactly one wins (the adapter's atomic
      // update). The loser gets invalid_grant and, as for any replay, what the first one got is
      // revoked (RFC 6749 §4.1.2); authorization-code.ts reports it. Refresh-token races are
      // settled by refresh-rotation.ts.
      if (race.model === 'AuthorizationCode') {
        if (race.grantId) await revokeGrant(race.grantId);
        throw new errors.InvalidGrant(CODE_REPLAYED);
      }
    },
  });

  function build(keys: readonly SigningKey[]): Provider {
    const configuration: Configuration = {
      adapter,
      findAccount: createFindAccount(db),
      jwks: { keys: providerKeys(keys) as never },
      cookies: {
        // Must be given here: oidc-provider reads them once, at construction.
        keys: cookieKeys,
        names: cookieNames(config.publicUrl),
        long: { signed: true, httpOnly: true, sameSite: 'lax' },
        short: { signed: true, httpOnly: true, sameSite: 'lax' },
      },
      scopes: ['openid', 'offline_access', 'profile', 'email'],
      claims: {
        openid: ['sub'],
        profile: ['preferred_username', 'updated_at'],
        email: ['email', 'email_verified'],
      },
      // Authorization code only: no implicit or hybrid flows (RFC 9700 §2.1.2). `none` (no token
      // at all, just a login session) is for the server's own account pages; registered clients
      // only ever get response_types ['code'].
      responseTypes: ['code', 'none'],
      pkce: {
        // S256 only (oidc-provider 9 refuses `plain`); required for public clients.
        required: (_ctx, client) => client.tokenEndpointAuthMethod === 'none',
      },
      clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'none'],
      enabledJWA: {
        idTokenSigningAlgValues: SIGNING_ALGS as never,
        userinfoSigningAlgValues: SIGNING_ALGS as never,
        introspectionSigningAlgValues: SIGNING_ALGS as never,
        authorizationSigningAlgValues: SIGNING_ALGS as never,
        requestObjectSigningAlgValues: CLIENT_ALGS as never,
        clientAuthSigningAlgValues: CLIENT_ALGS as never,
      },
      clientDefaults: {
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
        id_token_signed_response_alg: 'ES256',
      },
      extraClientMetadata: {
        properties: ['api_scopes', 'apis', 'cors_origins', 'first_party'],
      },
      // Browsers may call the token, introspection and revocation endpoints only from origins the
      // client lists (Swagger UI on the API's own origin, for instance).
      clientBasedCORS: (_ctx, origin, client) => Array.isArray(client.cors_origins) && (client.cors_origins as string[]).includes(origin),
      features: {
        devInteractions: { enabled: false },
        registration: { enabled: false },
        introspection: {
          enabled: true,
          // RFC 7662 §2.1: only authenticated (confidential) clients may introspect.
          allowedPolicy: async (ctx) => ctx.oidc.client?.clientAuthMethod !== 'none',
        },
        revocation: {
          enabled: true,
          // RFC 7009 §2.1: a client revokes only its own tokens. Another client's token is left
          // alone and answered 200 like an unknown one (§2.2): a refusal would confirm it is valid.
          allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId,
        },
        clientCredentials: { enabled: true },
        userinfo: { enabled: true },
        rpInitiatedLogout: { enabled: true, logoutSource, postLogoutSuccessSource },
        resourceIndicators,
      },
      interactions: {
        url: (_ctx, interaction) => `${INTERACTION_PATH}/${interaction.uid}`,
        // A session whose user was disabled or deleted asks for a login, never a 500.
        policy: createInteractionPolicy(),
      },
      loadExistingGrant: createLoadExistingGrant(db),
      // RFC 9068 §2.2.3.1: user access tokens name the user, so an API can show who is calling
      // without another request. Client-credentials tokens say what they are (`gty`, as Auth0 and
      // @gatehouse/sdk's principal kinds read it): a client's token never passes for a user's.
      extraTokenClaims: async (_ctx, token) => {
        if (token.kind === 'ClientCredentials') return { gty: 'client_credentials' };
        const accountId = 'accountId' in token ? token.accountId : undefined;
        if (!accountId) return undefined;
        // oidc-provider keeps no JWT: record which grant a user's JWT access token belongs to, so
        // introspection can answer active:false once the grant (or the user) is revoked.
        if (token.kind === 'AccessToken' && token.grantId && token.resourceServer?.accessTokenFormat === 'jwt') {
          await recordAccessToken(db, {
            jti: token.jti!,
            grantId: token.grantId,
            accountId,
            clientId: token.clientId!,
            exp: token.exp ?? Math.floor(Date.now() / 1000) + token.expiration,
          });
        }
        const username = await usernames.get(accountId, async () => (await accountRecord(db, accountId))?.username);
        return username === undefined ? undefined : { preferred_username: username };
      },
      // Plain OAuth 2.0 requests get a refresh token when the client may use one; OpenID Connect
      // requests follow the offline_access scope.
      // A client allowed the refresh_token grant gets refresh tokens: for plain OAuth 2.0 requests,
      // for OpenID Connect requests with offline_access, and for first-party clients always (their
      // grant needs no consent page, so offline_access — which OpenID Connect only honours with
      // prompt=consent — is not needed either; such tokens still end with the login session).
      issueRefreshToken: async (_ctx, client, code) =>
        client.grantTypeAllowed('refresh_token') &&
        (code.scopes.has('offline_access') || !code.scopes.has('openid') || client.first_party === true),
      rotateRefreshToken: true,
      ttl: {
        // An API's own lifetime wins over the server default (a number here would override it).
        AccessToken: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? config.accessTokenTtl,
        ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? config.accessTokenTtl,
        AuthorizationCode: config.authorizationCodeTtl,
        IdToken: config.idTokenTtl,
        Interaction: config.interactionTtl,
        // A public browser client's rotated refresh token keeps its predecessor's expiry: rotation
        // does not extend the session a stolen token could ride (RFC 9700 §4.14.2; as oidc-provider's
        // default). Everyone else gets a fresh lifetime at each rotation.
        RefreshToken: (ctx, token, client) => {
          const rotated = ctx?.oidc?.entities?.RotatedRefreshToken as { remainingTTL: number } | undefined;
          if (rotated && client.applicationType === 'web' && client.clientAuthMethod === 'none' && !token.isSenderConstrained()) {
            return rotated.remainingTTL;
          }
          return config.refreshTokenTtl;
        },
        Session: config.sessionTtl,
        Grant: config.grantTtl,
      },
      renderError: renderError as Configuration['renderError'],
      routes: ROUTES,
      conformIdTokenClaims: true,
    };

    const provider = new Provider(config.publicUrl, configuration);
    // Koa's `proxy` would take the left-most X-Forwarded-For entry, which the client writes:
    // off. The client's address is set below by the same rule as Fastify's request.ip.
    provider.proxy = false;

    // Client secrets are stored as SHA-256 hashes: hash what the client sent, compare in constant time.
    provider.Client.prototype.compareClientSecret = function compareClientSecret(this: { clientSecret?: string }, actual: string) {
      return Promise.resolve(typeof actual === 'string' && typeof this.clientSecret === 'string' && verifySecret(actual, this.clientSecret));
    } as never;

    registerAuthorizationCode(provider, { db, revokeGrant, onSecurityEvent });
    registerClientCredentials(provider, resourceIndicators);
    registerRefreshRotation(provider, { db, graceSeconds: config.refreshTokenReuseGrace, retrySeconds: config.refreshTokenRetryWindow, revokeGrant, onSecurityEvent });
    registerPasswordGrant(provider, { db, passwordLogin, resources: resourceIndicators });

    const publicUrl = new URL(config.publicUrl);
    provider.use(async (ctx, next) => {
      // Every URL the engine builds (discovery, redirects, form actions) comes from the public
      // URL, never from the Host header: behind a proxy, or when reached as 127.0.0.1, the
      // endpoints and redirect targets stay the ones clients registered against.
      const { originalUrl } = ctx.request;
      // The password grant throttles by ctx.ip: the same address the pages and the audit log see.
      if (trust !== false) ctx.request.ip = clientAddress(ctx.req, trust);
      Object.defineProperty(ctx.request, 'href', { value: new URL(originalUrl, publicUrl.origin).href, configurable: true });
      // Cookies are Secure whenever the public URL is https, even behind a proxy that does not
      // say so (a Secure cookie over what Node sees as plain HTTP is refused by Koa otherwise).
      // oidc-provider sets its session cookie through a context of its own, Secure when
      // ctx.secure is: the request is https as far as it is concerned (a __Host- cookie without
      // Secure would be dropped by the browser).
      if (publicUrl.protocol === 'https:') {
        ctx.cookies.secure = true;
        Object.defineProperty(ctx.request, 'protocol', { value: 'https', configurable: true });
      }
      await next();
      ctx.set('X-Content-Type-Options', 'nosniff');
      ctx.set('Referrer-Policy', 'no-referrer');
    });
    // Introspection and revocation of JWT access tokens and API keys (token-extensions.ts).
    provider.use(tokenExtensionsMiddleware(extensions, ROUTES, (error) => onServerError?.(error)));
    // RFC 6749 §5.1/§5.2 where oidc-provider's answers differ (protocol-answers.ts).
    provider.use(protocolAnswersMiddleware(config.publicUrl, ROUTES));
    provider.on('server_error', (_ctx: KoaContextWithOIDC, error: unknown) => onServerError?.(error));
    // A dependency down is a 503 with Retry-After, not a 500 (unavailable.ts).
    answerUnavailableFromProvider(provider);
    // Why a token request was refused (oidc-provider keeps the detail out of the response).
    provider.on('grant.error', (_ctx: KoaContextWithOIDC, error: { error?: string; error_detail?: string }) =>
      onProtocolError?.({ endpoint: 'token', error: error.error, detail: error.error_detail }),
    );
    return provider;

}

  // A retired key stays published while anything it signed may still be valid: the longest
  // access-token lifetime of any API, and the ID token lifetime.
  const retentionMs = async (): Promise<number> => {
    const row = await db.selectFrom('apis').select((eb) => eb.fn.max('access_token_ttl').as('ttl')).executeTakeFirst();
    return Math.max(config.accessTokenTtl, config.idTokenTtl, Number(row?.ttl ?? 0)) * 1000;
  };
  let retention = await retentionMs();
  const isPublished = (key: SigningKey): boolean => key.state !== 'retired' || (key.retiredAt ?? 0) + retention > Date.now();

  let keys = initialKeys.filter(isPublished);
  const extensions = createTokenExtensions({
    db,
    issuer: config.publicUrl,
    jwks: () => ({ keys: keys.map(publicJwk) }),
    ...(onApiKeyUse ? { onApiKeyUse } : {}),
    // The console's tokens are checked against its metadata as it is now (off: none are active).
    builtInClient: async (clientId) => {
      if (clientId !== CONSOLE_CLIENT_ID || !config.adminConsole) return undefined;
      const metadata = await consoleClient();
      return { apis: metadata.apis as string[], scopes: metadata.api_scopes as string[] };
    },
  });
  let provider = build(keys);
  let callback = provider.callback();

  return {
    get provider() {
      return provider;
    },
    callback: (req, res) => void callback(req, res),
    async reloadKeys() {
      retention = await retentionMs();
      const current = (await listSigningKeys(db)).filter(isPublished);
      if (fingerprint(current) === fingerprint(keys)) return false;
      keys = current;
      provider = build(keys);
      callback = provider.callback();
      return true;
    },
    publishedJwks: () => ({ keys: keys.map(publicJwk) }),
    retentionMs: () => retention,
    revokeGrant,
    invalidateCaches() {
      clientMetadata.clear();
      usernames.clear();
      resourceIndicators.invalidate();
    },
  };
}
