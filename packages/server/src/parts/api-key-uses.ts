// API keys' last-used times, written in batches: never a database write per request.
import type { FastifyBaseLogger } from 'fastify';
import type { Db } from '../storage/database.ts';
import { recordApiKeyUse } from '../storage/api-keys.ts';

const FLUSH_EVERY_MS = 30 * 1000;

export class ApiKeyUses {
  readonly #db: Db;
  readonly #log: FastifyBaseLogger;
  readonly #uses = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;

  constructor(db: Db, log: FastifyBaseLogger) {
    this.#db = db;
    this.#log = log;
  }

  /** Notes that the key was used now. */
  record(id: string): void {
    this.#uses.set(id, Date.now());
  }

  start(): void {
    this.#timer = setInterval(() => {
      this.#flush().catch((error: unknown) => this.#log.warn({ err: error }, 'recording API key use failed'));
    }, FLUSH_EVERY_MS);
    this.#timer.unref();
  }

  /** Stops the timer and writes what is pending (a failure is not worth failing the shutdown). */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#flush().catch(() => {});
  }

  async #flush(): Promise<void> {
    if (this.#uses.size === 0) return;
    const uses = new Map(this.#uses);
    this.#uses.clear();
    await recordApiKeyUse(this.#db, uses);
  }
}
