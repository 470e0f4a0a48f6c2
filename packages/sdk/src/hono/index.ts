/**
 * @gatehouse/sdk/hono — middleware per route with a typed `c.get('auth')`:
 * ```ts
 * const { requireAuth } = gatehouse(authenticator);
 * app.get('/items', requireAuth({ scopes: ['items'] }), (c) => c.json({ user: c.get('auth').subject }));
 * ```
 * On a required route `c.get('auth')` is a `Principal`; with `optional: true` it may be undefined.
 *
 * Hono has no portable client address, and the SDK needs one to throttle failed introspections.
 * On Node (@hono/node-server) it is read from the socket; elsewhere, or behind a proxy, give
 * `clientIp`, e.g. `(c) => getConnInfo(c).remote.address` (`hono/bun`, `hono/deno`, …) or the
 * address your own proxy puts in a header. Without an address, requests are not throttled.
 */
import type { Context, MiddlewareHandler } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { Authenticator } from '../authenticator.ts';
import type { AuthRequest } from '../credentials.ts';
import type { Principal } from '../principal.ts';
import type { AuthRequirement } from '../requirement.ts';
import { metadataResponse } from '../protected-resource.ts';

export { gatehouseWebApp } from './webapp.ts';
export type { GatehouseWebAppHono, SessionEnv, OptionalSessionEnv } from './webapp.ts';

/** Env of a route behind `requireAuth()`. */
export interface AuthEnv {
  Variables: { auth: Principal };
}

/** Env of a route behind `requireAuth({ optional: true })`. */
export interface OptionalAuthEnv {
  Variables: { auth: Principal | undefined };
}

export interface GatehouseHonoOptions {
  /**
   * The client's address, for the failure limit of introspection. Default: the socket's address
   * on @hono/node-server (as its `getConnInfo`), otherwise none. Behind a proxy, read the header your
   * proxy sets (only the entry it appended: earlier ones come from the client).
   */
  readonly clientIp?: (c: Context) => string | undefined;
}

/** @hono/node-server's bindings (`c.env`, or `c.env.server` under some setups), as its `getConnInfo` reads them. */
interface NodeBindings {
  readonly incoming?: { readonly socket?: { readonly remoteAddress?: string }; readonly rawHeaders?: readonly string[] };
  readonly server?: NodeBindings;
}

function nodeSocketAddress(c: Context): string | undefined {
  const env = c.env as NodeBindings | undefined;
  return (env?.server ?? env)?.incoming?.socket?.remoteAddress;
}

export interface GatehouseHono {
  requireAuth(requirement: AuthRequirement & { readonly optional: true }): MiddlewareHandler<OptionalAuthEnv>;
  requireAuth(requirement?: AuthRequirement & { readonly optional?: false }): MiddlewareHandler<AuthEnv>;
  /** When `optional` is not known statically, the principal may be undefined. */
  requireAuth(requirement: AuthRequirement): MiddlewareHandler<OptionalAuthEnv>;
  /**
   * Serves the RFC 9728 metadata (`GET /.well-known/oauth-protected-resource[/path]`) when the
   * authenticator has `protectedResource`; mount it with `app.use(...)`. Passes every other request on.
   */
  protectedResourceMetadata: MiddlewareHandler;
  /**
   * Receives the security events the issuer pushes (the `signals` option with `delivery: { push }`):
   * POST at that URL's path, answered 202 (RFC 8935); mount it with `app.use(...)`. Passes every
   * other request on. Start and stop the stream with `authenticator.start()` and `authenticator.close()`.
   */
  securityEvents: MiddlewareHandler;
}

export function gatehouse(authenticator: Authenticator, options: GatehouseHonoOptions = {}): GatehouseHono {
  if (typeof authenticator?.authenticate !== 'function') {
    throw new TypeError('gatehouse: expected an authenticator (createAuthenticator(...))');
  }
  if (options.clientIp !== undefined && typeof options.clientIp !== 'function') {
    throw new TypeError('gatehouse options.clientIp: expected a function (c) => string | undefined');
  }
  const clientIp = options.clientIp ?? nodeSocketAddress;
  function requireAuth(input: AuthRequirement = {}): MiddlewareHandler<OptionalAuthEnv> {
    // Misuse fails when the route is declared, not on the first request.
    const requirement = authenticator.requirement(input, 'requireAuth');
    return async function gatehouseRequireAuth(c: Context<OptionalAuthEnv>, next) {
      const outcome = await authenticator.authenticate(new HonoAuthRequest(c, clientIp), requirement);
      if (!outcome.ok) {
        const { status, headers, body } = outcome.response;
        return c.body(body, status as ContentfulStatusCode, headers);
      }
      c.set('auth', outcome.principal);
      await next();
      // After the handler, so its Response (however it was built) carries them.
      if (outcome.headers !== undefined) for (const [name, value] of Object.entries(outcome.headers)) c.res.headers.set(name, value);
      return undefined;
    };
  }
  const resource = authenticator.description.protectedResource;
  const metadata = resource === undefined ? undefined : metadataResponse(resource);
  const protectedResourceMetadata: MiddlewareHandler = async (c, next) => {
    if (resource === undefined || metadata === undefined || c.req.path !== resource.path || (c.req.method !== 'GET' && c.req.method !== 'HEAD')) {
      await next();
      return undefined;
    }
    return c.body(metadata.body, 200, metadata.headers);
  };
  const pushPath = authenticator.description.signals?.pushPath;
  const securityEvents: MiddlewareHandler = async (c, next) => {
    if (pushPath === undefined || c.req.path !== pushPath || c.req.method !== 'POST') {
      await next();
      return undefined;
    }
    if (c.req.header('content-type')?.split(';')[0]?.trim().toLowerCase() !== 'application/secevent+jwt') {
      return c.json({ err: 'invalid_request', description: 'Expected application/secevent+jwt' }, 400);
    }
    const body = await c.req.text();
    if (body.length > 64 * 1024) return c.json({ err: 'invalid_request', description: 'The SET is too large' }, 400);
    const outcome = await authenticator.receiveSignal(body, c.req.header('authorization'));
    return outcome.ok ? c.body(null, 202) : c.json({ err: outcome.err, description: outcome.description }, outcome.status);
  };
  return { requireAuth: requireAuth as GatehouseHono['requireAuth'], protectedResourceMetadata, securityEvents };
}

/** The request as the core sees it; the address is read only if the failure limit needs it. */
class HonoAuthRequest implements AuthRequest {
  readonly #c: Context;
  readonly #clientIp: (c: Context) => string | undefined;
  readonly method: string;
  readonly url: string;
  readonly headers: Headers;
  constructor(c: Context, clientIp: (c: Context) => string | undefined) {
    this.#c = c;
    this.#clientIp = clientIp;
    this.method = c.req.raw.method;
    this.url = c.req.raw.url;
    this.headers = c.req.raw.headers;
  }
  get clientIp(): string | undefined {
    return this.#clientIp(this.#c);
  }
  /**
   * On @hono/node-server, Node's raw header list; elsewhere undefined, and the core recognises
   * repeated fields in the joined `Headers` value instead.
   */
  get rawHeaders(): readonly string[] | undefined {
    const env = this.#c.env as NodeBindings | undefined;
    return (env?.server ?? env)?.incoming?.rawHeaders;
  }
}
