// Our own routes answer with the error registry's JSON; nothing unexpected leaks.
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { GatehouseError } from '../errors.ts';
import { RETRY_AFTER_SECONDS, unavailableDependency } from '../unavailable.ts';

async function answerErrors(app: FastifyInstance): Promise<void> {
  app.setErrorHandler((error, request, reply) => {
    if (error instanceof GatehouseError) return reply.status(error.status).send(error.toJSON());
    if (unavailableDependency(error)) {
      request.log.warn({ err: error }, 'request answered 503: a dependency is unavailable');
      return reply.status(503).header('retry-after', String(RETRY_AFTER_SECONDS)).send(new GatehouseError('service_unavailable').toJSON());
    }
    const status = (error as { statusCode?: number }).statusCode;
    if (status === 413) return reply.status(413).send(new GatehouseError('payload_too_large').toJSON());
    if (status !== undefined && status >= 400 && status < 500) {
      return reply.status(status).send(new GatehouseError('invalid_request', (error as Error).message).toJSON());
    }
    request.log.error({ err: error }, 'request failed');
    return reply.status(500).send(new GatehouseError('server_error').toJSON());
  });
  app.setNotFoundHandler((_request, reply) => reply.status(404).send(new GatehouseError('not_found').toJSON()));
}

/** The error and not-found handlers of the whole app. */
export const errorAnswers = fp(answerErrors, { name: 'gatehouse-error-answers' });
