// Where oidc-provider's answers at the token, introspection, revocation and pushed authorization
// request endpoints (the last authenticates clients as the token endpoint does: RFC 9126 §2.1) differ from
// what RFC 6749 §5.1/§5.2 says (and docs/errors.md promises), they are corrected here, after the
// engine has answered. Each correction is one named rule; everything else passes untouched.
//
// They are corrected afterwards because both refusals are raised by oidc-provider's own request
// pipeline (client authentication, the allowed-grant check) before any hook Gatehouse can give it,
// and the body is the engine's own parse of the request, which nothing else may read first.
import type { KoaContextWithOIDC } from 'oidc-provider';

interface ErrorBody {
  error?: unknown;
  error_description?: unknown;
}

interface Rule {
  /** What it corrects, for whoever reads the list. */
  readonly name: string;
  readonly applies: (ctx: KoaContextWithOIDC, endpoint: Endpoint, body: ErrorBody) => boolean;
  readonly correct: (ctx: KoaContextWithOIDC, issuer: string) => void;
}

type Endpoint = 'token' | 'introspection' | 'revocation' | 'par';

// oidc-provider's wording for the two refusals below (lib/shared/client_auth.js, lib/actions/token.js),
// pinned by package-lock and covered by packages/server/test/client-auth.test.ts.
const NO_CLIENT_AUTHENTICATION = 'no client authentication mechanism provided';
const GRANT_TYPE_NOT_ALLOWED = 'requested grant type is not allowed for this client';

const RULES: readonly Rule[] = [
  {
    // RFC 6749 §5.2 lists "no client authentication included" under invalid_client, 401, with a
    // WWW-Authenticate challenge when the client tried HTTP authentication (an Authorization header
    // with an empty client id, say). oidc-provider answers 400 invalid_request.
    name: 'no client authentication is invalid_client',
    applies: (ctx, _endpoint, body) => ctx.status === 400 && body.error === 'invalid_request' && body.error_description === NO_CLIENT_AUTHENTICATION,
    correct: (ctx, issuer) => {
      ctx.status = 401;
      ctx.body = { error: 'invalid_client', error_description: 'no client authentication included' };
      if (ctx.get('authorization') !== '') {
        ctx.set('WWW-Authenticate', `Basic realm="${issuer}", error="invalid_client", error_description="no client authentication included"`);
      }
    },
  },
  {
    // RFC 6749 §5.2: "The authenticated client is not authorized to use this authorization grant
    // type" is unauthorized_client (the password grant asked by a client without it, say).
    name: 'a grant the client may not use is unauthorized_client',
    applies: (ctx, endpoint, body) =>
      endpoint === 'token' && ctx.status === 400 && body.error === 'invalid_request' && body.error_description === GRANT_TYPE_NOT_ALLOWED,
    correct: (ctx) => {
      ctx.body = { error: 'unauthorized_client', error_description: GRANT_TYPE_NOT_ALLOWED };
    },
  },
];

/** The Koa middleware (provider.use) applying the rules, and RFC 6749 §5.1's Pragma header. */
export function protocolAnswersMiddleware(issuer: string, paths: { token: string; introspection: string; revocation: string; pushed_authorization_request: string }) {
  const endpoints = new Map<string, Endpoint>([
    [paths.token, 'token'],
    [paths.introspection, 'introspection'],
    [paths.revocation, 'revocation'],
    [paths.pushed_authorization_request, 'par'],
  ]);
  return async (ctx: KoaContextWithOIDC, next: () => Promise<void>): Promise<void> => {
    await next();
    const endpoint = endpoints.get(ctx.path);
    if (!endpoint || ctx.method !== 'POST') return;
    // RFC 6749 §5.1: token responses carry Cache-Control: no-store (oidc-provider sets it) and
    // Pragma: no-cache, for HTTP/1.0 caches; errors too, they are responses of the same endpoint.
    if (endpoint === 'token') ctx.set('Pragma', 'no-cache');
    const body = ctx.body;
    if (body === null || typeof body !== 'object' || Buffer.isBuffer(body)) return;
    const rule = RULES.find((r) => r.applies(ctx, endpoint, body as ErrorBody));
    rule?.correct(ctx, issuer);
  };
}
