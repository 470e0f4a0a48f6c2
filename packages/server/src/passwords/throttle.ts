// Failed-login throttling, per account and per address, on every path that checks a password or
// a second factor; and fixed budgets of actions (registrations, reset mails) per key.
// Counts live in a ThrottleStore: in memory by default, in Redis when several instances run.
//
// Every limit is enforced atomically: an attempt is counted (reserved) BEFORE the expensive or
// guessable check runs, in one store operation that refuses it when a key is at its limit. A
// burst of parallel guesses therefore gets no more tries than a sequence. An attempt that turns
// out right is then released (it was no failure). Each factor has its own per-account counter:
// a right password never clears the second factor's, so knowing the password does not buy more
// code guesses (OWASP ASVS 5 §6.3.1, §6.6.3).
import { createHash, randomUUID } from 'node:crypto';
import ipaddr from 'ipaddr.js';

/** A key and the most entries it may hold within the window. */
export interface KeyLimit {
  readonly key: string;
  readonly max: number;
}

export type TakeResult = { readonly taken: true } | { readonly taken: false; readonly retryAfterMs: number };

export interface ThrottleStore {
  /**
   * Atomically: forgets each key's entries older than the window; then, if every key holds fewer
   * entries than its max, adds the entry `id` (now) to every key and answers `taken`; otherwise
   * adds nothing and answers how long until an entry of each full key leaves the window.
   */
  take(limits: readonly KeyLimit[], windowMs: number, id: string): Promise<TakeResult>;
  /** Removes the entry `id` from each key (an attempt that was no failure after all). */
  release(keys: readonly string[], id: string): Promise<void>;
  /** Forgets every entry of a key. */
  reset(key: string): Promise<void>;
}

const MAX_KEYS = 100_000;

interface Entry {
  readonly at: number;
  readonly id: string;
}

/**
 * Sliding-window log in process memory, bounded in keys (the least recently used are dropped
 * first). `take` runs without an `await` between its check and its write, so it is atomic.
 */
export class MemoryThrottleStore implements ThrottleStore {
  readonly #entries = new Map<string, Entry[]>();

  #recent(key: string, now: number, windowMs: number): Entry[] {
    return (this.#entries.get(key) ?? []).filter((entry) => entry.at > now - windowMs);
  }

  async take(limits: readonly KeyLimit[], windowMs: number, id: string): Promise<TakeResult> {
    const now = Date.now();
    const lists = limits.map(({ key }) => this.#recent(key, now, windowMs));
    const retryAfterMs = Math.max(0, ...limits.map(({ max }, i) => freeAt(lists[i]!.map((e) => e.at), max, windowMs) - now));
    if (retryAfterMs > 0) return { taken: false, retryAfterMs };
    limits.forEach(({ key }, i) => {
      lists[i]!.push({ at: now, id });
      this.#entries.delete(key);
      this.#entries.set(key, lists[i]!);
    });
    while (this.#entries.size > MAX_KEYS) this.#entries.delete(this.#entries.keys().next().value!);
    return { taken: true };
  }

  async release(keys: readonly string[], id: string): Promise<void> {
    for (const key of keys) {
      const list = this.#entries.get(key);
      if (list) this.#entries.set(key, list.filter((entry) => entry.id !== id));
    }
  }

  async reset(key: string): Promise<void> {
    this.#entries.delete(key);
  }
}

/**
 * When a key holding entries at `times` (oldest first) has room for one more: 0 if it has room
 * now, else when the entry that must leave for it to have room leaves the window.
 */
function freeAt(times: readonly number[], max: number, windowMs: number): number {
  if (times.length < max) return 0;
  return times[times.length - max]! + windowMs;
}

/**
 * What an address is counted under: an IPv4 address as is (IPv4-mapped IPv6 addresses too), an
 * IPv6 address by its /64 prefix, which is what one subscriber or one host usually holds (RFC
 * 6177; the same rule as @gatehouse/sdk's failure throttle). Anything unparseable as itself.
 */
export function addressKey(address: string): string {
  const trimmed = address.trim().replace(/%.*$/, '');
  if (!ipaddr.isValid(trimmed)) return trimmed.toLowerCase();
  const parsed = ipaddr.process(trimmed);
  if (parsed.kind() === 'ipv4') return parsed.toString();
  const parts = (parsed as ipaddr.IPv6).parts.slice(0, 4);
  return `${new ipaddr.IPv6([...parts, 0, 0, 0, 0]).toString()}/64`;
}

/** A key for what someone typed as a username: never the text itself (it may be a pasted password). */
function accountKey(username: string): string {
  return createHash('sha256').update(username.normalize('NFKC').toLowerCase()).digest('base64url');
}

export interface ThrottleLimits {
  readonly maxPerAccount: number;
  readonly maxPerIp: number;
  readonly windowSeconds: number;
}

export type ThrottleDecision = { readonly limited: false } | { readonly limited: true; readonly retryAfter: number };

/** The two factors a login may check, each with its own per-account counter. */
export type Factor = 'password' | 'second_factor';

/** An attempt counted as a failure until it is known to be right. */
export interface Attempt {
  readonly limited: false;
  /** The factor was right: its per-account failures are cleared, and this attempt no longer counts for the address. */
  succeeded(): Promise<void>;
  /** The attempt was no failure (the check could not be made, or a right password on a page that only confirms it). */
  release(): Promise<void>;
}

const seconds = (ms: number): number => Math.max(1, Math.ceil(ms / 1000));

export class LoginThrottle {
  readonly #store: ThrottleStore;
  readonly #limits: ThrottleLimits;

  constructor(store: ThrottleStore, limits: ThrottleLimits) {
    this.#store = store;
    this.#limits = limits;
  }

  /** A password is counted per username typed (case-insensitive); a second factor per user id. */
  static #accountKey(factor: Factor, account: string): string {
    return factor === 'password' ? `login:password:${accountKey(account)}` : `login:second-factor:${account}`;
  }

  /**
   * Before checking a factor: counts this attempt as a failure of the account (`username` for a
   * password, the user's id for a second factor) and of the address, atomically, or refuses it
   * when either is at its limit. Both factors count against the same per-address limit.
   */
  async attempt(factor: Factor, account: string, ip: string): Promise<Attempt | Extract<ThrottleDecision, { limited: true }>> {
    const accountKey = LoginThrottle.#accountKey(factor, account);
    const ipKey = `login:ip:${addressKey(ip)}`;
    const id = randomUUID();
    const result = await this.#store.take(
      [
        { key: accountKey, max: this.#limits.maxPerAccount },
        { key: ipKey, max: this.#limits.maxPerIp },
      ],
      this.#limits.windowSeconds * 1000,
      id,
    );
    if (!result.taken) return { limited: true, retryAfter: seconds(result.retryAfterMs) };
    const store = this.#store;
    return {
      limited: false,
      async succeeded() {
        // One right factor does not vouch for the address's other attempts: only this one goes.
        await store.reset(accountKey);
        await store.release([ipKey], id);
      },
      async release() {
        await store.release([accountKey, ipKey], id);
      },
    };
  }

  /** After a password reset by email: the account's failed passwords no longer count (its second factor's still do). */
  async clearPasswordFailures(username: string): Promise<void> {
    await this.#store.reset(LoginThrottle.#accountKey('password', username));
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

  /** Counts one action for every key, atomically; refused (with seconds to wait) when any key is at its limit. */
  async take(keys: readonly KeyLimit[], windowSeconds: number): Promise<ThrottleDecision> {
    const result = await this.#store.take(
      keys.map((k) => ({ key: `limit:${k.key}`, max: k.max })),
      windowSeconds * 1000,
      randomUUID(),
    );
    return result.taken ? { limited: false } : { limited: true, retryAfter: seconds(result.retryAfterMs) };
  }
}
