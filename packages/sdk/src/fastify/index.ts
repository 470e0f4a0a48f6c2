/**
 * @gatehouse/sdk/fastify — a route declares what it needs in its options and reads a typed
 * principal:
 * ```ts
 * await app.register(gatehouse, { authenticator });
 * app.get('/items', { auth: { scopes: ['items'] } }, async (request) => request.auth?.subject);
 * ```
 * Register the plugin before the routes it protects: it sees routes through `onRoute`.
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest, HookHandlerDoneFunction, onRequestHookHandler } from 'fastify';
import fastifyPlugin from 'fastify-plugin';
import type { Authenticator, AuthOutcome } from '../authenticator.ts';
import type { AuthRequest } from '../credentials.ts';
import { AUTH_ERROR_SCHEMA_ID, authErrorSchema, errorResponses, securityRequirements, type ErrorResponseDoc } from '../openapi.ts';
import type { Principal } from '../principal.ts';
import type { AuthRequirement, ResolvedRequirement } from '../requirement.ts';
import { metadataResponse } from '../protected-resource.ts';

export { gatehouseDocs, docsRedirectUrl, AUTHORIZE_DIALOG_SCRIPT } from './docs.ts';
export type { GatehouseDocsOptions } from './docs.ts';
export { gatehouseWebApp } from './webapp.ts';
export type { GatehouseWebAppFastifyOptions } from './webapp.ts';

export interface GatehouseFastifyOptions {
  readonly authenticator: Authenticator;
  /**
   * The API's scopes with their descriptions, shown in the docs. When given, a route requiring a
   * scope not listed here fails at boot (catches typos).
   */
  readonly scopes?: Readonly<Record<string, string>>;
}

/** Decorated on the instance as `fastify.gatehouse`. */
export interface GatehouseFastify {
  readonly authenticator: Authenticator;
  readonly scopes: Readonly<Record<string, string>> | undefined;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The principal on a route with an `auth` option; undefined on optional routes without credentials. */
    auth: Principal | undefined;
  }
  interface FastifyInstance {
    gatehouse: GatehouseFastify;
  }
  // Fastify keeps unknown route options in the object `onRoute` receives; this types ours.
  interface RouteShorthandOptions {
    /** What this route requires; `{}` means any valid credential. */
    auth?: AuthRequirement;
  }
}

const plugin: FastifyPluginAsync<GatehouseFastifyOptions> = async (fastify, options) => {
  const { authenticator } = options;
  if (typeof authenticator?.authenticate !== 'function') {
    throw new TypeError('gatehouse: the authenticator option is required (createAuthenticator(...))');
  }
  const knownScopes = options.scopes === undefined ? undefined : new Set(Object.keys(options.scopes));

  fastify.decorate('gatehouse', Object.freeze({ authenticator, scopes: options.scopes }));
  fastify.decorateRequest('auth', undefined);
  // The error body, shared by every protected route's 401/403/429/503 (components.schemas).
  if (fastify.getSchema(AUTH_ERROR_SCHEMA_ID) === undefined) fastify.addSchema({ $id: AUTH_ERROR_SCHEMA_ID, ...authErrorSchema() });

  // RFC 9728 metadata, when the authenticator publishes it; scopes_supported defaults to the
  // scopes the OpenAPI document lists, so the two agree.
  const resource = authenticator.description.protectedResource;
  if (resource !== undefined) {
    const metadata = metadataResponse(resource, options.scopes === undefined ? undefined : Object.keys(options.scopes));
    fastify.get(resource.path, { schema: { hide: true } }, async (_request, reply) => reply.code(metadata.status).headers(metadata.headers).send(metadata.body));
  }

  // Revocation by security events (the `signals` option): the stream starts with the app (not
  // holding it up: an issuer down at boot is retried, and status() says so) and ends with it; a
  // push stream gets its route.
  const signals = authenticator.description.signals;
  if (signals !== undefined) {
    fastify.addHook('onReady', async () => {
      authenticator.start().catch(() => undefined);
    });
    fastify.addHook('onClose', async () => authenticator.close());
    if (signals.pushPath !== undefined) {
      const path = signals.pushPath;
      await fastify.register(async (events) => {
        events.addContentTypeParser('application/secevent+jwt', { parseAs: 'string', bodyLimit: 64 * 1024 }, (_request, body, done) => done(null, body));
        events.post(path, { schema: { hide: true } }, async (request, reply) => {
          // RFC 8935 §2.2: the body is the SET itself; anything else is a 400 with an `err`.
          if (typeof request.body !== 'string') return reply.code(400).send({ err: 'invalid_request', description: 'Expected application/secevent+jwt' });
          const outcome = await authenticator.receiveSignal(request.body, request.headers.authorization);
          return outcome.ok ? reply.code(202).send() : reply.code(outcome.status).send({ err: outcome.err, description: outcome.description });
        });
      });
    }
  }

  fastify.addHook('onRoute', (route) => {
    const input = route.auth;
    if (input === undefined) return;
    const label = `${String(route.method)} ${route.url}: auth`;
    // Misuse fails at boot, naming the route.
    const requirement = authenticator.requirement(input, label);
    for (const scope of [...requirement.scopes, ...requirement.anyScopes]) {
      if (knownScopes !== undefined && !knownScopes.has(scope)) {
        throw new TypeError(`${label}: scope '${scope}' is not one of the API's scopes (${[...knownScopes].join(', ')})`);
      }
    }
    // Runs first among the route's own hooks, before the body is parsed.
    const existing = route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest];
    route.onRequest = [authenticationHook(authenticator, requirement), ...existing] as onRequestHookHandler[];
    // The docs say exactly what the route enforces (@fastify/swagger reads schema.security) and
    // how it may refuse (schema.response), leaving alone the statuses the route documents itself.
    route.schema = {
      ...route.schema,
      security: securityRequirements(authenticator.description, requirement),
      response: withErrorResponses(route.schema?.response, errorResponses(authenticator.description, requirement)),
    };
  });
};

/**
 * The route's response schemas plus the SDK's error answers, each a `$ref` to the shared error
 * schema, except where the route declares that status (or its class, `4xx`/`5xx`) itself. A route
 * without response schemas keeps its default success response in the docs.
 */
function withErrorResponses(declared: unknown, errors: Record<string, ErrorResponseDoc>): Record<string, unknown> {
  const existing = (typeof declared === 'object' && declared !== null ? declared : undefined) as Record<string, unknown> | undefined;
  const responses: Record<string, unknown> = existing === undefined ? { 200: { description: 'Default Response' } } : { ...existing };
  const names = new Set(Object.keys(responses).map((name) => name.toLowerCase()));
  for (const [status, doc] of Object.entries(errors)) {
    if (names.has(status) || names.has(`${status[0]}xx`)) continue;
    responses[status] = { ...doc, $ref: `${AUTH_ERROR_SCHEMA_ID}#` };
  }
  return responses;
}

/**
 * The request as the core sees it. Only query credentials and cross-origin checks read the URL,
 * so it is built when they do. A class, not an object literal with a getter: a literal's getter
 * closure gives every request object its own hidden class, and on a busy API those pile up in old
 * space (it halved throughput in the benchmark).
 */
class FastifyAuthRequest implements AuthRequest {
  readonly #request: FastifyRequest;
  readonly method: string;
  readonly headers: FastifyRequest['headers'];
  constructor(request: FastifyRequest) {
    this.#request = request;
    this.method = request.method;
    this.headers = request.headers;
  }
  get url(): string {
    return `${this.#request.protocol}://${this.#request.host}${this.#request.url}`;
  }
  /** Fastify's `request.ip`: the socket's address, or the client's per the `trustProxy` option. */
  get clientIp(): string | undefined {
    return this.#request.ip;
  }
  /** Node's raw header list: `headers` keeps only the first of two `Authorization` fields. */
  get rawHeaders(): readonly string[] {
    return this.#request.raw.rawHeaders;
  }
}

function authenticationHook(authenticator: Authenticator, requirement: ResolvedRequirement) {
  const finish = (outcome: AuthOutcome, request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void => {
    if (!outcome.ok) {
      const { status, headers, body } = outcome.response;
      // Answering from a callback hook: send, and do not call done().
      reply.code(status).headers(headers).send(body);
      return;
    }
    request.auth = outcome.principal;
    if (outcome.headers !== undefined) reply.headers(outcome.headers);
    done();
  };
  // A callback hook, not an async one: a cached credential is answered synchronously, with no
  // promise on the hot path (authenticateNow).
  return function gatehouseAuthenticate(request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
    const outcome = authenticator.authenticateNow(new FastifyAuthRequest(request), requirement);
    if (outcome instanceof Promise) outcome.then((result) => finish(result, request, reply, done), done);
    else finish(outcome, request, reply, done);
  };
}

/** The Fastify plugin (encapsulation skipped so `request.auth` and route options work app-wide). */
export const gatehouse = fastifyPlugin(plugin, { fastify: '5.x', name: '@gatehouse/sdk' });

