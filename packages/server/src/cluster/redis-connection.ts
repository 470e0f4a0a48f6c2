// One Redis connection as Gatehouse uses it: reconnecting forever in the background, every
// command bounded by a timeout, its failures reported as DependencyUnavailable('redis') (503 at
// every edge), and its state changes logged once each — "unreachable", then "reachable again" —
// instead of ioredis printing a stack trace for every failed reconnection attempt.
//
// A server starts whether Redis answers or not (docs/adr/0007-outages.md): waiting for it would
// turn a Redis outage, which only stops password checks, into a total one the moment an
// instance restarts.
import { Redis, type RedisOptions } from 'ioredis';
import { DependencyUnavailable, NETWORK_ERROR_CODES } from '../unavailable.ts';

export interface RedisLog {
  warn(details: object, message: string): void;
  info(details: object, message: string): void;
}

export interface RedisConnectionOptions {
  /** What the connection is for, in log lines ("login throttling", "cluster bus"). */
  readonly role: string;
  readonly log: RedisLog;
  /** Called each time the connection is ready again after being down. */
  readonly onReconnect?: () => void;
}

/** How long to wait for a connection, and for the answer to any command. */
export const REDIS_TIMEOUT_MS = 2000;

/** Redis failures that mean "unavailable", not "the command is wrong". */
export function isRedisUnavailable(error: unknown): boolean {
  const { name, message, code } = (error ?? {}) as { name?: unknown; message?: unknown; code?: unknown };
  if (typeof code === 'string' && NETWORK_ERROR_CODES.has(code)) return true;
  if (name === 'MaxRetriesPerRequestError' || name === 'AbortError') return true;
  if (typeof message !== 'string') return false;
  // ioredis's own (offline queue off, connection gone, command timeout), and the server's
  // "cannot serve now" replies.
  return /^Stream isn't writeable|^Connection is closed|^Command timed out|^(LOADING|BUSY|MASTERDOWN|READONLY|OOM|TRYAGAIN|CLUSTERDOWN) /.test(message);
}

export function redisFailure(error: unknown): unknown {
  return isRedisUnavailable(error) ? new DependencyUnavailable('redis', { cause: error }) : error;
}

/** Every method's failure as DependencyUnavailable when Redis is the cause (a store or a bus over Redis). */
export function failingAsUnavailable<T extends object>(target: T): T {
  return new Proxy(target, {
    get(object, property) {
      const value = Reflect.get(object, property, object) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        try {
          const result = (value as (...a: unknown[]) => unknown).apply(object, args);
          return result instanceof Promise ? result.catch((error: unknown) => Promise.reject(redisFailure(error))) : result;
        } catch (error) {
          throw redisFailure(error);
        }
      };
    },
  });
}

/**
 * Opens a connection and resolves once it is ready, or once the first attempt failed or took
 * REDIS_TIMEOUT_MS: the caller carries on either way, and the connection keeps trying.
 */
export async function openRedis(url: string, options: RedisConnectionOptions, extra: RedisOptions = {}): Promise<Redis> {
  const { role, log } = options;
  const redis = new Redis(url, {
    connectTimeout: REDIS_TIMEOUT_MS,
    commandTimeout: REDIS_TIMEOUT_MS,
    // While Redis is away, commands fail at once (answered 503) instead of waiting in a queue.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    // Back off to one attempt every two seconds, forever.
    retryStrategy: (attempt) => Math.min(attempt * 100, 2000),
    ...extra,
  });
  // Up or down, as last logged: one line per change, never one per attempt.
  let state: 'starting' | 'up' | 'down' = 'starting';
  const down = (error: unknown) => {
    if (state === 'down') return;
    const wasUp = state === 'up';
    state = 'down';
    const reason = (error as { code?: string; message?: string } | undefined)?.code ?? (error as Error | undefined)?.message ?? 'connection closed';
    log.warn(
      { redis: role, reason },
      wasUp
        ? `Redis is unreachable (${role}): ${reason}; retrying in the background`
        : `Redis is unreachable at start (${role}): ${reason}; starting without it and retrying in the background`,
    );
  };
  redis.on('error', down);
  redis.on('close', () => {
    // Closed by us (quit, disconnect at shutdown: ioredis then ends the connection right after
    // this event) is not an outage; closed by Redis or the network is.
    setImmediate(() => {
      if (state === 'up' && redis.status !== 'end') down(undefined);
    });
  });
  redis.on('ready', () => {
    const wasDown = state === 'down';
    state = 'up';
    if (wasDown) {
      log.info({ redis: role }, `Redis is reachable again (${role})`);
      options.onReconnect?.();
    }
  });

  await new Promise<void>((resolve) => {
    const settle = () => {
      clearTimeout(timer);
      redis.off('ready', settle);
      redis.off('error', settle);
      resolve();
    };
    const timer = setTimeout(settle, REDIS_TIMEOUT_MS);
    redis.once('ready', settle);
    redis.once('error', settle);
  });
  if (state === 'starting' && redis.status !== 'ready') down(new Error(`no answer within ${REDIS_TIMEOUT_MS} ms`));
  return redis;
}

/** PING within the command timeout: is Redis answering now? */
export async function redisAnswers(redis: Redis): Promise<boolean> {
  try {
    return (await redis.ping()) === 'PONG';
  } catch {
    return false;
  }
}
