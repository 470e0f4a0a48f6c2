// Builds the OpenID Provider: oidc-provider configured with Gatehouse's storage, accounts,
// APIs, keys, grants and pages. This folder is the only one that imports oidc-provider.
import type { SigningKey } from '../storage/keys.ts';
import { recordSecurityEvents } from '../storage/security-events.ts';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { JSONWebKeySet } from 'jose';
import Provider, { errors, type ClientMetadata, type KoaContextWithOIDC } from 'oidc-provider';
import type { Config } from '../config/schema.ts';
import type { PasswordLogin } from '../passwords/password-login.ts';
import type { RateLimiter } from '../passwords/throttle.ts';
import { verifySecret } from '../secrets.ts';
import { TtlCache } from '../storage/cache.ts';
import { findStoredClient } from '../storage/clients.ts';
import type { Db } from '../storage/database.ts';
import { recordAccessToken } from '../storage/access-tokens.ts';
import { ensureSecrets } from '../storage/keys.ts';
import { forget } from '../storage/scope.ts';
import { accountRecord } from '../storage/users.ts';
import { createOidcAdapter, type AlreadyConsumedError } from './oidc-adapter.ts';
import type { AuditEventInput } from '../storage/audit.ts';
import { createFindAccount } from './accounts.ts';
import { CODE_REPLAYED, registerAuthorizationCode } from './authorization-code.ts';
import { registerClientCredentials } from './client-credentials.ts';
import { toClientMetadata } from './client-metadata.ts';
import { ROUTES, providerConfiguration } from './configuration.ts';
import { createLoadExistingGrant } from './grants.ts';
import { loadPublishedKeys, providerKeys, type PublishedKeys } from './keys.ts';
import { registerPasswordGrant } from './password-grant.ts';
import { publicClientBasicMiddleware } from './public-client-basic.ts';
import { publicUrlMiddleware } from './public-url.ts';
import { registerRefreshRotation } from './refresh-rotation.ts';
import { createResourceIndicators, isDynamicClient } from './resources.ts';
import { protocolAnswersMiddleware } from './protocol-answers.ts';
import { createTokenExtensions, tokenExtensionsMiddleware, type TokenExtensions } from './token-extensions.ts';
import { answerUnavailableFromProvider } from './unavailable.ts';
import { securityAuditEvent, type SecurityEvent } from './security-events.ts';
import { createProviderPages } from './provider-pages.ts';
import type { Layout } from '../html/layout.ts';
import { accountClientMetadata, ACCOUNT_CLIENT_ID } from './account-client.ts';
import { consoleClientMetadata, CONSOLE_CLIENT_ID } from './console-client.ts';
import { adminDocsClientMetadata, ADMIN_DOCS_CLIENT_ID } from './admin-docs-client.ts';
import { findApi } from '../storage/apis.ts';
import { reportProviderDeliveries, sendLogoutTokens, sessionParticipants, type BackchannelOutcome, type LogoutNotice } from './backchannel-logout.ts';

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
  /** The ES256 key tokens are signed with now (security event tokens are too: signals/). */
  activeSigningKey(): SigningKey;
  /** Forgets cached client and API definitions (call after changing them in this process). */
  invalidateCaches(): void;
  /** Removes everything issued under a grant: refresh tokens, codes, the grant itself. */
  revokeGrant(grantId: string): Promise<void>;
  /**
   * Runs `end`, which ends sessions of the account in storage, then sends a logout token to each
   * client of those sessions that registered a backchannel_logout_uri (failures are reported).
   */
  endingSessions<T>(accountId: string, end: () => Promise<T>): Promise<T>;
  /**
   * The same in two steps, for sessions ended inside a transaction: who took part in the account's
   * sessions (all, or all but `keepSession`) is read now; `send()` once they have ended.
   */
  sessionsEnding(accountId: string, options?: { keepSession?: string }): Promise<LogoutNotice>;
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
  /** Rate limits shared by every instance (client metadata documents fetched per address). */
  readonly limiter?: RateLimiter;
  /** Told of each logout token sent (or not) to a client's backchannel_logout_uri. */
  readonly onBackchannelLogout?: (outcome: BackchannelOutcome) => void;
}

type Adapter = ReturnType<typeof createOidcAdapter>;
type ClientMetadataCache = TtlCache<ReturnType<typeof toClientMetadata> | undefined>;

export async function createEngine(deps: EngineDeps): Promise<Engine> {
  const { db, config } = deps;
  const cookieKeys = await ensureSecrets(db, 'cookie');
  const keys = await loadPublishedKeys(db, config);
  const revokeGrant = async (grantId: string): Promise<void> => {
    // Rows the transaction in scope read ahead may be among those deleted.
    forget('oidc_payloads:');
    await db.deleteFrom('oidc_payloads').where('grant_id', '=', grantId).execute();
  };
  const resourceIndicators = createResourceIndicators(db, config);
  const clientMetadata: ClientMetadataCache = new TtlCache(config.cacheTtl * 1000);
  const usernames = new TtlCache<string | undefined>(config.cacheTtl * 1000);
  const builtInAdminClient = adminClientSource(deps);
  const extensions = createTokenExtensions({
    db,
    issuer: config.publicUrl,
    metadataDocuments: config.clientIdMetadataDocuments,
    jwks: () => keys.jwks(),
    ...(deps.onApiKeyUse ? { onApiKeyUse: deps.onApiKeyUse } : {}),
    // The console's tokens are checked against its metadata as it is now (off: none are active).
    builtInClient: async (clientId) => {
      const metadata = await builtInAdminClient(clientId);
      return metadata && { apis: metadata.apis as string[], scopes: metadata.api_scopes as string[] };
    },
  });
  const parts: ProviderParts = {
    deps,
    cookieKeys,
    keys,
    revokeGrant,
    resourceIndicators,
    extensions,
    adapter: createAdapter(deps, clientMetadata, revokeGrant, builtInAdminClient),
    usernameOf: (accountId) => usernames.get(accountId, async () => (await accountRecord(db, accountId))?.username),
  };
  let provider = buildProvider(parts);
  let callback = provider.callback();
  const sessionsEnding: Engine['sessionsEnding'] = async (accountId, options = {}) => {
    const participants = await sessionParticipants(db, accountId, options);
    // The provider current when sending: keys may have been reloaded meanwhile.
    return { send: () => sendLogoutTokens(provider, accountId, participants, (outcome) => deps.onBackchannelLogout?.(outcome)) };
  };

  return {
    get provider() {
      return provider;
    },
    callback: (req, res) => void callback(req, res),
    async reloadKeys() {
      if (!(await keys.reload())) return false;
      provider = buildProvider(parts);
      callback = provider.callback();
      return true;
    },
    publishedJwks: () => keys.jwks(),
    activeSigningKey: () => {
      const active = keys.current().find((key) => key.state === 'active' && key.alg === 'ES256');
      if (!active) throw new Error('no active ES256 signing key');
      return active;
    },
    retentionMs: () => keys.retentionMs(),
    revokeGrant,
    sessionsEnding,
    async endingSessions(accountId, end) {
      const notice = await sessionsEnding(accountId);
      const result = await end();
      await notice.send();
      return result;
    },
    invalidateCaches() {
      clientMetadata.clear();
      usernames.clear();
      resourceIndicators.invalidate();
    },
  };
}

/** What every build of the provider shares; only the published keys change between builds. */
interface ProviderParts {
  readonly deps: EngineDeps;
  readonly cookieKeys: string[];
  readonly keys: PublishedKeys;
  readonly revokeGrant: (grantId: string) => Promise<void>;
  readonly resourceIndicators: ReturnType<typeof createResourceIndicators>;
  readonly extensions: TokenExtensions;
  readonly adapter: Adapter;
  readonly usernameOf: (accountId: string) => Promise<string | undefined>;
}

/** The built-in clients of the admin API (its console and its docs page), by client id; undefined for any other. */
type AdminClientSource = (clientId: string) => Promise<ClientMetadata | undefined>;

/**
 * The admin console (engine/console-client.ts, unless GATEHOUSE_ADMIN_CONSOLE=false) and the admin
 * API's Swagger UI (engine/admin-docs-client.ts): each may ask for every scope the admin API defines.
 */
function adminClientSource({ db, config, layout }: EngineDeps): AdminClientSource {
  const adminScopes = new TtlCache<readonly string[]>(config.cacheTtl * 1000);
  const adminApi = `${config.publicUrl}/admin/api`;
  return async (clientId) => {
    const isConsole = clientId === CONSOLE_CLIENT_ID && config.adminConsole;
    if (!isConsole && clientId !== ADMIN_DOCS_CLIENT_ID) return undefined;
    const scopes = await adminScopes.get(adminApi, async () => (await findApi(db, adminApi))?.scopes.map((scope) => scope.name) ?? []);
    const options = { publicUrl: config.publicUrl, brandName: layout.brand.name, adminApi, adminScopes: scopes };
    return isConsole ? consoleClientMetadata(options) : adminDocsClientMetadata(options);
  };
}

function createAdapter(
  { db, config, layout }: EngineDeps,
  clientMetadata: ClientMetadataCache,
  revokeGrant: (grantId: string) => Promise<void>,
  builtInAdminClient: AdminClientSource,
): Adapter {
  return createOidcAdapter(db, {
    refreshReuseGraceMs: config.refreshTokenReuseGrace * 1000,
    // A consumed code is kept as long as its grant may live, so a late replay still revokes it.
    consumedCodeRetentionMs: Math.max(config.grantTtl, config.authorizationCodeTtl) * 1000,
    async findClient(clientId) {
      // The server's own account pages sign in through it like any app (engine/account-client.ts).
      if (clientId === ACCOUNT_CLIENT_ID) return accountClientMetadata(config.publicUrl, layout.brand.name);
      // The admin console (/admin) and the admin API's Swagger UI (/admin/docs).
      const adminClient = await builtInAdminClient(clientId);
      if (adminClient) return adminClient;
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
}

function buildProvider(parts: ProviderParts): Provider {
  const { db, config, passwordLogin, layout, onServerError, onProtocolError, audit } = parts.deps;
  const { revokeGrant, resourceIndicators } = parts;
  const provider = new Provider(
    config.publicUrl,
    providerConfiguration(config, {
      adapter: parts.adapter,
      findAccount: createFindAccount(db),
      loadExistingGrant: createLoadExistingGrant(db),
      resourceIndicators,
      keys: providerKeys(parts.keys.current()),
      cookieKeys: parts.cookieKeys,
      pages: createProviderPages(layout),
      recordAccessToken: (record) => recordAccessToken(db, record),
      usernameOf: parts.usernameOf,
      ...(parts.deps.limiter ? { limiter: parts.deps.limiter } : {}),
    }),
  );
  // Koa's `proxy` would take the left-most X-Forwarded-For entry, which the client writes:
  // off. The client's address is set by publicUrlMiddleware, by the same rule as Fastify's request.ip.
  provider.proxy = false;

  // Client secrets are stored as SHA-256 hashes: hash what the client sent, compare in constant time.
  provider.Client.prototype.compareClientSecret = function compareClientSecret(this: { clientSecret?: string }, actual: string) {
    return Promise.resolve(typeof actual === 'string' && typeof this.clientSecret === 'string' && verifySecret(actual, this.clientSecret));
  } as never;

  const onSecurityEvent = async (event: SecurityEvent): Promise<void> => {
    await audit?.(securityAuditEvent(event));
    // The grant was revoked: resource servers drop its tokens (CAEP session-revoked for the user with this client).
    if (event.accountId !== null) {
      await recordSecurityEvents(db, [{ type: 'session-revoked', subject: { user: event.accountId, client: event.clientId }, payload: { reason_admin: { en: event.type } } }]);
    }
  };
  registerAuthorizationCode(provider, { db, revokeGrant, onSecurityEvent });
  registerClientCredentials(provider, resourceIndicators);
  registerRefreshRotation(provider, { db, graceSeconds: config.refreshTokenReuseGrace, retrySeconds: config.refreshTokenRetryWindow, revokeGrant, onSecurityEvent });
  registerPasswordGrant(provider, { db, passwordLogin, resources: resourceIndicators });

  provider.use(publicUrlMiddleware(config));
  // Swagger UI's password flow: a public client named by HTTP Basic with an empty password (public-client-basic.ts).
  provider.use(publicClientBasicMiddleware(provider, ROUTES.token));
  // Introspection and revocation of JWT access tokens and API keys (token-extensions.ts).
  provider.use(tokenExtensionsMiddleware(parts.extensions, ROUTES, (error) => onServerError?.(error)));
  // RFC 6749 §5.1/§5.2 where oidc-provider's answers differ (protocol-answers.ts).
  provider.use(protocolAnswersMiddleware(config.publicUrl, ROUTES));
  reportProviderDeliveries(provider, (outcome) => parts.deps.onBackchannelLogout?.(outcome));
  // A user signed out (RP-initiated logout): resource servers hear it as CAEP session-revoked.
  provider.on('end_session.success', (ctx: KoaContextWithOIDC) => {
    const accountId = ctx.oidc?.session?.accountId;
    if (typeof accountId !== 'string') return;
    recordSecurityEvents(db, [{ type: 'session-revoked', subject: { user: accountId }, payload: { reason_user: { en: 'signed out' } } }]).catch((error: unknown) => onServerError?.(error));
  });
  provider.on('server_error', (_ctx: KoaContextWithOIDC, error: unknown) => onServerError?.(error));
  // Errors of a dynamic client's authorization request are shown here, not redirected (below).
  provider.on('authorization.error', keepErrorOfDynamicClient);
  provider.on('server_error', keepErrorOfDynamicClient);
  // A dependency down is a 503 with Retry-After, not a 500 (unavailable.ts).
  answerUnavailableFromProvider(provider);
  // Why a token request was refused (oidc-provider keeps the detail out of the response).
  provider.on('grant.error', (_ctx: KoaContextWithOIDC, error: { error?: string; error_detail?: string }) =>
    onProtocolError?.({ endpoint: 'token', error: error.error, detail: error.error_detail }),
  );
  return provider;
}

/**
 * RFC 9700 §4.11.2: the server redirects to a URI unasked only when it trusts it. A dynamic
 * client's redirect URI is whatever anyone registered or published, so an error of its request at
 * /authorize (prompt=none, a bad parameter: before any page was shown) would make this server an
 * open redirector. Such an error is rendered as our error page instead. After the login and consent
 * pages (which show the destination: /authorize/<uid>), the user chose to go there: redirected.
 * oidc-provider emits these events just before it decides between a redirect and renderError.
 */
function keepErrorOfDynamicClient(ctx: KoaContextWithOIDC, error: unknown): void {
  const client = ctx.oidc?.client;
  if (ctx.path !== ROUTES.authorization || !client || !isDynamicClient(client)) return;
  if (typeof error === 'object' && error !== null) (error as { allow_redirect?: boolean }).allow_redirect = false;
  // prompt=none's errors carry 303, the status of the redirect they were meant for.
  if (ctx.status < 400) ctx.status = 400;
}
