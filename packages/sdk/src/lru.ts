/**
 * A bounded least-recently-used cache whose entries also expire at an absolute time.
 * Bounded so that a flood of distinct (bad or good) credentials cannot grow memory without limit.
 */
export class LruCache<V> {
  readonly #max: number;
  // Map keeps insertion order: the first key is the least recently used.
  readonly #entries = new Map<string, { value: V; expiresAt: number }>();

  constructor(max: number) {
    this.#max = max;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The live value for `key`, or undefined; `now` in milliseconds since the epoch. */
  get(key: string, now: number): V | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (now >= entry.expiresAt) {
      this.#entries.delete(key);
      return undefined;
    }
    // Refresh recency.
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    return entry.value;
  }

  /** Stores `value` until `expiresAt` (ms since the epoch); a size of 0 disables the cache. */
  set(key: string, value: V, expiresAt: number, now: number): void {
    if (this.#max === 0 || expiresAt <= now) return;
    this.#entries.delete(key);
    this.#entries.set(key, { value, expiresAt });
    while (this.#entries.size > this.#max) {
      const oldest = this.#entries.keys().next();
      if (oldest.done === true) break;
      this.#entries.delete(oldest.value);
    }
  }

  delete(key: string): void {
    this.#entries.delete(key);
  }
}
