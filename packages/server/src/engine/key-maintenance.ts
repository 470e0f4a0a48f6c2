// Signing-key maintenance, beside the keys: activate scheduled rotations when due, drop retired
// keys nothing valid was signed with, and rebuild the provider when the published set changed
// (another instance or the CLI may have changed it). Every instance does this; the database
// settles races. A scheduled key activates at its time, not at the next periodic check: whenever
// the keys are (re)loaded, a one-shot timer is armed for the earliest pending activation.
import type { FastifyBaseLogger } from 'fastify';
import { logFailure } from '../logger.ts';
import type { Db } from '../storage/database.ts';
import { activateDueKeys, listSigningKeys, purgeRetiredKeys } from '../storage/keys.ts';
import type { Engine } from './provider.ts';

export interface KeyMaintenanceOptions {
  readonly db: Db;
  readonly engine: Engine;
  /** Seconds between two checks (GATEHOUSE_KEY_CHECK_INTERVAL). */
  readonly checkIntervalSeconds: number;
  /** Tells the other instances the keys changed. */
  readonly announce: () => Promise<void>;
  readonly log: FastifyBaseLogger;
}

export class KeyMaintenance {
  readonly #options: KeyMaintenanceOptions;
  #activationTimer: NodeJS.Timeout | undefined;
  #checkTimer: NodeJS.Timeout | undefined;

  constructor(options: KeyMaintenanceOptions) {
    this.#options = options;
  }

  /** Starts the periodic check and arms the timer of the next scheduled activation. */
  async start(): Promise<void> {
    this.#checkTimer = setInterval(() => {
      this.maintain().catch((error: unknown) => logFailure(this.#options.log, error, 'signing key maintenance failed'));
    }, this.#options.checkIntervalSeconds * 1000);
    this.#checkTimer.unref();
    await this.#armActivation();
  }

  /** Activates due rotations, purges retired keys and reloads the keys now. */
  async maintain(): Promise<void> {
    const { db, engine, announce } = this.#options;
    const activated = await activateDueKeys(db);
    const purged = await purgeRetiredKeys(db, engine.retentionMs());
    await this.reload();
    // Tell the others at once rather than at their next check.
    if (activated || purged) await announce();
  }

  /** Reloads the published keys (after another instance changed them). */
  async reload(): Promise<void> {
    const { engine, log } = this.#options;
    if (await engine.reloadKeys()) log.info({ jwks: engine.publishedJwks().keys.map((k) => k.kid) }, 'signing keys changed');
    await this.#armActivation();
  }

  close(): void {
    clearInterval(this.#checkTimer);
    clearTimeout(this.#activationTimer);
  }

  async #armActivation(): Promise<void> {
    const next = (await listSigningKeys(this.#options.db)).filter((k) => k.state === 'next' && k.activatesAt !== null).map((k) => k.activatesAt!);
    clearTimeout(this.#activationTimer);
    if (next.length === 0) return;
    this.#activationTimer = setTimeout(() => {
      this.maintain().catch((error: unknown) => logFailure(this.#options.log, error, 'signing key activation failed'));
    }, Math.max(0, Math.min(...next) - Date.now()) + 10);
    this.#activationTimer.unref();
  }
}
