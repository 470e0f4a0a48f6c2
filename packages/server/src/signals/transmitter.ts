// The Shared Signals transmitter (docs/adr/0016-shared-signals.md): turns the recorded security
// events into signed SETs for each stream, pushes them (RFC 8935) or hands them out when polled
// (RFC 8936).
//
// Every instance runs one. A short periodic check notices new events, whichever instance or CLI
// recorded them (one indexed `max(seq)`), wakes the polls waiting for them and pushes to the push
// streams; a stream is pushed by one instance at a time (a lease on its row), in order, each event
// at least once: the cursor moves after the receiver accepted it, so an instance dying mid-push
// leaves the event to be pushed again by whoever comes next (the receiver keeps jtis it has seen).
import type { FastifyBaseLogger } from 'fastify';
import { importJWK, SignJWT, type JWK } from 'jose';
import { eventsAfter, latestSeq, recordSecurityEvents, type SecurityEvent } from '../storage/security-events.ts';
import {
  advanceCursor,
  leaseStream,
  pushStreamsDue,
  recordPoll,
  recordPushFailure,
  releaseStream,
  streamAuthorization,
  type Stream,
} from '../storage/streams.ts';
import type { Db } from '../storage/database.ts';
import { isWanted, securityEventClaims } from './set.ts';

/** The key SETs are signed with: the active ES256 signing key (the one in the JWKS). */
export type SigningKeySource = () => { readonly kid: string; readonly privateJwk: JWK };

export interface TransmitterOptions {
  readonly db: Db;
  readonly issuer: string;
  readonly signingKey: SigningKeySource;
  readonly log: FastifyBaseLogger;
  /** How often new events are looked for (ms). */
  readonly checkIntervalMs?: number;
  /** How long one push may take before it counts as failed (ms). */
  readonly pushTimeoutMs?: number;
  /** How long a poll without events is held open when the receiver asked to wait (ms). */
  readonly pollHoldMs?: number;
  readonly fetch?: typeof fetch;
}

export interface PollRequest {
  readonly ack: readonly string[];
  /** jti → error the receiver found in that SET: it is not sent again. */
  readonly setErrs: ReadonlySet<string>;
  readonly maxEvents: number;
  readonly returnImmediately: boolean;
}

export interface PollAnswer {
  readonly sets: Record<string, string>;
  readonly moreAvailable: boolean;
}

const BATCH = 100;
const MAX_BACKOFF_MS = 5 * 60_000;

export class Transmitter {
  readonly #options: Required<Omit<TransmitterOptions, 'fetch'>> & { fetch: typeof fetch };
  /** Names this process in the lease (operators and tests can tell which instance pushes a stream). */
  readonly #owner = `${process.pid}:${crypto.randomUUID()}`;
  readonly #waiters = new Set<() => void>();
  #latest = 0;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #closed = false;
  #key: { kid: string; key: CryptoKey | Uint8Array } | undefined;

  constructor(options: TransmitterOptions) {
    this.#options = {
      checkIntervalMs: 250,
      pushTimeoutMs: 5_000,
      pollHoldMs: 10_000,
      fetch: globalThis.fetch,
      ...options,
    };
  }

  async start(): Promise<void> {
    this.#latest = await latestSeq(this.#options.db);
    this.#schedule();
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    for (const wake of this.#waiters) wake();
    await this.#running;
  }

  /** Looks for new events now (after recording one here, say) instead of at the next check. */
  check(): Promise<void> {
    this.#running ??= this.#tick().finally(() => (this.#running = undefined));
    return this.#running;
  }

  #schedule(): void {
    if (this.#closed) return;
    this.#timer = setTimeout(() => {
      this.check().finally(() => this.#schedule());
    }, this.#options.checkIntervalMs);
    this.#timer.unref();
  }

  async #tick(): Promise<void> {
    try {
      const latest = await latestSeq(this.#options.db);
      if (latest !== this.#latest) {
        this.#latest = latest;
        for (const wake of this.#waiters) wake();
      }
      for (const stream of await pushStreamsDue(this.#options.db, latest)) {
        if (this.#closed) return;
        await this.#push(stream, latest);
      }
    } catch (error) {
      this.#options.log.warn({ err: error }, 'Shared Signals: looking for events to deliver failed; trying again at the next check');
    }
  }

  /** Pushes a stream's pending events in order, while it holds the stream's lease. */
  async #push(stream: Stream, latest: number): Promise<void> {
    const { db, log } = this.#options;
    // The lease outlives one push; renewed before each, so a dead instance holds a stream at most this long.
    const lease = () => leaseStream(db, stream.id, this.#owner, Date.now() + 2 * this.#options.pushTimeoutMs + 1000);
    if (!(await lease())) return;
    try {
      const requested = new Set(stream.eventsRequested);
      const authorization = await streamAuthorization(db, stream.id);
      let cursor = stream.cursor;
      for (;;) {
        const events = await eventsAfter(db, cursor, stream.id, BATCH);
        if (events.length === 0) {
          // What is left up to `latest` is other streams' own events (a verification): pass them.
          if (cursor < latest) await advanceCursor(db, stream.id, cursor, latest, 'push');
          return;
        }
        for (const event of events) {
          if (this.#closed) return;
          if (isWanted(event, requested)) {
            if (!(await lease())) return;
            const outcome = await this.#send(stream, event, authorization);
            if (outcome === 'retry') return;
          }
          // Someone moved the cursor meanwhile (an operator disabled and enabled the stream): stop.
          if (!(await advanceCursor(db, stream.id, cursor, event.seq, 'push'))) return;
          cursor = event.seq;
        }
      }
    } catch (error) {
      log.warn({ err: error, stream: stream.id }, 'Shared Signals: pushing a stream failed; trying again at the next check');
    } finally {
      await releaseStream(db, stream.id, this.#owner).catch(() => {});
    }
  }

  /** One SET to a push receiver: 'sent', 'rejected' (the receiver refused this SET: not sent again) or 'retry'. */
  async #send(stream: Stream, event: SecurityEvent, authorization: string | undefined): Promise<'sent' | 'rejected' | 'retry'> {
    const { db, log, pushTimeoutMs } = this.#options;
    const set = await this.sign(event, stream.clientId);
    let failure: string;
    try {
      const response = await this.#options.fetch(stream.endpointUrl!, {
        method: 'POST',
        headers: { 'content-type': 'application/secevent+jwt', accept: 'application/json', ...(authorization ? { authorization } : {}) },
        body: set,
        redirect: 'manual',
        signal: AbortSignal.timeout(pushTimeoutMs),
      });
      const body = await response.text().catch(() => '');
      if (response.status === 202 || response.status === 200 || response.status === 204) return 'sent';
      if (response.status === 400) {
        // RFC 8935 §2.3: the receiver says this SET is wrong (`err`); sending it again would not help.
        log.warn({ stream: stream.id, jti: event.jti, err: errCode(body) }, 'Shared Signals: the receiver refused a security event');
        return 'rejected';
      }
      failure = `HTTP ${response.status}`;
    } catch (error) {
      failure = error instanceof Error ? `${error.name}: ${(error.cause as { code?: string } | undefined)?.code ?? error.message}` : 'failed';
    }
    // Exponential backoff from 1 s to 5 minutes; the stream keeps its place.
    const delay = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** Math.min(stream.failures, 20));
    await recordPushFailure(db, stream.id, failure, Date.now() + delay);
    log.warn({ stream: stream.id, failure, retryInMs: delay }, 'Shared Signals: push failed; the stream is retried later');
    return 'retry';
  }

  /**
   * RFC 8936: acknowledges what the receiver acknowledged (moving the cursor over the leading
   * acknowledged events), then answers the pending events, waiting for some when asked to.
   */
  async poll(stream: Stream, request: PollRequest): Promise<PollAnswer> {
    const { db } = this.#options;
    const requested = new Set(stream.eventsRequested);
    const done = new Set([...request.ack, ...request.setErrs]);
    let cursor = stream.cursor;
    const deadline = Date.now() + this.#options.pollHoldMs;
    await recordPoll(db, stream.id);
    for (;;) {
      const events = await eventsAfter(db, cursor, stream.id, BATCH + request.maxEvents);
      let moved = cursor;
      for (const event of events) {
        if (done.has(event.jti) || !isWanted(event, requested)) moved = event.seq;
        else break;
      }
      if (moved !== cursor) {
        // Lost to a concurrent poll of the same stream: read the stream's place again.
        if (!(await advanceCursor(db, stream.id, cursor, moved, 'poll'))) return { sets: {}, moreAvailable: true };
        cursor = moved;
      }
      const pending = events.filter((event) => event.seq > cursor && isWanted(event, requested) && !done.has(event.jti));
      if (pending.length > 0 || request.returnImmediately || stream.status !== 'enabled' || Date.now() >= deadline || this.#closed) {
        const sets: Record<string, string> = {};
        if (stream.status === 'enabled') {
          for (const event of pending.slice(0, request.maxEvents)) sets[event.jti] = await this.sign(event, stream.clientId);
        }
        return { sets, moreAvailable: stream.status === 'enabled' && pending.length > request.maxEvents };
      }
      await this.#nextEvents(deadline - Date.now());
    }
  }

  /** SSF §8.1.4: a verification event for this stream, with the receiver's `state`. */
  async verify(stream: Stream, state: string | undefined): Promise<void> {
    await recordSecurityEvents(this.#options.db, [
      { type: 'verification', subject: { stream: stream.id }, streamId: stream.id, payload: state === undefined ? {} : { state } },
    ]);
    void this.check();
  }

  /** The SET for `event`, for the receiver `audience`: `typ` secevent+jwt, signed with the active ES256 key. */
  async sign(event: SecurityEvent, audience: string): Promise<string> {
    const source = this.#options.signingKey();
    if (this.#key?.kid !== source.kid) this.#key = { kid: source.kid, key: await importJWK(source.privateJwk, 'ES256') };
    return new SignJWT(securityEventClaims(event, this.#options.issuer, audience))
      .setProtectedHeader({ alg: 'ES256', kid: source.kid, typ: 'secevent+jwt' })
      .sign(this.#key.key);
  }

  /** Resolves at the next check that finds new events, or after `ms`. */
  #nextEvents(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      this.#waiters.add(done);
    });
  }
}

/** The `err` of an RFC 8935 error body, if it is one (never more of the body). */
function errCode(body: string): string | undefined {
  try {
    const err = (JSON.parse(body) as { err?: unknown }).err;
    return typeof err === 'string' && /^[a-z_]{1,64}$/.test(err) ? err : undefined;
  } catch {
    return undefined;
  }
}
