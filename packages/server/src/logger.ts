// Logging options: JSON lines (or readable lines in a terminal), with every place a secret could
// appear redacted. Request URLs are logged without their query string (authorization requests
// carry state, PKCE challenges and login hints there).
import type { FastifyServerOptions } from 'fastify';
import pretty from 'pino-pretty';
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

type LogOutput = NodeJS.WritableStream & { isTTY?: boolean };

/** Development email (mail/mailer.ts logs it under `mail`) as a block a person reads: each link on its own line. */
function mailBlock(value: unknown): string {
  const mail = value as { to?: string; subject?: string; text?: string };
  const body = String(mail.text ?? '').split('\n').map((line) => `    ${line}`).join('\n');
  return `\n    To: ${mail.to}\n    Subject: ${mail.subject}\n\n${body}\n`;
}

/**
 * Where the log goes and in which form: `pretty` (pino-pretty, in this thread: no worker, no line
 * lost at exit) for a person, JSON lines otherwise; `auto` asks whether the output is a terminal.
 */
function logStream(format: Config['logFormat'], output: LogOutput): LogOutput | undefined {
  if (format === 'pretty' || (format === 'auto' && output.isTTY === true)) {
    return pretty({
      destination: output,
      colorize: output.isTTY === true,
      sync: true,
      translateTime: 'SYS:HH:MM:ss',
      ignore: 'pid,hostname',
      customPrettifiers: { mail: mailBlock },
    });
  }
  return output === process.stdout ? undefined : output;
}

export function loggerOptions(config: Pick<Config, 'logLevel'> & Partial<Pick<Config, 'logFormat'>>, output: LogOutput = process.stdout): FastifyServerOptions['logger'] {
  const stream = logStream(config.logFormat ?? 'json', output);
  return {
    level: config.logLevel,
    ...(stream ? { stream } : {}),
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
