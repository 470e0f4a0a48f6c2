// Failed-login throttling, per account and per IP, on every path that checks a password.
// Counts live in a ThrottleStore: in memory by default, in Redis when several instances run.

export interface ThrottleStore {
  /** Records a failure for each key, now. */
  hit(keys: readonly string[], windowMs: number): Promise<void>;
  /** For each key: failures within the window, and when the oldest of them leaves it. */
  count(keys: readonly string[], windowMs: number): Promise<{ count: number; oldestAt: number }[]>;
  reset(key: string): Promise<void>;
}

const MAX_KEYS = 100_000;

/** Sliding-window log in process memory, bounded in keys (oldest keys are dropped first). */
export class MemoryThrottleStore implements ThrottleStore {
  readonly #hits = new Map<string, number[]>();

  async hit(keys: readonly string[], windowMs: number): Promise<void> {
    const now = Date.now();
    for (const key of keys) {
      const recent = (this.#hits.get(key) ?? []).filter((at) => at > now - windowMs);
      recent.push(now);
      this.#hits.delete(key);
      this.#hits.set(key, recent);
    }
    while (this.#hits.size > MAX_KEYS) this.#hits.delete(this.#hits.keys().next().value!);
  }

  async count(keys: readonly string[], windowMs: number): Promise<{ count: number; oldestAt: number }[]> {
    const now = Date.now();
    return keys.map((key) => {
      const recent = (this.#hits.get(key) ?? []).filter((at) => at > now - windowMs);
      return { count: recent.length, oldestAt: recent[0] ?? now };
    });
  }

  async reset(key: string): Promise<void> {
    this.#hits.delete(key);
  }
}

export interface ThrottleLimits {
  readonly maxPerAccount: number;
  readonly maxPerIp: number;
  readonly windowSeconds: number;
}

export type ThrottleDecision = { readonly limited: false } | { readonly limited: true; readonly retryAfter: number };

export class LoginThrottle {
  readonly #store: ThrottleStore;
  readonly #limits: ThrottleLimits;

  constructor(store: ThrottleStore, limits: ThrottleLimits) {
    this.#store = store;
    this.#limits = limits;
  }

  #keys(username: string, ip: string): [string, string] {
    return [`login:account:${username.toLowerCase()}`, `login:ip:${ip}`];
  }

  /** Before checking a password: is this account or this address over its limit? */
  async check(username: string, ip: string): Promise<ThrottleDecision> {
    const windowMs = this.#limits.windowSeconds * 1000;
    const [account, address] = await this.#store.count(this.#keys(username, ip), windowMs);
    const over = [
      account!.count >= this.#limits.maxPerAccount ? account! : undefined,
      address!.count >= this.#limits.maxPerIp ? address! : undefined,
    ].filter((x) => x !== undefined);
    if (over.length === 0) return { limited: false };
    // Retry when the oldest counted failure of the most restrictive key leaves the window.
    const until = Math.max(...over.map((o) => o.oldestAt + windowMs));
    return { limited: true, retryAfter: Math.max(1, Math.ceil((until - Date.now()) / 1000)) };
  }

  async failed(username: string, ip: string): Promise<void> {
    await this.#store.hit(this.#keys(username, ip), this.#limits.windowSeconds * 1000);
  }

  /** A success clears the account's count (not the address's: one good password does not vouch for the rest). */
  async succeeded(username: string, ip: string): Promise<void> {
    await this.#store.reset(this.#keys(username, ip)[0]);
  }
}

/**
 * A fixed budget of actions per key in a sliding window (registrations per address, reset mails
 * per email…), on the same store as login throttling, so it is shared through Redis too.
 */
export class RateLimiter {
  readonly #store: ThrottleStore;
  constructor(store: ThrottleStore) {
    this.#store = store;
  }

  /** Counts one action for every key; refused (with seconds to wait) when any key is over its limit. */
  async take(keys: readonly { key: string; max: number }[], windowSeconds: number): Promise<ThrottleDecision> {
    const windowMs = windowSeconds * 1000;
    const counts = await this.#store.count(keys.map((k) => `limit:${k.key}`), windowMs);
    const over = counts.filter((c, i) => c.count >= keys[i]!.max);
    if (over.length > 0) {
      const until = Math.max(...over.map((o) => o.oldestAt + windowMs));
      return { limited: true, retryAfter: Math.max(1, Math.ceil((until - Date.now()) / 1000)) };
    }
    await this.#store.hit(keys.map((k) => `limit:${k.key}`), windowMs);
    return { limited: false };
  }
}
