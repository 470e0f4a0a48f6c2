// Hands the protocol endpoints to oidc-provider before Fastify reads the body: each provider
// path is a Fastify route whose onRequest hook hijacks the reply and passes the raw request on.
// (Mounting the provider at `/` with middie would swallow every Fastify route.)
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ROUTES, type Engine } from './provider.ts';

const DISCOVERY = '/.well-known/openid-configuration';
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
  const paths = [...new Set([...Object.values(ROUTES), DISCOVERY, OAUTH_METADATA])];
  for (const path of paths) {
    for (const url of [path, `${path}/*`]) {
      app.route({
        method: ['GET', 'POST', 'OPTIONS', 'PUT', 'DELETE'],
        url,
        // Never reached: the reply is hijacked in onRequest, before the body is parsed.
        onRequest: handoff,
        handler: async () => undefined,
      });
    }
  }
}
