/**
 * A bounded least-recently-used cache whose entries also expire at an absolute time.
 * Bounded so that a flood of distinct (bad or good) credentials cannot grow memory without limit.
 *
 * A Map finds entries; a doubly linked list keeps them in recency order. A hit only relinks
 * the entry at the head: no allocation. (Deleting and re-inserting into the Map on every hit,
 * the one-liner way, fills V8's hash table with holes it then reallocates: on a hot path that
 * showed as a tenfold rise in garbage collection.)
 */
interface Entry<V> {
  readonly key: string;
  value: V;
  expiresAt: number;
  newer: Entry<V> | undefined;
  older: Entry<V> | undefined;
}

export class LruCache<V> {
  readonly #max: number;
  readonly #entries = new Map<string, Entry<V>>();
  /** Most recently used. */
  #newest: Entry<V> | undefined;
  /** Least recently used: the next to go. */
  #oldest: Entry<V> | undefined;

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
      this.#remove(entry);
      return undefined;
    }
    this.#touch(entry);
    return entry.value;
  }

  /** Stores `value` until `expiresAt` (ms since the epoch); a size of 0 disables the cache. */
  set(key: string, value: V, expiresAt: number, now: number): void {
    if (this.#max === 0 || expiresAt <= now) return;
    const existing = this.#entries.get(key);
    if (existing !== undefined) {
      existing.value = value;
      existing.expiresAt = expiresAt;
      this.#touch(existing);
      return;
    }
    const entry: Entry<V> = { key, value, expiresAt, newer: undefined, older: this.#newest };
    if (this.#newest !== undefined) this.#newest.newer = entry;
    this.#newest = entry;
    this.#oldest ??= entry;
    this.#entries.set(key, entry);
    while (this.#entries.size > this.#max && this.#oldest !== undefined) this.#remove(this.#oldest);
  }

  /** Removes every entry whose value `matches`; returns how many. A walk over all entries: for rare events, not requests. */
  deleteWhere(matches: (value: V) => boolean): number {
    let removed = 0;
    for (const entry of [...this.#entries.values()]) {
      if (matches(entry.value)) {
        this.#remove(entry);
        removed++;
      }
    }
    return removed;
  }

  delete(key: string): void {
    const entry = this.#entries.get(key);
    if (entry !== undefined) this.#remove(entry);
  }

  /** Moves an entry to the most-recent end. */
  #touch(entry: Entry<V>): void {
    if (entry === this.#newest) return;
    this.#unlink(entry);
    entry.older = this.#newest;
    entry.newer = undefined;
    if (this.#newest !== undefined) this.#newest.newer = entry;
    this.#newest = entry;
    this.#oldest ??= entry;
  }

  #remove(entry: Entry<V>): void {
    this.#unlink(entry);
    this.#entries.delete(entry.key);
  }

  #unlink(entry: Entry<V>): void {
    if (entry.newer !== undefined) entry.newer.older = entry.older;
    else this.#newest = entry.older;
    if (entry.older !== undefined) entry.older.newer = entry.newer;
    else this.#oldest = entry.newer;
    entry.newer = undefined;
    entry.older = undefined;
  }
}
