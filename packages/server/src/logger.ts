// Logging options: JSON lines, with every place a secret could appear redacted. Request URLs
// are logged without their query string (authorization requests carry state, PKCE challenges
// and login hints there).
import type { FastifyServerOptions } from 'fastify';
import type { Config } from './config/schema.ts';
import { unavailableDependency } from './unavailable.ts';

export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'res.headers["set-cookie"]',
  '*.password',
  '*.client_secret',
  '*.refresh_token',
  '*.access_token',
  '*.token',
];

export function loggerOptions(config: Pick<Config, 'logLevel'>): FastifyServerOptions['logger'] {
  return {
    level: config.logLevel,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    serializers: {
      req(request: { method: string; url: string; ip?: string; id?: string }) {
        return { id: request.id, method: request.method, path: request.url.split('?')[0], ip: request.ip };
      },
    },
  };
}

/**
 * A failure worth a log line: a dependency being down is a warning (it is answered 503, and the
 * operator's alarm is on the dependency); anything else is an error, a bug to look at.
 */
export function logFailure(log: { warn(details: object, message: string): void; error(details: object, message: string): void }, error: unknown, message: string): void {
  if (unavailableDependency(error)) log.warn({ err: error }, `${message}: a dependency is unavailable`);
  else log.error({ err: error }, message);
}
