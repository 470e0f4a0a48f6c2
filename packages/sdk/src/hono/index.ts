/**
 * @gatehouse/sdk/hono — middleware per route with a typed `c.get('auth')`:
 * ```ts
 * const { requireAuth } = gatehouse(authenticator);
 * app.get('/items', requireAuth({ scopes: ['items'] }), (c) => c.json({ user: c.get('auth').subject }));
 * ```
 * On a required route `c.get('auth')` is a `Principal`; with `optional: true` it may be undefined.
 */
import type { Context, MiddlewareHandler } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { Authenticator } from '../authenticator.ts';
import type { Principal } from '../principal.ts';
import type { AuthRequirement } from '../requirement.ts';

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

export interface GatehouseHono {
  requireAuth(requirement: AuthRequirement & { readonly optional: true }): MiddlewareHandler<OptionalAuthEnv>;
  requireAuth(requirement?: AuthRequirement & { readonly optional?: false }): MiddlewareHandler<AuthEnv>;
  /** When `optional` is not known statically, the principal may be undefined. */
  requireAuth(requirement: AuthRequirement): MiddlewareHandler<OptionalAuthEnv>;
}

export function gatehouse(authenticator: Authenticator): GatehouseHono {
  if (typeof authenticator?.authenticate !== 'function') {
    throw new TypeError('gatehouse: expected an authenticator (createAuthenticator(...))');
  }
  function requireAuth(input: AuthRequirement = {}): MiddlewareHandler<OptionalAuthEnv> {
    // Misuse fails when the route is declared, not on the first request.
    const requirement = authenticator.requirement(input, 'requireAuth');
    return async function gatehouseRequireAuth(c: Context<OptionalAuthEnv>, next) {
      const outcome = await authenticator.authenticate(c.req.raw, requirement);
      if (!outcome.ok) {
        const { status, headers, body } = outcome.response;
        return c.body(body, status as ContentfulStatusCode, headers);
      }
      c.set('auth', outcome.principal);
      await next();
      return undefined;
    };
  }
  return { requireAuth: requireAuth as GatehouseHono['requireAuth'] };
}
