// Builds the Gatehouse server: storage, keys, the protocol engine and its routes, the login
// pages. Returns a Fastify app that is not listening yet (tests use `inject` or `listen`).
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { trustFunction } from './config/proxy.ts';
import type { Config } from './config/schema.ts';
import { createInteractionApi } from './engine/interactions.ts';
import { mountProvider } from './engine/mount.ts';
import { createEngine, type Engine } from './engine/provider.ts';
import { GatehouseError } from './errors.ts';
import { Layout, STYLESHEET_PATH } from './html/layout.ts';
import { consoleRoutes } from './console/routes.ts';
import { CsrfTokens, SignedValues } from './pages/csrf.ts';
import { Pages } from './pages/templates.ts';
import { interactionRoutes } from './pages/routes.ts';
import { createMailer, type Mailer } from './mail/mailer.ts';
import { SecretBox } from './passwords/totp.ts';
import { purgeExpiredAccountTokens } from './storage/account-tokens.ts';
import type { AuditEventInput } from './storage/audit.ts';
import { adminApi } from './admin/index.ts';
import { connectBus, type ClusterBus, type ClusterEvent } from './cluster/bus.ts';
import { RedisThrottleStore } from './cluster/redis-throttle.ts';
import { healthRoutes } from './health.ts';
import { requestLimits, serverTimeouts } from './http/request-limits.ts';
import { logFailure, loggerOptions } from './logger.ts';
import { RETRY_AFTER_SECONDS, unavailableDependency } from './unavailable.ts';
import { createPasswordLogin, type PasswordLogin, type PasswordFunctions } from './passwords/password-login.ts';
import { LoginThrottle, MemoryThrottleStore, RateLimiter, type ThrottleStore } from './passwords/throttle.ts';
import { databaseTimeouts, migrate, openStorage, type Storage } from './storage/database.ts';
import { keyProviderFromConfig, loadKeyring, type KeyProvider } from './secret-key/key-provider.ts';
import { Keyring } from './keyring.ts';
import { hasKeys, useKeys } from './storage/sealing.ts';
import { checkSecretsReadable } from './storage/secrets-at-rest.ts';
import { ensureSecrets } from './storage/keys.ts';
import { purgeExpired } from './engine/oidc-adapter.ts';
import { purgeExpiredAccessTokens } from './storage/access-tokens.ts';
import { recordApiKeyUse } from './storage/api-keys.ts';
import { activateDueKeys, listSigningKeys, purgeRetiredKeys } from './storage/keys.ts';
import { recordAuditEvent } from './storage/audit.ts';

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

const PURGE_EVERY_MS = 10 * 60 * 1000;
const API_KEY_USE_FLUSH_MS = 30 * 1000;

export async function buildServer(options: BuildOptions): Promise<GatehouseServer> {
  const { config } = options;
  // The secret key comes from outside the database. Without it (in production), or when it
  // cannot be had (an unreadable key file), the server stops here, before the database is
  // touched, with a message naming GATEHOUSE_SECRET_KEY.
  const source = options.keys ?? (options.storage && hasKeys(options.storage.db) ? undefined : keyProviderFromConfig(config).provider);
  const keys = source === undefined || source instanceof Keyring ? source : await loadKeyring(source);
  const storage = options.storage ?? openStorage(config.databaseUrl, { timeouts: databaseTimeouts(config) });
  const ownsStorage = options.storage === undefined;
  // Connections opened here, closed with the server (or if building it fails).
  const closers: (() => Promise<void>)[] = [];
  try {
    if (keys) useKeys(storage.db, keys);
    // Schema first: every instance applies pending migrations at start (concurrency-safe).
    await migrate(storage.db);
    // With the wrong key, the server stops now, naming the setting, not at the first request.
    await checkSecretsReadable(storage.db);

    const app = Fastify({
      logger: options.logger ?? loggerOptions(config),
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

    // Shared state across instances: login throttling and change events go through Redis when
    // it is configured, and stay in this process otherwise. An unreachable Redis does not stop
    // the start (cluster/redis-connection.ts): it is logged, and retried in the background.
    const redisThrottle = !options.throttleStore && config.redisUrl ? await RedisThrottleStore.connect(config.redisUrl, config.redisPrefix, app.log) : undefined;
    const bus = options.bus ?? (await connectBus(config.redisUrl, config.redisPrefix, app.log));
    closers.push(async () => {
      await redisThrottle?.close();
      if (!options.bus) await bus.close();
    });

    // Password checks: one throttled, timing-equalized routine for the login page and the password grant.
    const throttleStore = options.throttleStore ?? redisThrottle ?? new MemoryThrottleStore();
    const throttle = new LoginThrottle(throttleStore, {
      maxPerAccount: config.loginMaxFailuresPerAccount,
      maxPerIp: config.loginMaxFailuresPerIp,
      windowSeconds: config.loginThrottleWindow,
    });

    const passwordLogin = createPasswordLogin({
      db: storage.db,
      throttle,
      ...(options.passwords ? { passwords: options.passwords } : {}),
      onRehashError: (error) => app.log.error({ err: error }, 'password rehash failed'),
      // Every login, success and failure, goes to the audit log. A failure to write it is logged,
      // not turned into a failed login.
      onAuthentication: async (event) => {
        try {
          await recordAuditEvent(storage.db, {
            type: event.channel.kind === 'login_page' ? 'login' : 'login.password_grant',
            outcome: event.outcome === 'ok' ? 'success' : 'failure',
            actor: event.userId ? { kind: 'user', id: event.userId } : { kind: 'anonymous' },
            target: event.userId ? { kind: 'user', id: event.userId } : undefined,
            ip: event.ip,
            details: {
              // Only a username that exists (what was typed may be a pasted password).
              ...(event.username !== undefined ? { username: event.username } : {}),
              result: event.outcome,
              ...(event.channel.kind === 'password_grant' ? { client_id: event.channel.clientId } : {}),
            },
          });
        } catch (error) {
          logFailure(app.log, error, 'could not write the login to the audit log');
        }
      },
    });

    // Pages: one branded layout for the login, account and error pages.
    const layout = new Layout({ name: config.brandName, logoUrl: config.brandLogoUrl, color: config.brandColor });
    const mailer = options.mailer ?? createMailer({ smtpUrl: config.smtpUrl, from: config.mailFrom, log: app.log });
    closers.push(() => mailer.close());
    const audit = async (event: AuditEventInput): Promise<void> => {
      try {
        await recordAuditEvent(storage.db, event);
      } catch (error) {
        logFailure(app.log, error, 'could not write to the audit log');
      }
    };

    // API keys' last-used times, written in batches: never a database write per request.
    const apiKeyUses = new Map<string, number>();

    // The protocol engine (oidc-provider) with keys and cookie secrets from storage.
    const engine = await createEngine({
      db: storage.db,
      config,
      passwordLogin,
      layout,
      onServerError: (error) => logFailure(app.log, error, 'protocol endpoint failed'),
      onApiKeyUse: (id) => apiKeyUses.set(id, Date.now()),
      onProtocolError: (event) => app.log.debug(event, 'protocol request refused'),
      // A replayed code or a reused refresh token: a security event, in the audit log.
      audit,
    });

    // After a change to clients, APIs, users or keys: this instance drops what it cached at once,
    // and every instance hears it (through Redis when configured). The change is stored before
    // this is called, so this never fails: when Redis is away, the announcement is logged and sent
    // when Redis is back (bus.ts); meanwhile the other instances follow within GATEHOUSE_CACHE_TTL
    // and GATEHOUSE_KEY_CHECK_INTERVAL.
    const announce = async (type: ClusterEvent['type']): Promise<void> => {
      try {
        await bus.publish({ type });
      } catch (error) {
        app.log.warn(
          { err: error, event: type },
          'a change was stored but not announced to the other instances: they follow within GATEHOUSE_CACHE_TTL / GATEHOUSE_KEY_CHECK_INTERVAL',
        );
      }
    };
    const changed = async (type: ClusterEvent['type']): Promise<void> => {
      engine.invalidateCaches();
      await announce(type);
    };

    // Our own routes answer with the error registry's JSON; nothing unexpected leaks.
    app.setErrorHandler((error, request, reply) => {
      if (error instanceof GatehouseError) return reply.status(error.status).send(error.toJSON());
      if (unavailableDependency(error)) {
        request.log.warn({ err: error }, 'request answered 503: a dependency is unavailable');
        return reply.status(503).header('retry-after', String(RETRY_AFTER_SECONDS)).send(new GatehouseError('service_unavailable').toJSON());
      }
      const status = (error as { statusCode?: number }).statusCode;
      if (status === 413) return reply.status(413).send(new GatehouseError('payload_too_large').toJSON());
      if (status !== undefined && status >= 400 && status < 500) {
        return reply.status(status).send(new GatehouseError('invalid_request', (error as Error).message).toJSON());
      }
      request.log.error({ err: error }, 'request failed');
      return reply.status(500).send(new GatehouseError('server_error').toJSON());
    });
    app.setNotFoundHandler((_request, reply) => reply.status(404).send(new GatehouseError('not_found').toJSON()));

    // Protocol endpoints: authorize, token, introspection, revocation, userinfo, JWKS, discovery, logout.
    mountProvider(app, engine);

    // Login, consent and second-factor pages; registration, verification, password reset; the
    // account pages.
    const csrfSecrets = await ensureSecrets(storage.db, 'csrf');
    await app.register(interactionRoutes, {
      interactions: createInteractionApi(() => engine.provider, storage.db),
      passwordLogin,
      csrf: new CsrfTokens(csrfSecrets),
      signed: new SignedValues(csrfSecrets),
      secretBox: new SecretBox(await ensureSecrets(storage.db, 'totp')),
      bodyLimit: config.bodyLimit,
      db: storage.db,
      layout,
      pages: new Pages(layout),
      mailer,
      throttle,
      limiter: new RateLimiter(throttleStore),
      audit,
      publicUrl: config.publicUrl,
      registration: config.registration,
      emailVerificationTtl: config.emailVerificationTtl,
      passwordResetTtl: config.passwordResetTtl,
    });

    // ── Admin API (src/admin/): REST under /admin/api, OpenAPI at /admin/api/openapi.json, Swagger
    // UI at /admin/docs, protected by @gatehouse/sdk. maintainKeys is declared below; it is only
    // called by requests, after the server is built.
    await app.register(adminApi, {
      app,
      config,
      db: storage.db,
      changed,
      maintainKeys: () => maintainKeys(),
    });
    // ── end of the admin API ──
    // The admin console at /admin (src/console/), a client of the admin API; GATEHOUSE_ADMIN_CONSOLE.
    if (config.adminConsole) await app.register(consoleRoutes, { publicUrl: config.publicUrl, layout });

    app.get(STYLESHEET_PATH, async (_request, reply) =>
      reply.header('content-type', 'text/css; charset=utf-8').header('cache-control', 'public, max-age=3600').send(layout.stylesheet),
    );
    // /healthz (readiness, for load balancers) and /livez (liveness): health.ts.
    await app.register(healthRoutes, {
      checks: {
        database: async () => {
          await storage.db.selectFrom('gatehouse_migrations' as never).select((eb) => eb.fn.countAll().as('n')).executeTakeFirst();
          return true;
        },
        ...(redisThrottle ? { redis: () => redisThrottle.answers() } : {}),
      },
      required: ['database'],
    });
    app.get('/', async () => ({
      name: 'Gatehouse',
      issuer: config.publicUrl,
      discovery: `${config.publicUrl}/.well-known/openid-configuration`,
    }));

    // Expired codes, sessions, reuse records and token records only take space: sweep them.
    const purge = setInterval(() => {
      Promise.all([purgeExpired(storage.db), purgeExpiredAccessTokens(storage.db), purgeExpiredAccountTokens(storage.db)]).catch((error: unknown) =>
        app.log.warn({ err: error }, 'purging expired records failed'),
      );
    }, PURGE_EVERY_MS);
    purge.unref();

    // Signing keys: activate scheduled rotations when due, drop retired keys nothing valid was
    // signed with, and rebuild the provider when the published set changed (another instance or
    // the CLI may have changed it). Every instance does this; the database settles races.
    // A scheduled key activates at its time, not at the next periodic check: whenever the keys
    // are (re)loaded, a one-shot timer is armed for the earliest pending activation.
    let activationTimer: NodeJS.Timeout | undefined;
    const armActivation = async () => {
      const next = (await listSigningKeys(storage.db)).filter((k) => k.state === 'next' && k.activatesAt !== null).map((k) => k.activatesAt!);
      clearTimeout(activationTimer);
      if (next.length === 0) return;
      activationTimer = setTimeout(() => {
        maintainKeys().catch((error: unknown) => logFailure(app.log, error, 'signing key activation failed'));
      }, Math.max(0, Math.min(...next) - Date.now()) + 10);
      activationTimer.unref();
    };
    const reloadKeys = async () => {
      if (await engine.reloadKeys()) app.log.info({ jwks: engine.publishedJwks().keys.map((k) => k.kid) }, 'signing keys changed');
      await armActivation();
    };
    const maintainKeys = async () => {
      const activated = await activateDueKeys(storage.db);
      const purged = await purgeRetiredKeys(storage.db, engine.retentionMs());
      await reloadKeys();
      // Tell the others at once rather than at their next check.
      if (activated || purged) await announce('keys');
    };
    bus.subscribe((event) => {
      if (event.type === 'keys') {
        reloadKeys().catch((error: unknown) => logFailure(app.log, error, 'reloading signing keys failed'));
      } else {
        engine.invalidateCaches();
      }
    });
    const keyTimer = setInterval(() => {
      maintainKeys().catch((error: unknown) => logFailure(app.log, error, 'signing key maintenance failed'));
    }, config.keyCheckInterval * 1000);
    keyTimer.unref();

    const flushApiKeyUses = async () => {
      if (apiKeyUses.size === 0) return;
      const uses = new Map(apiKeyUses);
      apiKeyUses.clear();
      await recordApiKeyUse(storage.db, uses);
    };
    const useTimer = setInterval(() => {
      flushApiKeyUses().catch((error: unknown) => app.log.warn({ err: error }, 'recording API key use failed'));
    }, API_KEY_USE_FLUSH_MS);
    useTimer.unref();

    await armActivation();
    app.addHook('onClose', async () => {
      clearInterval(purge);
      clearInterval(keyTimer);
      clearTimeout(activationTimer);
      clearInterval(useTimer);
      await flushApiKeyUses().catch(() => {});
    });

    return {
      app,
      storage,
      engine,
      passwordLogin,
      config,
      maintainKeys,
      bus,
      changed,
      async close() {
        await app.close();
        for (const close of closers) await close();
        if (ownsStorage) await storage.close();
      },
    };
  } catch (error) {
    for (const close of closers) await close().catch(() => {});
    if (ownsStorage) await storage.close();
    throw error;
  }
}
