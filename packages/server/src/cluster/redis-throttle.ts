// Login throttling shared by every instance: the same sliding-window log as MemoryThrottleStore,
// kept in Redis sorted sets (one per key, scored by time, members the attempts' ids, expiring
// with the window). `take` is one Lua script, which Redis runs atomically: two instances
// reserving the last attempt of a key at the same moment cannot both get it.
import type { Redis } from 'ioredis';
import type { KeyLimit, TakeResult, ThrottleStore } from '../passwords/throttle.ts';
import { failingAsUnavailable, openRedis, redisAnswers, type RedisLog } from './redis-connection.ts';

// KEYS: the sorted sets. ARGV: now (ms), window (ms), the attempt's id, then each key's max.
// Answers 0 when the attempt was added to every key, else the milliseconds until each full key
// has room (the latest of them). Scores are the caller's clock, as in the memory store.
const TAKE = `
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local id = ARGV[3]
local wait = 0
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local max = tonumber(ARGV[3 + i])
  local count = redis.call('ZCARD', key)
  if count >= max then
    local entry = redis.call('ZRANGE', key, count - max, count - max, 'WITHSCORES')
    local free = tonumber(entry[2]) + window - now
    if free > wait then wait = free end
  end
end
if wait > 0 then return wait end
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, now, id)
  redis.call('PEXPIRE', key, window)
end
return 0
`;

type TakeCommand = (numberOfKeys: number, ...args: (string | number)[]) => Promise<number>;

export class RedisThrottleStore implements ThrottleStore {
  readonly #redis: Redis & { gatehouseThrottleTake: TakeCommand };
  readonly #prefix: string;

  private constructor(redis: Redis, prefix: string) {
    // ioredis sends the script by its SHA-1 (EVALSHA), and the text only when Redis lacks it.
    redis.defineCommand('gatehouseThrottleTake', { lua: TAKE });
    this.#redis = redis as Redis & { gatehouseThrottleTake: TakeCommand };
    this.#prefix = `${prefix}:throttle:`;
  }

  /**
   * Commands fail fast instead of queueing while Redis is away, as DependencyUnavailable: the
   * login path then answers 503 (throttling is a security control, so it fails closed, never
   * open). The store is returned whether Redis answers yet or not (redis-connection.ts).
   */
  static async connect(url: string, prefix: string, log: RedisLog): Promise<RedisThrottleStore> {
    const redis = await openRedis(url, { role: 'login throttling', log });
    return failingAsUnavailable(new RedisThrottleStore(redis, prefix));
  }

  /** Whether Redis answers now (for /healthz). */
  answers(): Promise<boolean> {
    return redisAnswers(this.#redis);
  }

  async take(limits: readonly KeyLimit[], windowMs: number, id: string): Promise<TakeResult> {
    const wait = await this.#redis.gatehouseThrottleTake(
      limits.length,
      ...limits.map(({ key }) => `${this.#prefix}${key}`),
      Date.now(),
      windowMs,
      id,
      ...limits.map(({ max }) => max),
    );
    const retryAfterMs = Number(wait);
    return retryAfterMs > 0 ? { taken: false, retryAfterMs } : { taken: true };
  }

  async release(keys: readonly string[], id: string): Promise<void> {
    const multi = this.#redis.multi();
    for (const key of keys) multi.zrem(`${this.#prefix}${key}`, id);
    const results = (await multi.exec()) ?? [];
    const failed = results.find(([error]) => error);
    if (failed) throw failed[0];
  }

  async reset(key: string): Promise<void> {
    await this.#redis.del(`${this.#prefix}${key}`);
  }

  async close(): Promise<void> {
    await this.#redis.quit().catch(() => this.#redis.disconnect());
  }
}
