/**
 * The admin REST API: `/admin/api/*` (users, roles, APIs, clients, API keys, signing keys, the
 * audit log), its OpenAPI document at `/admin/api/openapi.json`, and Swagger UI at `/admin/docs`.
 * An encapsulated plugin: its validation, error handling, hooks and OpenAPI document concern its
 * own routes only, never the protocol endpoints or the login pages.
 *
 * How a request goes through, in order:
 *   1. @gatehouse/sdk authenticates it (bearer JWT for the admin API, or an API key in
 *      `X-API-Key`) and checks the route's scope: 401 / 403 insufficient_scope. Both kinds are
 *      introspected on every request (bootstrap.ts), so a JWT whose user was disabled or whose
 *      client or grant was revoked since it was issued is a 401 at once; too many bad API keys
 *      from one address are a 429 before any lookup.
 *   2. The TypeBox schemas validate path, query and body: 400 invalid_request naming the field.
 *   3. The handler finds the object named by `:id` first: 404 not_found.
 *   4. The object-level rules below: 403 forbidden. Then the action.
 *   5. The audit log records it (every change, success or failure, and every 401/403).
 *
 * Object-level rules (policy.ts), beyond the route's scope — each is tested in admin-policy.test.ts:
 *   1. No privilege escalation. Nothing created or changed here carries an admin scope the
 *      caller's credential does not hold: a role's scopes, a client's allowed scopes, the roles
 *      given to a user, an API key's scopes. (Admin scopes are matched by name wherever they
 *      appear, since role and client scopes are not tied to one API. Other APIs' scopes are not
 *      privileges over Gatehouse, and an admin credential never carries them, being for the admin
 *      API: handing them out is exactly what the write scopes are for.)
 *   2. No acting on the more privileged. Changing, disabling, enabling or setting the password of
 *      a user; changing, revoking, deleting or rotating the secret of a client; changing or
 *      deleting a role; revoking an API key; creating an API key for an owner (other than the
 *      caller itself): only when every admin scope the object holds is one the caller holds too.
 *      Otherwise the caller could take over a more powerful account (set its password, take its
 *      secret, mint a key as it). A user's held scopes are what their roles grant, so even a
 *      narrowed token of that same user cannot set their password.
 *   3. Objects Gatehouse manages are read-only here: the admin API itself (deleting it or changing
 *      its scopes would break this API) and its introspection client.
 *   4. Nobody locks themself out: a user cannot disable themself, a client cannot revoke or
 *      delete itself (an API key counts as its owner).
 *   5. API keys are bounded. An API key creates no API key that out-scopes it (every scope its
 *      own) or outlives it (an expiry no later than its own), and cannot mint credentials that
 *      never expire: no client creation, no secret rotation, no password (the `kinds` option of
 *      those routes, or a check in the handler when the password is optional); nor the way to a
 *      password: no email address and no `email_verified` on a user (the forgot-password page
 *      mails a reset link to whatever address the account has).
 *   6. Every `:id` must exist (404) before anything else is looked at.
 */
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import { AUTH_ERROR_SCHEMA_ID, oauthFlows, securitySchemes, withAuthErrorExamples } from '@gatehouse/sdk';
import { AUTHORIZE_DIALOG_SCRIPT, gatehouse } from '@gatehouse/sdk/fastify';
import type { ClusterEvent } from '../cluster/bus.ts';
import type { Config } from '../config/schema.ts';
import type { Db } from '../storage/database.ts';
import { auditHook } from './audit.ts';
import { setUpAdmin } from './bootstrap.ts';
import { apiKeyRoutes } from './routes/api-keys.ts';
import { apiRoutes } from './routes/apis.ts';
import { auditRoutes } from './routes/audit-events.ts';
import { clientRoutes } from './routes/clients.ts';
import type { AdminContext } from './routes/common.ts';
import { roleRoutes } from './routes/roles.ts';
import { signingKeyRoutes } from './routes/signing-keys.ts';
import { streamRoutes } from './routes/streams.ts';
import { upstreamProviderRoutes } from './routes/upstream-providers.ts';
import type { Transmitter } from '../signals/transmitter.ts';
import { userRoutes } from './routes/users.ts';
import { ADMIN_SCOPES, adminApiIdentifier } from './scopes.ts';
import { toAdminError, validatorCompiler } from './validation.ts';
import { faviconSvg } from '../html/favicon.ts';

export { ADMIN_SCOPES, ADMIN_INTROSPECTION_CLIENT_ID, adminApiIdentifier } from './scopes.ts';

export const ADMIN_PREFIX = '/admin/api';
export const ADMIN_DOCS_PATH = '/admin/docs';
/** The hash of the <style> element swagger-ui-bundle.js inserts at run time. */
const SWAGGER_UI_INLINE_STYLE = 'sha256-RL3ie0nH+Lzz2YNqQN83mnU0J1ot4QL7b99vMdIX99w=';

export interface AdminApiOptions {
  /** The root app: the SDK reaches discovery, JWKS and introspection through its `inject`. */
  readonly app: FastifyInstance;
  readonly config: Config;
  readonly db: Db;
  /** Tells every instance that clients, APIs, users or keys changed (GatehouseServer.changed). */
  readonly changed: (type: ClusterEvent['type']) => Promise<void>;
  /** GatehouseServer.maintainKeys: activates due rotations and reloads the published keys now. */
  readonly maintainKeys: () => Promise<void>;
  /** The built-in public client Swagger UI at /admin/docs signs in as (engine/admin-docs-client.ts). */
  readonly docsClientId: string;
  /** Engine#endingSessions: ends a user's sessions, then sends back-channel logout tokens. */
  readonly endingSessions: <T>(userId: string, end: () => Promise<T>) => Promise<T>;
  /** The Shared Signals transmitter (signals/transmitter.ts), for the stream routes. */
  readonly signals: Transmitter;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** An admin route reachable without credentials (the OpenAPI document). */
    publicAdminRoute?: boolean;
  }
}

export const adminApi: FastifyPluginAsync<AdminApiOptions> = async (admin, options) => {
  const { db, config } = options;
  // The admin API as an API in Gatehouse, its introspection client, the SDK's authenticator.
  const { api, authenticator } = await setUpAdmin(options.app, db, config);

  // Misuse fails at boot: an admin route without an `auth` option would be open to anyone.
  admin.addHook('onRoute', (route) => {
    if (route.url.startsWith(ADMIN_PREFIX) && route.auth === undefined && route.config?.publicAdminRoute !== true) {
      throw new TypeError(`${String(route.method)} ${route.url}: every admin route declares an auth option`);
    }
  });

  // Validation from the TypeBox schemas; every failure as the error registry's JSON.
  admin.setValidatorCompiler(validatorCompiler);
  admin.setErrorHandler((error, request, reply) => {
    const failure = toAdminError(error);
    if (failure.code === 'server_error') request.log.error({ err: error }, 'admin API request failed');
    if (failure.code === 'service_unavailable') request.log.warn({ err: error }, 'admin API request answered 503: a dependency is unavailable');
    if (failure.retryAfter !== undefined) reply.header('retry-after', String(failure.retryAfter));
    return reply.status(failure.status).send(failure.toJSON());
  });

  // Authentication and scopes: @gatehouse/sdk, as any API protected by Gatehouse. Registered
  // before @fastify/swagger, so each route's `security` is set by the time the document is built.
  await admin.register(gatehouse, { authenticator, scopes: ADMIN_SCOPES });

  // The OpenAPI document of the admin routes only (this context's routes).
  await admin.register(swagger, {
    // The SDK's shared error schema (429, 503) by its name in components.schemas, not `def-0`.
    refResolver: {
      buildLocalReference: (json: { $id?: unknown }, _base: unknown, _fragment: unknown, index: number) =>
        json.$id === AUTH_ERROR_SCHEMA_ID ? AUTH_ERROR_SCHEMA_ID : `def-${index}`,
    },
    // Realistic bodies in Swagger UI for the SDK's 429 and 503, which refer to its shared schema.
    transformObject: ({ openapiObject }: { openapiObject: object }) => withAuthErrorExamples(openapiObject),
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Gatehouse admin API',
        version: '1.0.0',
        description: [
          'Manage users, roles, APIs, clients, API keys, signing keys and read the audit log.',
          '',
          `Authenticate with an access token for the API \`${adminApiIdentifier(config.publicUrl)}\` (e.g. client credentials with`,
          `\`resource=${adminApiIdentifier(config.publicUrl)}\` and the admin scopes you need), or an API key for it in \`X-API-Key\`.`,
          'Each operation lists the scope it requires.',
        ].join('\n'),
      },
      servers: [{ url: config.publicUrl }],
      tags: [
        { name: 'users', description: 'Accounts (password hashes are never returned).' },
        { name: 'roles', description: 'Roles and the scopes they grant.' },
        { name: 'apis', description: 'APIs (resource servers) and their scopes.' },
        { name: 'clients', description: 'Applications that ask for tokens.' },
        { name: 'api-keys', description: 'API keys of users and clients.' },
        { name: 'signing-keys', description: 'Token signing keys and their rotation.' },
        { name: 'audit', description: 'The audit log.' },
        { name: 'upstream-providers', description: 'Other identity providers users may sign in with (OpenID Connect, Google, GitHub).' },
        { name: 'streams', description: 'Shared Signals streams: security events for resource servers (SSF 1.0, CAEP, RFC 8935/8936).' },
        { name: 'me', description: 'The caller.' },
      ],
      // The bearer scheme is OAuth2: Authorize signs in on this server's login page (code + PKCE).
      components: {
        securitySchemes: securitySchemes(
          authenticator.description,
          oauthFlows(
            { issuer: config.publicUrl, authorization_endpoint: `${config.publicUrl}/authorize`, token_endpoint: `${config.publicUrl}/token` },
            { flows: ['authorizationCode'], scopes: ADMIN_SCOPES },
          ),
        ),
      },
    },
  } as Parameters<typeof swagger>[1]);

  // Every change and every refusal, in the audit log before the response leaves.
  admin.addHook('onSend', auditHook(db, authenticator));

  const context: AdminContext = { db, config, adminApi: api, changed: options.changed, maintainKeys: options.maintainKeys, endingSessions: options.endingSessions, signals: options.signals };
  await admin.register(
    async (routes) => {
      // Responses carry secrets shown once and personal data: never stored by a cache.
      routes.addHook('onSend', async (_request, reply, payload) => {
        reply.header('cache-control', 'no-store');
        return payload;
      });
      await userRoutes(routes, context);
      await roleRoutes(routes, context);
      await apiRoutes(routes, context);
      await clientRoutes(routes, context);
      await apiKeyRoutes(routes, context);
      await signingKeyRoutes(routes, context);
      await auditRoutes(routes, context);
      await upstreamProviderRoutes(routes, context);
      routes.get('/openapi.json', { schema: { hide: true }, config: { publicAdminRoute: true } }, async () => admin.swagger());
    },
    { prefix: ADMIN_PREFIX },
  );
  // Shared Signals: the SSF endpoints at the issuer's root, the operators' view under /admin/api.
  await admin.register(async (routes) => {
    routes.addHook('onSend', async (_request, reply, payload) => {
      reply.header('cache-control', 'no-store');
      return payload;
    });
    await streamRoutes(routes, context);
  });

  // Swagger UI: "Authorize" signs in through Gatehouse, or takes an API key.
  const https = config.publicUrl.startsWith('https:');
  await admin.register(swaggerUi, {
    routePrefix: ADMIN_DOCS_PATH,
    uiConfig: { validatorUrl: null, persistAuthorization: false, displayOperationId: true },
    // Authorize: the built-in first-party client, PKCE, a token for the admin API (RFC 8707).
    initOAuth: {
      clientId: options.docsClientId,
      usePkceWithAuthorizationCodeGrant: true,
      additionalQueryStringParams: { resource: adminApiIdentifier(config.publicUrl) },
      // Every admin scope pre-selected: the token carries those the user's roles grant.
      scopes: Object.keys(ADMIN_SCOPES),
    },
    // The operator's brand, not Swagger's: the page title and the icon of every other page. The
    // SDK's script opens the Authorize dialog at its top (the sign-in), not at the API key field.
    theme: {
      title: `${config.brandName} admin API`,
      js: [AUTHORIZE_DIALOG_SCRIPT],
      favicon: [{ filename: 'favicon.svg', rel: 'icon', type: 'image/svg+xml', sizes: 'any', content: faviconSvg({ name: config.brandName, color: config.brandColor }) }],
    },
    staticCSP: true,
    // The UI is never framed; and an http public URL (development) must not be upgraded to https.
    transformStaticCSP: (header: string) =>
      header
        .replace("frame-ancestors 'self'", "frame-ancestors 'none'")
        .replace(https ? /$^/ : / ?upgrade-insecure-requests;/, '')
        // The one <style> element swagger-ui's bundle inserts, allowed by its hash alone (no
        // 'unsafe-inline'); e2e/admin-docs-browser.test.ts fails if a new swagger-ui changes it.
        .replace(/style-src ([^;]*);/, `style-src $1 '${SWAGGER_UI_INLINE_STYLE}';`),
  } as Parameters<typeof swaggerUi>[1]);
};
