// A small read-through cache for rows read on every token request (clients, APIs). Entries live
// for a short TTL, so a change made by another process (the CLI, another instance) is seen
// within that time; changes made through this process are invalidated at once.

export class TtlCache<V> {
  readonly #entries = new Map<string, { value: V; expiresAt: number }>();
  readonly #inflight = new Map<string, Promise<V>>();
  readonly #ttlMs: number;
  readonly #maxEntries: number;

  constructor(ttlMs: number, maxEntries = 10_000) {
    this.#ttlMs = ttlMs;
    this.#maxEntries = maxEntries;
  }

  async get(key: string, load: () => Promise<V>): Promise<V> {
    if (this.#ttlMs <= 0) return load();
    const hit = this.#entries.get(key);
    if (hit && hit.expiresAt > Date.now()) return hit.value;
    // Concurrent misses for one key share a single load.
    const pending = this.#inflight.get(key);
    if (pending) return pending;
    const loading = load().then(
      (value) => {
        this.#inflight.delete(key);
        this.#entries.set(key, { value, expiresAt: Date.now() + this.#ttlMs });
        if (this.#entries.size > this.#maxEntries) this.#entries.delete(this.#entries.keys().next().value!);
        return value;
      },
      (error: unknown) => {
        this.#inflight.delete(key);
        throw error;
      },
    );
    this.#inflight.set(key, loading);
    return loading;
  }

  delete(key: string): void {
    this.#entries.delete(key);
  }

  clear(): void {
    this.#entries.clear();
  }
}
