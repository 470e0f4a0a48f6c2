/**
 * The web-app sign-in flow on Express:
 * ```ts
 * const { routes, requireSession } = gatehouseWebApp(webApp);
 * app.use(routes);                                   // GET /auth/login, GET /auth/callback, POST /auth/logout
 * app.get('/profile', requireSession(), (req, res) => res.send(req.auth!.claims.preferred_username));
 * app.post('/notes', requireSession({ scopes: ['items'] }), handler); // CSRF-checked
 * ```
 * The answers (redirects, error pages, cookies) are the core's, byte for byte.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { AuthRequest } from '../credentials.ts';
import { MAX_LOGOUT_REQUEST_BYTES } from '../webapp/backchannel-logout.ts';
import type { WebAppResponse } from '../webapp/errors.ts';
import type { WebSession } from '../webapp/session.ts';
import type { WebApp, WebRequirement } from '../webapp/web-app.ts';

declare global {
  namespace Express {
    interface Request {
      /** The signed-in visitor, set by `requireSession`; undefined on optional routes without one. */
      webSession?: WebSession | undefined;
    }
  }
}

export interface GatehouseWebAppExpress {
  /** Answers the flow's own routes and passes every other request on. */
  readonly routes: RequestHandler;
  /** Middleware for a route that needs a signed-in visitor (default: any). Validated when called. */
  requireSession(requirement?: WebRequirement): RequestHandler;
}

export function gatehouseWebApp(webApp: WebApp): GatehouseWebAppExpress {
  if (typeof webApp?.protect !== 'function') {
    throw new TypeError('gatehouseWebApp: expected a web app (createWebApp(...) from @gatehouse/sdk/webapp)');
  }
  const { paths } = webApp.description;
  const flowPaths = new Set([paths.login, paths.callback, paths.logout]);

  const backchannel = webApp.description.backchannelLogout;

  return {
    routes(req, res, next) {
      if (backchannel !== undefined && req.path === backchannel.path && req.method === 'POST') {
        readBody(req)
          .then((body) => webApp.backchannelLogout(body, req.get('content-type')))
          .then((response) => send(res, response), next);
        return;
      }
      if (!flowPaths.has(req.path)) return next();
      webApp.handle(toAuthRequest(req)).then((response) => (response === undefined ? next() : send(res, response)), next);
    },
    requireSession(input = {}) {
      // Misuse fails when the route is declared, not on the first request.
      const requirement = webApp.requirement(input, 'requireSession');
      return function gatehouseRequireSession(req: Request, res: Response, next: NextFunction): void {
        webApp.protect(toAuthRequest(req), requirement).then((outcome) => {
          if (!outcome.ok) return send(res, outcome.response);
          // A refreshed (or cleared) session travels with whatever the handler answers.
          if (outcome.cookies.length > 0) res.append('Set-Cookie', [...outcome.cookies]);
          req.webSession = outcome.session;
          req.auth = outcome.session?.principal;
          next();
        }, next);
      };
    },
  };
}

/** The raw form, whether or not a body parser (express.urlencoded) ran first. */
async function readBody(req: Request): Promise<string> {
  if (typeof req.body === 'string') return req.body;
  if (req.body !== null && typeof req.body === 'object' && req.readableEnded) return new URLSearchParams(req.body as Record<string, string>).toString();
  let body = '';
  for await (const chunk of req) {
    body += String(chunk);
    // Too large for a logout token: refused (400) without reading the rest.
    if (body.length > MAX_LOGOUT_REQUEST_BYTES) return body;
  }
  return body;
}

function toAuthRequest(req: Request): AuthRequest {
  // The path and query are enough: origins come from the configured public URL.
  return { method: req.method, url: req.originalUrl, headers: req.headers };
}

function send(res: Response, response: WebAppResponse): void {
  res.status(response.status).set(response.headers);
  if (response.cookies.length > 0) res.append('Set-Cookie', [...response.cookies]);
  // A redirect has no body: end() rather than send(''), which would add a content type.
  if (response.body === '') res.end();
  else res.send(response.body);
}
