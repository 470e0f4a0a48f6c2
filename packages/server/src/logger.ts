// Logging options: JSON lines, with every place a secret could appear redacted. Request URLs
// are logged without their query string (authorization requests carry state, PKCE challenges
// and login hints there).
import type { FastifyServerOptions } from 'fastify';
import type { Config } from './config/schema.ts';

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
