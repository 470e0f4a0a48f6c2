/**
 * @gatehouse/sdk/express — middleware per route:
 * ```ts
 * const { requireAuth } = gatehouse(authenticator);
 * app.get('/items', requireAuth({ scopes: ['items'] }), (req, res) => res.json({ user: req.auth?.subject }));
 * ```
 * Failures are answered directly with the core's status, headers and body (the same bytes as
 * every other adapter). With `{ errors: 'next' }` the `AuthError` goes to `next(err)` instead; it
 * carries `status`, `headers` and `response` for your error handler.
 *
 * The client address used to throttle failed introspections is `req.ip`: behind a proxy, set
 * Express' `trust proxy` so that it is the client's, not the proxy's.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Authenticator } from '../authenticator.ts';
import type { AuthRequest } from '../credentials.ts';
import type { Principal } from '../principal.ts';
import type { AuthRequirement } from '../requirement.ts';
import { metadataResponse } from '../protected-resource.ts';

export { gatehouseWebApp } from './webapp.ts';
export type { GatehouseWebAppExpress } from './webapp.ts';

declare global {
  namespace Express {
    interface Request {
      /** The principal, set by `requireAuth`; undefined on optional routes without credentials. */
      auth?: Principal | undefined;
    }
  }
}

export interface GatehouseExpressOptions {
  /** `respond` (default): send the error answer. `next`: call `next(authError)`. */
  readonly errors?: 'respond' | 'next';
}

export interface GatehouseExpress {
  /** Middleware enforcing `requirement` (default: any valid credential). Validated when called. */
  requireAuth(requirement?: AuthRequirement): RequestHandler;
  /**
   * Serves the RFC 9728 metadata (`GET /.well-known/oauth-protected-resource[/path]`) when the
   * authenticator has `protectedResource`; mount it with `app.use(...)`. Passes every other request on.
   */
  protectedResourceMetadata: RequestHandler;
  /**
   * Receives the security events the issuer pushes (the `signals` option with `delivery: { push }`):
   * POST at that URL's path, answered 202 (RFC 8935); mount it with `app.use(...)` before any
   * body parser that would take `application/secevent+jwt`. Passes every other request on. Start
   * and stop the stream with `authenticator.start()` and `authenticator.close()`.
   */
  securityEvents: RequestHandler;
}

/** A pushed SET is small; a larger body is refused unread. */
const MAX_SET_BYTES = 64 * 1024;

export function gatehouse(authenticator: Authenticator, options: GatehouseExpressOptions = {}): GatehouseExpress {
  if (typeof authenticator?.authenticate !== 'function') {
    throw new TypeError('gatehouse: expected an authenticator (createAuthenticator(...))');
  }
  const errors = options.errors ?? 'respond';
  if (errors !== 'respond' && errors !== 'next') throw new TypeError('gatehouse options.errors: expected respond or next');

  const resource = authenticator.description.protectedResource;
  const metadata = resource === undefined ? undefined : metadataResponse(resource);
  const pushPath = authenticator.description.signals?.pushPath;
  return {
    securityEvents(req, res, next) {
      if (pushPath === undefined || req.path !== pushPath || req.method !== 'POST') {
        next();
        return;
      }
      if (!req.is('application/secevent+jwt')) {
        res.status(400).json({ err: 'invalid_request', description: 'Expected application/secevent+jwt' });
        return;
      }
      readText(req)
        .then((body) => authenticator.receiveSignal(body, req.get('authorization')))
        .then((outcome) => {
          if (outcome.ok) res.status(202).end();
          else res.status(outcome.status).json({ err: outcome.err, description: outcome.description });
        }, next);
    },
    protectedResourceMetadata(req, res, next) {
      if (resource === undefined || metadata === undefined || req.path !== resource.path || (req.method !== 'GET' && req.method !== 'HEAD')) {
        next();
        return;
      }
      res.status(metadata.status).set(metadata.headers).send(metadata.body);
    },
    requireAuth(input = {}) {
      // Misuse fails when the route is declared, not on the first request.
      const requirement = authenticator.requirement(input, 'requireAuth');
      return function gatehouseRequireAuth(req: Request, res: Response, next: NextFunction): void {
        authenticator.authenticate(new ExpressAuthRequest(req), requirement).then(
          (outcome) => {
            if (outcome.ok) {
              req.auth = outcome.principal;
              if (outcome.headers !== undefined) res.set(outcome.headers);
              next();
            } else if (errors === 'next') {
              next(outcome.error);
            } else {
              res.status(outcome.response.status).set(outcome.response.headers).send(outcome.response.body);
            }
          },
          (error: unknown) => next(error),
        );
      };
    },
  };
}

/** The body as text: the one a text parser left, or read here (at most MAX_SET_BYTES). */
function readText(req: Request): Promise<string> {
  if (typeof req.body === 'string') return Promise.resolve(req.body);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_SET_BYTES) {
        req.destroy();
        reject(new Error('security event too large'));
      } else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** The request as the core sees it; the address is read only if the failure limit needs it. */
class ExpressAuthRequest implements AuthRequest {
  readonly #req: Request;
  readonly method: string;
  readonly url: string;
  readonly headers: Request['headers'];
  /** Node's raw header list: `headers` keeps only the first of two `Authorization` fields. */
  readonly rawHeaders: readonly string[];
  constructor(req: Request) {
    this.#req = req;
    this.method = req.method;
    this.url = `${req.protocol}://${req.get('host') ?? 'localhost'}${req.originalUrl}`;
    this.headers = req.headers;
    this.rawHeaders = req.rawHeaders;
  }
  /** Express' `req.ip`: the socket's address, or the client's per the `trust proxy` setting. */
  get clientIp(): string | undefined {
    return this.#req.ip;
  }
}
