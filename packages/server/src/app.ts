// Builds the Gatehouse server from its parts: storage, the shared state, the password login, the
// protocol engine and its key maintenance, the pages, the admin API, and the timers that run
// beside the requests. Returns a Fastify app that is not listening yet (tests use `inject` or
// `listen`).
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { trustFunction } from './config/proxy.ts';
import type { Config } from './config/schema.ts';
import { createInteractionApi } from './engine/interactions.ts';
import { KeyMaintenance } from './engine/key-maintenance.ts';
import { mountProvider } from './engine/mount.ts';
import { ADMIN_DOCS_CLIENT_ID } from './engine/admin-docs-client.ts';
import { registrationRoutes, type RegistrationOptions } from './engine/dynamic-registration.ts';
import { createEngine, type Engine } from './engine/provider.ts';
import { Layout } from './html/layout.ts';
import { CsrfTokens, SignedValues } from './pages/csrf.ts';
import { Pages } from './pages/templates.ts';
import { interactionRoutes, type InteractionRoutesOptions } from './pages/routes.ts';
import { createMailer, type Mailer } from './mail/mailer.ts';
import { SecretBox } from './passwords/totp.ts';
import { relyingPartyFor } from './passkeys/webauthn.ts';
import { adminApi } from './admin/index.ts';
import type { ClusterBus, ClusterEvent } from './cluster/bus.ts';
import { errorAnswers } from './http/error-answers.ts';
import { requestLimits, serverTimeouts } from './http/request-limits.ts';
import { logFailure, loggerOptions } from './logger.ts';
import { ApiKeyUses } from './parts/api-key-uses.ts';
import { auditWriter, loginAuditEvent, type AuditWriter } from './parts/audit-writer.ts';
import { ExpiredRecordsPurge } from './parts/purge.ts';
import { Transmitter } from './signals/transmitter.ts';
import { connectSharedState, type SharedState } from './parts/shared-state.ts';
import { siteRoutes } from './parts/site-routes.ts';
import { consoleRoutes } from './console/routes.ts';
import { createPasswordLogin, type PasswordLogin, type PasswordFunctions } from './passwords/password-login.ts';
import { LoginThrottle, RateLimiter, type ThrottleStore } from './passwords/throttle.ts';
import { databaseTimeouts, migrate, openStorage, type Db, type Storage } from './storage/database.ts';
import { rolesByName } from './storage/roles.ts';
import { ConfigError } from './config/load.ts';
import { keyProviderFromConfig, loadKeyring, type KeyProvider } from './secret-key/key-provider.ts';
import { Keyring } from './keyring.ts';
import { hasKeys, useKeys } from './storage/sealing.ts';
import { checkSecretsReadable } from './storage/secrets-at-rest.ts';
import { ensureSecrets } from './storage/keys.ts';

export interface GatehouseServer {
  readonly app: FastifyInstance;
  readonly storage: Storage;
  readonly engine: Engine;
  /** Activates due key rotations and reloads the keys now (instead of at the next check). */
  maintainKeys(): Promise<void>;
  /** Change events shared by every instance (Redis pub/sub when configured). */
  readonly bus: ClusterBus;
  /** Call after changing clients, APIs, users or keys: every instance drops what it cached. */
  changed(type: ClusterEvent['type']): Promise<void>;
  readonly passwordLogin: PasswordLogin;
  /** The Shared Signals transmitter: `check()` delivers what was just recorded without waiting for the next check. */
  readonly signals: Transmitter;
  readonly config: Config;
  close(): Promise<void>;
}

export interface BuildOptions {
  readonly config: Config;
  /** Use an already open storage (its owner closes it). */
  readonly storage?: Storage;
  readonly throttleStore?: ThrottleStore;
  /** Where change events go; by default Redis when configured, else this process only. */
  readonly bus?: ClusterBus;
  readonly passwords?: PasswordFunctions;
  readonly logger?: FastifyServerOptions['logger'];
  /** Where email goes; by default SMTP when configured, else the log. */
  readonly mailer?: Mailer;
  /**
   * The secret key that encrypts the secrets kept in the database (docs/security.md): by default
   * GATEHOUSE_SECRET_KEY or GATEHOUSE_SECRET_KEY_FILE, or the keys of the given storage. A KMS
   * plugs in here as a KeyProvider.
   */
  readonly keys?: Keyring | KeyProvider;
}

export async function buildServer(options: BuildOptions): Promise<GatehouseServer> {
  const { config } = options;
  const keys = await secretKey(options);
  const storage = options.storage ?? openStorage(config.databaseUrl, { timeouts: databaseTimeouts(config) });
  const ownsStorage = options.storage === undefined;
  // Connections opened here, closed with the server (or if building it fails).
  const closers: (() => Promise<void>)[] = [];
  const closeAll = async () => {
    for (const close of closers) await close().catch(() => {});
    if (ownsStorage) await storage.close();
  };
  try {
    await prepareDatabase(storage.db, keys, config);
    const app = createApp(config, options.logger);
    const shared = await connectSharedState(config, options, app.log);
    closers.push(() => shared.close());
    const mailer = options.mailer ?? createMailer({ smtpUrl: config.smtpUrl, from: config.mailFrom, log: app.log });
    closers.push(() => mailer.close());
    const layout = new Layout({ name: config.brandName, logoUrl: config.brandLogoUrl, color: config.brandColor });
    const audit = auditWriter(storage.db, app.log);
    const throttle = loginThrottle(config, shared.throttleStore);
    const passwordLogin = passwordLoginFor(options, storage.db, throttle, app);
    const apiKeyUses = new ApiKeyUses(storage.db, app.log);
    const engine = await engineFor({ config, db: storage.db, passwordLogin, layout, audit, apiKeyUses, log: app.log, limiter: new RateLimiter(shared.throttleStore) });
    const announce = announcer(shared.bus, app);
    const keyMaintenance = new KeyMaintenance({ db: storage.db, engine, checkIntervalSeconds: config.keyCheckInterval, announce: () => announce('keys'), log: app.log });
    // Shared Signals: security events to the resource servers' streams (signals/, ADR 0016).
    const signals = new Transmitter({ db: storage.db, issuer: config.publicUrl, signingKey: () => engine.activeSigningKey(), log: app.log, pushTimeoutMs: config.ssfPushTimeout * 1000 });
    const changed = async (type: ClusterEvent['type']): Promise<void> => {
      engine.invalidateCaches();
      await announce(type);
    };

    await app.register(errorAnswers);
    // Protocol endpoints: authorize, token, introspection, revocation, userinfo, JWKS, discovery, logout.
    mountProvider(app, engine);
    if (config.dynamicClientRegistration) await app.register(registrationRoutes, registrationOptions(storage.db, shared, audit));
    await app.register(interactionRoutes, await pageOptions({ config, db: storage.db, engine, passwordLogin, layout, mailer, throttle, shared, audit }));
    await app.register(adminApi, { app, config, db: storage.db, changed, maintainKeys: () => keyMaintenance.maintain(), docsClientId: ADMIN_DOCS_CLIENT_ID, endingSessions: (userId, end) => engine.endingSessions(userId, end), signals });
    // The admin console at /admin (src/console/), a client of the admin API; GATEHOUSE_ADMIN_CONSOLE.
    if (config.adminConsole) await app.register(consoleRoutes, { publicUrl: config.publicUrl, layout });
    await app.register(siteRoutes, { config, db: storage.db, layout, redisThrottle: shared.redisThrottle });
    await startBackground(app, { engine, shared, keyMaintenance, apiKeyUses, signals, purge: new ExpiredRecordsPurge(storage.db, app.log, config.dynamicClientTtl) });

    return {
      app,
      storage,
      engine,
      passwordLogin,
      signals,
      config,
      maintainKeys: () => keyMaintenance.maintain(),
      bus: shared.bus,
      changed,
      async close() {
        await app.close();
        for (const close of closers) await close();
        if (ownsStorage) await storage.close();
      },
    };
  } catch (error) {
    await closeAll();
    throw error;
  }
}

/** RFC 7591 dynamic registration for MCP clients, when turned on (engine/dynamic-registration.ts). */
function registrationOptions(db: Db, shared: SharedState, audit: AuditWriter): RegistrationOptions {
  return {
    db,
    limiter: new RateLimiter(shared.throttleStore),
    // Who registered what, from where: the operator's view of self-registered clients.
    onRegistered: (client, ip) =>
      audit({
        type: 'client.registered',
        actor: { kind: 'client', id: client.clientId },
        target: { kind: 'client', id: client.clientId },
        ip,
        details: { name: client.name, redirect_uris: [...client.redirectUris] },
      }),
  };
}

interface EngineParts {
  readonly config: Config;
  readonly db: Db;
  readonly passwordLogin: PasswordLogin;
  readonly layout: Layout;
  readonly audit: AuditWriter;
  readonly apiKeyUses: ApiKeyUses;
  readonly log: FastifyBaseLogger;
  readonly limiter: RateLimiter;
}

/** The protocol engine (oidc-provider) with keys and cookie secrets from storage. */
function engineFor({ config, db, passwordLogin, layout, audit, apiKeyUses, log, limiter }: EngineParts): Promise<Engine> {
  return createEngine({
    db,
    config,
    passwordLogin,
    layout,
    onServerError: (error) => logFailure(log, error, 'protocol endpoint failed'),
    onApiKeyUse: (id) => apiKeyUses.record(id),
    onProtocolError: (event) => log.debug(event, 'protocol request refused'),
    // A replayed code or a reused refresh token: a security event, in the audit log.
    audit,
    limiter,
    // A relying party that missed a logout token keeps its session: the operator should know.
    onBackchannelLogout: ({ clientId, sid, error }) =>
      error === undefined
        ? log.debug({ clientId, sid }, 'back-channel logout delivered')
        : log.warn({ clientId, sid, err: error }, 'back-channel logout not delivered: the client keeps its session until it expires'),
  });
}

/**
 * The secret key comes from outside the database. Without it (in production), or when it cannot
 * be had (an unreadable key file), the server stops here, before the database is touched, with a
 * message naming GATEHOUSE_SECRET_KEY.
 */
async function secretKey(options: BuildOptions): Promise<Keyring | undefined> {
  const source = options.keys ?? (options.storage && hasKeys(options.storage.db) ? undefined : keyProviderFromConfig(options.config).provider);
  return source === undefined || source instanceof Keyring ? source : await loadKeyring(source);
}

async function prepareDatabase(db: Db, keys: Keyring | undefined, config: Config): Promise<void> {
  if (keys) useKeys(db, keys);
  // Schema first: every instance applies pending migrations at start (concurrency-safe).
  await migrate(db);
  // With the wrong key, the server stops now, naming the setting, not at the first request.
  await checkSecretsReadable(db);
  // A role that does not exist would refuse every registration: stop now, naming the setting.
  await checkRegistrationRoles(db, config.registrationRoles);
}

async function checkRegistrationRoles(db: Db, names: readonly string[]): Promise<void> {
  const found = new Set((await rolesByName(db, names)).map((role) => role.name));
  const missing = names.filter((name) => !found.has(name));
  if (missing.length) throw new ConfigError([`GATEHOUSE_REGISTRATION_ROLES: no role named ${missing.join(', ')}; create it (gatehouse roles create) or change the setting`]);
}

function createApp(config: Config, logger: BuildOptions['logger']): FastifyInstance {
  const app = Fastify({
    logger: logger ?? loggerOptions(config),
    // The client's address: the right-most X-Forwarded-For entry not written by a trusted proxy.
    trustProxy: trustFunction(config.trustProxy),
    bodyLimit: config.bodyLimit,
    // Generated request ids: a client-supplied one would let callers forge log lines.
    genReqId: () => crypto.randomUUID(),
    // Slow clients are cut off: headers and whole requests have deadlines (request-limits.ts).
    ...serverTimeouts(config),
  });
  // One Host header, bodies within their route's limit (413 delivered, not a reset).
  app.addHook('onRequest', requestLimits);
  return app;
}

function loginThrottle(config: Config, store: ThrottleStore): LoginThrottle {
  return new LoginThrottle(store, {
    maxPerAccount: config.loginMaxFailuresPerAccount,
    maxPerIp: config.loginMaxFailuresPerIp,
    windowSeconds: config.loginThrottleWindow,
  });
}

/** One throttled, timing-equalized password check for the login page and the password grant. */
function passwordLoginFor(options: BuildOptions, db: Db, throttle: LoginThrottle, app: FastifyInstance): PasswordLogin {
  // Every login, success and failure, goes to the audit log.
  const auditLogin = auditWriter(db, app.log, 'could not write the login to the audit log');
  return createPasswordLogin({
    db,
    throttle,
    ...(options.passwords ? { passwords: options.passwords } : {}),
    onRehashError: (error) => app.log.error({ err: error }, 'password rehash failed'),
    onAuthentication: (event) => auditLogin(loginAuditEvent(event)),
  });
}

/**
 * After a change to clients, APIs, users or keys, every instance hears it (through Redis when
 * configured). The change is stored before this is called, so this never fails: when Redis is
 * away, the announcement is logged and sent when Redis is back (bus.ts); meanwhile the other
 * instances follow within GATEHOUSE_CACHE_TTL and GATEHOUSE_KEY_CHECK_INTERVAL.
 */
function announcer(bus: ClusterBus, app: FastifyInstance): (type: ClusterEvent['type']) => Promise<void> {
  return async (type) => {
    try {
      await bus.publish({ type });
    } catch (error) {
      app.log.warn(
        { err: error, event: type },
        'a change was stored but not announced to the other instances: they follow within GATEHOUSE_CACHE_TTL / GATEHOUSE_KEY_CHECK_INTERVAL',
      );
    }
  };
}

interface PageParts {
  readonly config: Config;
  readonly db: Db;
  readonly engine: Engine;
  readonly passwordLogin: PasswordLogin;
  readonly layout: Layout;
  readonly mailer: Mailer;
  readonly throttle: LoginThrottle;
  readonly shared: SharedState;
  readonly audit: AuditWriter;
}

/**
 * Login, consent and second-factor pages; registration, verification, password reset; the
 * account pages.
 */
async function pageOptions({ config, db, engine, passwordLogin, layout, mailer, throttle, shared, audit }: PageParts): Promise<InteractionRoutesOptions> {
  const csrfSecrets = await ensureSecrets(db, 'csrf');
  return {
    interactions: createInteractionApi(() => engine.provider, db),
    passwordLogin,
    csrf: new CsrfTokens(csrfSecrets),
    signed: new SignedValues(csrfSecrets),
    secretBox: new SecretBox(await ensureSecrets(db, 'totp')),
    relyingParty: relyingPartyFor(config.publicUrl, layout.brand.name, config.passkeyUserVerification),
    bodyLimit: config.bodyLimit,
    db,
    layout,
    pages: new Pages(layout),
    mailer,
    throttle,
    limiter: new RateLimiter(shared.throttleStore),
    audit,
    publicUrl: config.publicUrl,
    registration: config.registration,
    registrationRoles: config.registrationRoles,
    emailVerificationTtl: config.emailVerificationTtl,
    passwordResetTtl: config.passwordResetTtl,
    sessionsEnding: (userId, options) => engine.sessionsEnding(userId, options),
  };
}

interface Background {
  readonly engine: Engine;
  readonly shared: SharedState;
  readonly keyMaintenance: KeyMaintenance;
  readonly apiKeyUses: ApiKeyUses;
  readonly purge: ExpiredRecordsPurge;
  readonly signals: Transmitter;
}

/** What runs beside the requests, started now and stopped when the app closes. */
async function startBackground(app: FastifyInstance, { engine, shared, keyMaintenance, apiKeyUses, purge, signals }: Background): Promise<void> {
  purge.start();
  // A change announced by another instance: reload the keys, or drop what this one cached.
  shared.bus.subscribe((event) => {
    if (event.type === 'keys') {
      keyMaintenance.reload().catch((error: unknown) => logFailure(app.log, error, 'reloading signing keys failed'));
    } else {
      engine.invalidateCaches();
    }
  });
  apiKeyUses.start();
  await keyMaintenance.start();
  await signals.start();
  app.addHook('onClose', async () => {
    await signals.close();
    purge.close();
    keyMaintenance.close();
    await apiKeyUses.close();
  });
}
