// Login throttling shared by every instance: the same sliding-window log as MemoryThrottleStore,
// kept in Redis sorted sets (one per key, scored by time, expiring with the window).
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { ThrottleStore } from '../passwords/throttle.ts';
import { failingAsUnavailable, openRedis, redisAnswers, type RedisLog } from './redis-connection.ts';

export class RedisThrottleStore implements ThrottleStore {
  readonly #redis: Redis;
  readonly #prefix: string;

  private constructor(redis: Redis, prefix: string) {
    this.#redis = redis;
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

  async hit(keys: readonly string[], windowMs: number): Promise<void> {
    const now = Date.now();
    const multi = this.#redis.multi();
    for (const key of keys) {
      const name = `${this.#prefix}${key}`;
      multi.zremrangebyscore(name, 0, now - windowMs);
      multi.zadd(name, now, `${now}:${randomUUID()}`);
      multi.pexpire(name, windowMs);
    }
    await multi.exec();
  }

  async count(keys: readonly string[], windowMs: number): Promise<{ count: number; oldestAt: number }[]> {
    const now = Date.now();
    const multi = this.#redis.multi();
    for (const key of keys) {
      const name = `${this.#prefix}${key}`;
      multi.zremrangebyscore(name, 0, now - windowMs);
      multi.zcard(name);
      multi.zrange(name, '0', '0', 'WITHSCORES');
    }
    const results = (await multi.exec()) ?? [];
    return keys.map((_, index) => {
      const [countError, count] = results[index * 3 + 1] ?? [];
      const [rangeError, oldest] = results[index * 3 + 2] ?? [];
      if (countError || rangeError) throw countError ?? rangeError;
      const oldestScore = Array.isArray(oldest) && oldest.length === 2 ? Number(oldest[1]) : now;
      return { count: Number(count ?? 0), oldestAt: oldestScore };
    });
  }

  async reset(key: string): Promise<void> {
    await this.#redis.del(`${this.#prefix}${key}`);
  }

  async close(): Promise<void> {
    await this.#redis.quit().catch(() => this.#redis.disconnect());
  }
}
