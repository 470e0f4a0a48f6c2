/**
 * The web-app sign-in flow on Hono, with a typed `c.get('auth')` and `c.get('webSession')`:
 * ```ts
 * const { routes, requireSession } = gatehouseWebApp(webApp);
 * app.use(routes);                                   // GET /auth/login, GET /auth/callback, POST /auth/logout
 * app.get('/profile', requireSession(), (c) => c.text(c.get('auth').claims.preferred_username ?? ''));
 * app.post('/notes', requireSession({ scopes: ['items'] }), handler); // CSRF-checked
 * ```
 * The answers (redirects, error pages, cookies) are the core's, byte for byte.
 */
import type { MiddlewareHandler } from 'hono';
import type { Principal } from '../principal.ts';
import { MAX_LOGOUT_REQUEST_BYTES } from '../webapp/backchannel-logout.ts';
import { toWebResponse } from '../webapp/errors.ts';
import type { WebSession } from '../webapp/session.ts';
import type { WebApp, WebRequirement } from '../webapp/web-app.ts';

/** Env of a route behind `requireSession()`. */
export interface SessionEnv {
  Variables: { auth: Principal; webSession: WebSession };
}

/** Env of a route behind `requireSession({ optional: true })`. */
export interface OptionalSessionEnv {
  Variables: { auth: Principal | undefined; webSession: WebSession | undefined };
}

export interface GatehouseWebAppHono {
  /** Answers the flow's own routes and passes every other request on. */
  readonly routes: MiddlewareHandler;
  requireSession(requirement: WebRequirement & { readonly optional: true }): MiddlewareHandler<OptionalSessionEnv>;
  requireSession(requirement?: WebRequirement & { readonly optional?: false }): MiddlewareHandler<SessionEnv>;
  /** When `optional` is not known statically, the session may be undefined. */
  requireSession(requirement: WebRequirement): MiddlewareHandler<OptionalSessionEnv>;
}

export function gatehouseWebApp(webApp: WebApp): GatehouseWebAppHono {
  if (typeof webApp?.protect !== 'function') {
    throw new TypeError('gatehouseWebApp: expected a web app (createWebApp(...) from @gatehouse/sdk/webapp)');
  }
  const { paths } = webApp.description;
  const flowPaths = new Set([paths.login, paths.callback, paths.logout]);

  const backchannel = webApp.description.backchannelLogout;

  const routes: MiddlewareHandler = async (c, next) => {
    if (backchannel !== undefined && c.req.path === backchannel.path && c.req.method === 'POST') {
      // A declared size too large for a logout token is refused (400) without reading the body.
      const body = Number(c.req.header('content-length') ?? 0) > MAX_LOGOUT_REQUEST_BYTES ? '' : await c.req.text();
      return toWebResponse(await webApp.backchannelLogout(body, c.req.header('content-type')));
    }
    if (!flowPaths.has(c.req.path)) return next();
    const response = await webApp.handle(c.req.raw);
    if (response === undefined) return next();
    return toWebResponse(response);
  };

  function requireSession(input: WebRequirement = {}): MiddlewareHandler<OptionalSessionEnv> {
    // Misuse fails when the route is declared, not on the first request.
    const requirement = webApp.requirement(input, 'requireSession');
    return async function gatehouseRequireSession(c, next) {
      const outcome = await webApp.protect(c.req.raw, requirement);
      if (!outcome.ok) return toWebResponse(outcome.response);
      c.set('webSession', outcome.session);
      c.set('auth', outcome.session?.principal);
      await next();
      // A refreshed (or cleared) session travels with whatever the handler answered.
      for (const cookie of outcome.cookies) c.header('set-cookie', cookie, { append: true });
      return undefined;
    };
  }
  return { routes, requireSession: requireSession as GatehouseWebAppHono['requireSession'] };
}
