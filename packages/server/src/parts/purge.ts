// Expired codes, sessions, reuse records and token records only take space: swept on a timer, with
// self-registered clients nobody used (ADR 0011), security events past their retention and poll
// streams nobody polls any more (ADR 0016).
import type { FastifyBaseLogger } from 'fastify';
import { purgeExpired } from '../engine/oidc-adapter.ts';
import { purgeExpiredAccessTokens } from '../storage/access-tokens.ts';
import { purgeExpiredAccountTokens } from '../storage/account-tokens.ts';
import { deleteUnusedDynamicClients } from '../storage/clients.ts';
import type { Db } from '../storage/database.ts';
import { purgeSecurityEvents } from '../storage/security-events.ts';
import { deleteAbandonedStreams } from '../storage/streams.ts';

/** Security events are kept a week for streams that lag (docs/adr/0016-shared-signals.md). */
export const SECURITY_EVENT_RETENTION_MS = 7 * 24 * 60 * 60 * 1000;
/** A poll stream nobody polled for a day has lost its receiver (a process that died without deleting it). */
export const ABANDONED_STREAM_MS = 24 * 60 * 60 * 1000;

const PURGE_EVERY_MS = 10 * 60 * 1000;

export class ExpiredRecordsPurge {
  readonly #db: Db;
  readonly #log: FastifyBaseLogger;
  readonly #dynamicClientTtlMs: number;
  #timer: NodeJS.Timeout | undefined;

  constructor(db: Db, log: FastifyBaseLogger, dynamicClientTtlSeconds: number) {
    this.#db = db;
    this.#log = log;
    this.#dynamicClientTtlMs = dynamicClientTtlSeconds * 1000;
  }

  start(): void {
    this.#timer = setInterval(() => {
      const db = this.#db;
      Promise.all([
        purgeExpired(db),
        purgeExpiredAccessTokens(db),
        purgeExpiredAccountTokens(db),
        deleteUnusedDynamicClients(db, Date.now() - this.#dynamicClientTtlMs),
        purgeSecurityEvents(db, Date.now() - SECURITY_EVENT_RETENTION_MS),
        deleteAbandonedStreams(db, Date.now() - ABANDONED_STREAM_MS),
      ]).catch((error: unknown) =>
        this.#log.warn({ err: error }, 'purging expired records failed'),
      );
    }, PURGE_EVERY_MS);
    this.#timer.unref();
  }

  close(): void {
    clearInterval(this.#timer);
  }
}
