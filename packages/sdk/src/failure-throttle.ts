/**
 * Per-address throttle of failed introspections. Guessing API keys or opaque tokens costs the
 * issuer a lookup per guess; once one client address has had `max` credentials answered inactive
 * within a window, its API keys and opaque tokens are refused with 429 and `Retry-After`, before any
 * further introspection, until that window ends.
 *
 * - A fixed window per address, opened by its first failure.
 * - An introspection in flight counts as a failure until it answers active (or cannot answer), so
 *   a burst of concurrent guesses cannot overshoot the limit.
 * - IPv6 addresses count per /64 (one host usually holds a whole /64); IPv4-mapped IPv6 addresses
 *   (`::ffff:192.0.2.1`) count as their IPv4 address.
 * - Memory is bounded: the least recently seen addresses are forgotten first (lru.ts).
 * - A request whose address is unknown is not throttled (the adapter could not tell).
 */
import { AuthError, type ChallengeScheme } from './errors.ts';
import { LruCache } from './lru.ts';

export interface FailureThrottleOptions {
  /** Failed introspections allowed per address and window. */
  readonly max: number;
  readonly windowMs: number;
  /** Most addresses tracked at once. */
  readonly addresses: number;
  readonly now: () => number;
}

/** One address's window: failures (and introspections in flight) counted so far. */
export interface FailureWindow {
  count: number;
  readonly endsAt: number;
}

export class FailureThrottle {
  readonly #options: FailureThrottleOptions;
  readonly #windows: LruCache<FailureWindow>;

  constructor(options: FailureThrottleOptions) {
    this.#options = options;
    this.#windows = new LruCache(options.addresses);
  }

  /** Throws 429 `too_many_requests` when the address is over the limit. */
  check(clientIp: string | undefined, scheme: ChallengeScheme): void {
    if (clientIp === undefined) return;
    const now = this.#options.now();
    const window = this.#windows.get(addressKey(clientIp), now);
    if (window !== undefined && window.count >= this.#options.max) {
      throw new AuthError('too_many_requests', 'Too many invalid credentials from this address; try again later', {
        scheme,
        retryAfter: (window.endsAt - now) / 1000,
      });
    }
  }

  /**
   * Checks the address, then counts one introspection as failed until `release()` says otherwise.
   * Returns what to release, or undefined when the address is unknown.
   */
  reserve(clientIp: string | undefined, scheme: ChallengeScheme): FailureWindow | undefined {
    if (clientIp === undefined) return undefined;
    this.check(clientIp, scheme);
    const now = this.#options.now();
    const key = addressKey(clientIp);
    let window = this.#windows.get(key, now);
    if (window === undefined) {
      window = { count: 0, endsAt: now + this.#options.windowMs };
      this.#windows.set(key, window, window.endsAt, now);
    }
    window.count += 1;
    return window;
  }

  /** The introspection answered active, or could not be made: it was no failed attempt. */
  release(window: FailureWindow | undefined): void {
    // A window that has ended since is no longer in the cache; decrementing it changes nothing.
    if (window !== undefined && window.count > 0) window.count -= 1;
  }
}

const IPV4_MAPPED = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/;

/** What an address is counted under: IPv4 as is, IPv6 by its /64 prefix. */
export function addressKey(clientIp: string): string {
  const address = clientIp.trim().toLowerCase().replace(/%.*$/, '');
  const mapped = IPV4_MAPPED.exec(address);
  if (mapped !== null) return mapped[1] as string;
  if (!address.includes(':')) return address;
  const groups = ipv6Groups(address);
  return groups === undefined ? address : `${groups.slice(0, 4).join(':')}::/64`;
}

/** The eight 16-bit groups of an IPv6 address (hex, no leading zeros), or undefined if it is not one. */
function ipv6Groups(address: string): string[] | undefined {
  const halves = address.split('::');
  if (halves.length > 2) return undefined;
  const parse = (part: string | undefined): string[] | undefined => {
    if (part === undefined || part === '') return [];
    const out: string[] = [];
    for (const group of part.split(':')) {
      // An embedded IPv4 address (::ffff:… handled above, 64:ff9b::…) fills the last two groups,
      // which are outside the /64 prefix anyway.
      if (/^\d{1,3}(?:\.\d{1,3}){3}$/.test(group)) out.push('0', '0');
      else if (/^[0-9a-f]{1,4}$/.test(group)) out.push(Number.parseInt(group, 16).toString(16));
      else return undefined;
    }
    return out;
  };
  const head = parse(halves[0]);
  const tail = parse(halves[1]);
  if (head === undefined || tail === undefined) return undefined;
  if (halves.length === 1) return head.length === 8 ? head : undefined;
  const missing = 8 - head.length - tail.length;
  return missing < 1 ? undefined : [...head, ...Array<string>(missing).fill('0'), ...tail];
}
