// Telling every instance that something changed, so caches and keys follow at once instead of
// within their TTL or check interval. Without Redis, only this instance hears (the TTLs and the
// periodic key check still bound the staleness elsewhere); with Redis, every instance and the CLI
// share one channel.
import { EventEmitter } from 'node:events';
import { Redis } from 'ioredis';

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

const TYPES = new Set(['clients', 'apis', 'users', 'keys']);

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

/** Redis pub/sub: a publisher connection and a subscriber connection (Redis requires two). */
export class RedisBus implements ClusterBus {
  readonly #publisher: Redis;
  readonly #subscriber: Redis;
  readonly #listeners: ((event: ClusterEvent) => void)[] = [];
  readonly #channel: string;

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
      if (typeof event === 'object' && event !== null && TYPES.has((event as { type?: string }).type ?? '')) {
        for (const listener of this.#listeners) listener(event as ClusterEvent);
      }
    });
  }

  static async connect(url: string, prefix: string): Promise<RedisBus> {
    const channel = `${prefix}:events`;
    const options = { lazyConnect: true, maxRetriesPerRequest: 2, connectTimeout: 5000 };
    const publisher = new Redis(url, { ...options, enableOfflineQueue: false });
    const subscriber = new Redis(url, options);
    await Promise.all([publisher.connect(), subscriber.connect()]);
    await subscriber.subscribe(channel);
    return new RedisBus(publisher, subscriber, channel);
  }

  async publish(event: ClusterEvent): Promise<void> {
    // Every instance subscribes, this one included: one path for all.
    await this.#publisher.publish(this.#channel, JSON.stringify(event));
  }

  subscribe(listener: (event: ClusterEvent) => void): void {
    this.#listeners.push(listener);
  }

  async close(): Promise<void> {
    this.#listeners.length = 0;
    this.#subscriber.disconnect();
    await this.#publisher.quit().catch(() => this.#publisher.disconnect());
  }
}

export async function connectBus(redisUrl: string | undefined, prefix: string): Promise<ClusterBus> {
  return redisUrl ? RedisBus.connect(redisUrl, prefix) : new LocalBus();
}
