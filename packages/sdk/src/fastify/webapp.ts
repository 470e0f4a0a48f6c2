/**
 * The web-app sign-in flow on Fastify: the plugin answers the login, callback and logout routes,
 * and a page declares in its options that it needs a signed-in visitor:
 * ```ts
 * await app.register(gatehouseWebApp, { webApp });
 * app.get('/profile', { session: {} }, async (request) => request.auth!.claims.preferred_username);
 * app.post('/notes', { session: { scopes: ['items'] } }, handler); // CSRF-checked
 * app.get('/', { session: { optional: true } }, async (request) => request.webSession !== undefined);
 * ```
 * Register it before the routes it protects: it sees routes through `onRoute`.
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import fastifyPlugin from 'fastify-plugin';
import type { AuthRequest } from '../credentials.ts';
import type { ResolvedRequirement } from '../requirement.ts';
import { MAX_LOGOUT_REQUEST_BYTES } from '../webapp/backchannel-logout.ts';
import type { WebAppResponse } from '../webapp/errors.ts';
import type { WebSession } from '../webapp/session.ts';
import type { WebApp, WebRequirement } from '../webapp/web-app.ts';

export interface GatehouseWebAppFastifyOptions {
  /** `createWebApp(...)` from `@gatehouse/sdk/webapp`. */
  readonly webApp: WebApp;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The signed-in visitor on a route with a `session` option; undefined on optional routes without one. */
    webSession: WebSession | undefined;
  }
  interface RouteShorthandOptions {
    /** This route needs a signed-in visitor (`{}`), with these scopes or kinds, or `{ optional: true }`. */
    session?: WebRequirement;
  }
}

const plugin: FastifyPluginAsync<GatehouseWebAppFastifyOptions> = async (fastify, options) => {
  const { webApp } = options;
  if (typeof webApp?.protect !== 'function') {
    throw new TypeError('gatehouseWebApp: the webApp option is required (createWebApp(...) from @gatehouse/sdk/webapp)');
  }
  fastify.decorateRequest('webSession', undefined);
  // `request.auth` is the principal, as on API routes; the API plugin may have declared it already.
  if (!fastify.hasRequestDecorator('auth')) fastify.decorateRequest('auth', undefined);

  fastify.addHook('onRoute', (route) => {
    const input = route.session;
    if (input === undefined) return;
    const label = `${String(route.method)} ${route.url}: session`;
    if (route.auth !== undefined) throw new TypeError(`${label}: a route takes either auth (API credentials) or session (a signed-in visitor)`);
    // Misuse fails at boot, naming the route.
    const requirement = webApp.requirement(input, label);
    // Runs first among the route's own hooks, before the body is parsed: a cross-site POST is
    // refused before its body is read.
    const existing = route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest];
    route.onRequest = [sessionHook(webApp, requirement), ...existing] as onRequestHookHandler[];
  });

  // The flow's own routes, in a child context that reads no body: logout's form carries nothing
  // the flow needs, and the app may not have a form parser.
  await fastify.register(async (routes) => {
    routes.removeAllContentTypeParsers();
    routes.addContentTypeParser('*', (_request, payload, done) => {
      payload.resume();
      done(null, undefined);
    });
    const handler = async (request: FastifyRequest, reply: FastifyReply) => {
      const response = await webApp.handle(toAuthRequest(request));
      if (response === undefined) return reply.callNotFound();
      return send(reply, response);
    };
    const { paths } = webApp.description;
    routes.get(paths.login, handler);
    routes.get(paths.callback, handler);
    // GET is answered too, with 405 and `Allow: POST`.
    routes.route({ method: ['GET', 'POST'], url: paths.logout, handler });
  });

  // Back-channel logout: Gatehouse's POST, a form read as text here whatever parsers the app has.
  const backchannel = webApp.description.backchannelLogout;
  if (backchannel !== undefined) {
    await fastify.register(async (routes) => {
      routes.removeAllContentTypeParsers();
      routes.addContentTypeParser('*', { parseAs: 'string', bodyLimit: MAX_LOGOUT_REQUEST_BYTES }, (_request, body, done) => done(null, body));
      routes.post(backchannel.path, async (request, reply) =>
        send(reply, await webApp.backchannelLogout(typeof request.body === 'string' ? request.body : '', request.headers['content-type'])),
      );
    });
  }
};

function toAuthRequest(request: FastifyRequest): AuthRequest {
  // The path and query are enough: origins come from the configured public URL.
  return { method: request.method, url: request.url, headers: request.headers };
}

function send(reply: FastifyReply, response: WebAppResponse): FastifyReply {
  reply.code(response.status).headers(response.headers);
  if (response.cookies.length > 0) reply.header('set-cookie', [...response.cookies]);
  // A redirect has no body (and so no content type).
  return response.body === '' ? reply.send() : reply.send(response.body);
}

function sessionHook(webApp: WebApp, requirement: ResolvedRequirement) {
  return async function gatehouseSession(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
    const outcome = await webApp.protect(toAuthRequest(request), requirement);
    if (!outcome.ok) return send(reply, outcome.response);
    // A refreshed (or cleared) session travels with whatever the handler answers.
    if (outcome.cookies.length > 0) reply.header('set-cookie', [...outcome.cookies]);
    request.webSession = outcome.session;
    request.auth = outcome.session?.principal;
    return undefined;
  };
}

/** The Fastify plugin (encapsulation skipped so `request.webSession` and the `session` option work app-wide). */
export const gatehouseWebApp = fastifyPlugin(plugin, { fastify: '5.x', name: '@gatehouse/sdk/webapp' });
