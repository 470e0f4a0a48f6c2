// Hands the protocol endpoints to oidc-provider before Fastify reads the body: each provider
// path is a Fastify route whose onRequest hook hijacks the reply and passes the raw request on.
// (Mounting the provider at `/` with middie would swallow every Fastify route.)
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ROUTES } from './configuration.ts';
import type { Engine } from './provider.ts';

const DISCOVERY = '/.well-known/openid-configuration';
/** oidc-provider reads at most 56 KiB of a body (lib/shared/selective_body.js). */
export const PROVIDER_BODY_LIMIT = 56 * 1024;
// RFC 8414: the same metadata, at the OAuth 2.0 well-known path.
const OAUTH_METADATA = '/.well-known/oauth-authorization-server';

export function mountProvider(app: FastifyInstance, engine: Engine): void {
  // The engine's callback follows key rotations (a new provider is built, this one stays).
  const { callback } = engine;
  const handoff = (request: FastifyRequest, reply: FastifyReply, done: () => void): void => {
    reply.hijack();
    if (request.raw.url?.startsWith(OAUTH_METADATA)) {
      request.raw.url = DISCOVERY + request.raw.url.slice(OAUTH_METADATA.length);
    }
    callback(request.raw, reply.raw);
    void done;
  };
  // Registration is Gatehouse's own route when turned on (dynamic-registration.ts), never oidc-provider's.
  const paths = [...new Set([...Object.values(ROUTES), DISCOVERY, OAUTH_METADATA])].filter((path) => path !== ROUTES.registration);
  for (const path of paths) {
    for (const url of [path, `${path}/*`]) {
      app.route({
        method: ['GET', 'POST', 'OPTIONS', 'PUT', 'DELETE'],
        url,
        // oidc-provider's own limit: a larger declared body is answered 413 before it gets here
        // (http/request-limits.ts), instead of its 400 "failed to parse the request body".
        bodyLimit: PROVIDER_BODY_LIMIT,
        // Refusals before the handoff (413, a second Host header), in RFC 6749 §5.2's form.
        errorHandler: protocolRefusal,
        // Never reached: the reply is hijacked in onRequest, before the body is parsed.
        onRequest: handoff,
        handler: async () => undefined,
      });
    }
  }
}

function protocolRefusal(error: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const status = error.statusCode ?? 500;
  reply.header('cache-control', 'no-store');
  if (status >= 400 && status < 500) return reply.status(status).send({ error: 'invalid_request', error_description: error.message });
  request.log.error({ err: error }, 'protocol request failed before reaching the engine');
  return reply.status(500).send({ error: 'server_error' });
}
