/**
 * Test helpers: a fetch that wraps the real one to count outbound requests (the network itself
 * is real: the test issuer listens on 127.0.0.1), a settable clock, and request builders.
 */
import type { AuthRequest, FetchLike } from '@gatehouse/sdk';

export interface CountingFetch {
  readonly fetch: FetchLike;
  /** URLs requested, in order. */
  readonly urls: string[];
  count(predicate?: (url: string) => boolean): number;
}

export function countingFetch(): CountingFetch {
  const urls: string[] = [];
  return {
    urls,
    fetch: (input, init) => {
      urls.push(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
      return fetch(input, init);
    },
    count: (predicate) => (predicate === undefined ? urls.length : urls.filter(predicate).length),
  };
}

/** A clock tests move by hand (milliseconds). */
export function manualClock(start = Date.now()): { now: () => number; advance: (seconds: number) => void } {
  let current = start;
  return { now: () => current, advance: (seconds) => void (current += seconds * 1000) };
}

export function bearer(token: string, extra: Record<string, string> = {}): Record<string, string> {
  return { authorization: `Bearer ${token}`, ...extra };
}

export function request(headers: Record<string, string> = {}, options: { method?: string; url?: string } = {}): AuthRequest {
  return { method: options.method ?? 'GET', url: options.url ?? 'https://api.example.test/items', headers };
}
