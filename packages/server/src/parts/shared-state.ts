// State shared across instances: login throttling and change events go through Redis when it is
// configured, and stay in this process otherwise. An unreachable Redis does not stop the start
// (cluster/redis-connection.ts): it is logged, and retried in the background.
import type { FastifyBaseLogger } from 'fastify';
import { connectBus, type ClusterBus } from '../cluster/bus.ts';
import { RedisThrottleStore } from '../cluster/redis-throttle.ts';
import type { Config } from '../config/schema.ts';
import { MemoryThrottleStore, type ThrottleStore } from '../passwords/throttle.ts';

export interface SharedState {
  readonly throttleStore: ThrottleStore;
  /** The Redis throttle store this process opened, if any (health checks ask it). */
  readonly redisThrottle: RedisThrottleStore | undefined;
  readonly bus: ClusterBus;
  /** Closes the connections opened here (not a store or bus that was given). */
  close(): Promise<void>;
}

export interface SharedStateOptions {
  readonly throttleStore?: ThrottleStore | undefined;
  readonly bus?: ClusterBus | undefined;
}

export async function connectSharedState(config: Config, given: SharedStateOptions, log: FastifyBaseLogger): Promise<SharedState> {
  const redisThrottle = !given.throttleStore && config.redisUrl ? await RedisThrottleStore.connect(config.redisUrl, config.redisPrefix, log) : undefined;
  const bus = given.bus ?? (await connectBus(config.redisUrl, config.redisPrefix, log));
  return {
    throttleStore: given.throttleStore ?? redisThrottle ?? new MemoryThrottleStore(),
    redisThrottle,
    bus,
    async close() {
      await redisThrottle?.close();
      if (!given.bus) await bus.close();
    },
  };
}
