// Telling every instance that something changed, so caches and keys follow at once instead of
// within their TTL or check interval. Without Redis, only this instance hears (the TTLs and the
// periodic key check still bound the staleness elsewhere); with Redis, every instance and the CLI
// share one channel.
import { EventEmitter } from 'node:events';
import { Redis } from 'ioredis';
import { DependencyUnavailable } from '../unavailable.ts';
import { openRedis, redisFailure, REDIS_TIMEOUT_MS, type RedisLog } from './redis-connection.ts';

export type ClusterEvent =
  | { readonly type: 'clients' } // a client was created, changed, revoked or deleted
  | { readonly type: 'apis' } // an API or its scopes changed
  | { readonly type: 'users' } // a user was disabled, renamed or lost a role
  | { readonly type: 'keys' }; // signing keys changed (a rotation scheduled, activated or purged)

export interface ClusterBus {
  publish(event: ClusterEvent): Promise<void>;
  subscribe(listener: (event: ClusterEvent) => void): void;
  close(): Promise<void>;
}

const TYPES: ReadonlySet<ClusterEvent['type']> = new Set(['clients', 'apis', 'users', 'keys']);

export class LocalBus implements ClusterBus {
  readonly #emitter = new EventEmitter();
  async publish(event: ClusterEvent): Promise<void> {
    this.#emitter.emit('event', event);
  }
  subscribe(listener: (event: ClusterEvent) => void): void {
    this.#emitter.on('event', listener);
  }
  async close(): Promise<void> {
    this.#emitter.removeAllListeners();
  }
}

/**
 * Redis pub/sub: a publisher connection and a subscriber connection (Redis requires two).
 *
 * While Redis is away, a publication fails at once (DependencyUnavailable) and is kept: it is sent
 * when the publisher is back (the caller logs the failure; the change itself is stored). A
 * subscriber that was away may have missed events: when it is back, every listener hears every
 * type once, so caches are dropped and keys reloaded.
 */
export class RedisBus implements ClusterBus {
  readonly #publisher: Redis;
  readonly #subscriber: Redis;
  readonly #listeners: ((event: ClusterEvent) => void)[] = [];
  readonly #channel: string;
  readonly #pending = new Set<ClusterEvent['type']>();

  private constructor(publisher: Redis, subscriber: Redis, channel: string) {
    this.#publisher = publisher;
    this.#subscriber = subscriber;
    this.#channel = channel;
    this.#subscriber.on('message', (channel: string, message: string) => {
      if (channel !== this.#channel) return;
      let event: unknown;
      try {
        event = JSON.parse(message);
      } catch {
        return;
      }
      if (typeof event === 'object' && event !== null && TYPES.has((event as { type?: string }).type as ClusterEvent['type'])) {
        this.#deliver(event as ClusterEvent);
      }
    });
  }

  static async connect(url: string, prefix: string, log: RedisLog): Promise<RedisBus> {
    const channel = `${prefix}:events`;
    let bus: RedisBus | undefined;
    const [publisher, subscriber] = await Promise.all([
      openRedis(url, { role: 'cluster bus', log, onReconnect: () => bus?.flush() }),
      openRedis(url, { role: 'cluster bus subscriber', log, onReconnect: () => bus?.resync() }),
    ]);
    bus = new RedisBus(publisher, subscriber, channel);
    // Subscribed whenever the connection is (again) ready, whatever happened before: a SUBSCRIBE
    // sent while Redis was away failed, and ioredis only renews subscriptions that succeeded.
    const subscribe = () =>
      subscriber.subscribe(channel).then(
        () => undefined,
        (error: unknown) => log.warn({ redis: 'cluster bus subscriber', err: error }, 'could not subscribe to the cluster bus'),
      );
    subscriber.on('ready', () => void subscribe());
    // Redis up at start: subscribed before the server serves, so no announcement is missed.
    if (subscriber.status === 'ready') await subscribe();
    return bus;
  }

  async publish(event: ClusterEvent): Promise<void> {
    // Every instance subscribes, this one included: one path for all.
    try {
      await this.#publisher.publish(this.#channel, JSON.stringify(event));
      this.#pending.delete(event.type);
    } catch (error) {
      this.#pending.add(event.type);
      throw redisFailure(error);
    }
  }

  subscribe(listener: (event: ClusterEvent) => void): void {
    this.#listeners.push(listener);
  }

  async close(): Promise<void> {
    this.#listeners.length = 0;
    this.#subscriber.disconnect();
    await this.#publisher.quit().catch(() => this.#publisher.disconnect());
  }

  #deliver(event: ClusterEvent): void {
    for (const listener of this.#listeners) listener(event);
  }

  /** Publications that failed while Redis was away, sent now that it is back. */
  private flush(): void {
    for (const type of [...this.#pending]) this.publish({ type }).catch(() => {});
  }

  /** Back from an outage: whatever was announced meanwhile is unknown, so act on everything. */
  private resync(): void {
    for (const type of TYPES) this.#deliver({ type } as ClusterEvent);
  }
}

export async function connectBus(redisUrl: string | undefined, prefix: string, log: RedisLog): Promise<ClusterBus> {
  return redisUrl ? RedisBus.connect(redisUrl, prefix, log) : new LocalBus();
}

/**
 * One publication, for a command-line process: one connection attempt, bounded in time, closed
 * afterwards whatever happened, so the process always exits. Throws DependencyUnavailable when
 * Redis cannot be reached.
 */
export async function publishOnce(url: string, prefix: string, event: ClusterEvent): Promise<void> {
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: REDIS_TIMEOUT_MS,
    commandTimeout: REDIS_TIMEOUT_MS,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  // Reported through the rejected promise below, never as an unhandled 'error' event; the
  // socket's error (ECONNREFUSED…) says more than ioredis's "Connection is closed."
  let socketError: unknown;
  redis.on('error', (error: unknown) => (socketError ??= error));
  try {
    await redis.connect();
    await redis.publish(`${prefix}:events`, JSON.stringify(event));
  } catch (error) {
    throw new DependencyUnavailable('redis', { cause: socketError ?? error });
  } finally {
    redis.disconnect();
  }
}
