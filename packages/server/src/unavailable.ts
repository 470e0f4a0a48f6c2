// "A dependency is down" as one error type, told apart from bugs where the failure starts (the
// PostgreSQL pool, the SQLite driver, the Redis clients), so every edge can answer it the same way:
// 503 with Retry-After, never a 500, never a crash, and the process carries on until the
// dependency is back (docs/operations.md).

export type Dependency = 'database' | 'redis';

/** Seconds a client is asked to wait before retrying (Retry-After, RFC 9110 §10.2.3). */
export const RETRY_AFTER_SECONDS = 5;

export class DependencyUnavailable extends Error {
  readonly dependency: Dependency;
  constructor(dependency: Dependency, options: { cause?: unknown; message?: string } = {}) {
    const reason = options.message ?? (options.cause instanceof Error ? options.cause.message : undefined);
    super(`${dependency === 'redis' ? 'Redis' : 'the database'} is unavailable${reason ? `: ${reason}` : ''}`, { cause: options.cause });
    this.name = 'DependencyUnavailable';
    this.dependency = dependency;
  }
}

/** Which dependency an error says is down, if it is one of ours (looking through `cause` chains). */
export function unavailableDependency(error: unknown): Dependency | undefined {
  for (let current = error, depth = 0; current instanceof Error && depth < 8; current = current.cause, depth++) {
    if (current instanceof DependencyUnavailable) return current.dependency;
  }
  return undefined;
}

/** Node's socket errors that mean "could not reach it" or "it went away". */
export const NETWORK_ERROR_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);
