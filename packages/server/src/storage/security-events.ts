// The outbox of security events (migration 010, docs/adr/0016-shared-signals.md). A change that a
// resource server must hear about records its event here, in the transaction that makes the
// change: the event exists exactly when the change does, and a restart loses neither.
//
// Events are numbered in commit order, so that a stream can be a cursor: `seq` is the next number
// taken under a lock held to the end of the transaction (PostgreSQL: an advisory lock; SQLite has
// one writer anyway). With numbers from a sequence instead, a transaction could commit 10 before
// another commits 9, and a reader that had moved past 10 would never see 9.
import { PostgresAdapter, sql, type Kysely, type Transaction } from 'kysely';
import type { Db } from './database.ts';
import type { Database } from './tables.ts';
import { now } from './rows.ts';

/**
 * What an event is about, in Gatehouse's terms; the transmitter writes it as an RFC 9493 subject
 * identifier. `user` and `client` together name the grants of one user with one client.
 */
export interface EventSubject {
  readonly user?: string;
  readonly client?: string;
  readonly apiKey?: string;
  readonly signingKey?: string;
  readonly stream?: string;
}

export const SECURITY_EVENT_TYPES = [
  'session-revoked',
  'credential-change',
  'account-disabled',
  'account-enabled',
  'token-claims-change',
  'api-key-revoked',
  'client-revoked',
  'signing-key-retired',
  'verification',
  'stream-updated',
] as const;
export type SecurityEventType = (typeof SECURITY_EVENT_TYPES)[number];

export interface SecurityEventInput {
  readonly type: SecurityEventType;
  readonly subject: EventSubject;
  /** The event's own members (e.g. `credential_type`, `change_type`, `claims`, `reason_admin`). */
  readonly payload?: Readonly<Record<string, unknown>>;
  /** For one stream only (verification, stream-updated). */
  readonly streamId?: string;
  readonly occurredAt?: number;
}

export interface SecurityEvent {
  readonly seq: number;
  readonly jti: string;
  readonly type: SecurityEventType;
  readonly subject: EventSubject;
  readonly payload: Readonly<Record<string, unknown>>;
  readonly streamId: string | null;
  readonly occurredAt: number;
}

/** Any number; arbitrary, but the same for every process sharing the database. */
const OUTBOX_LOCK = 0x67617465;

/** Runs `fn` in a transaction: the one `db` is, or a new one. */
export function inTransaction<T>(db: Kysely<Database>, fn: (trx: Kysely<Database>) => Promise<T>): Promise<T> {
  return db.isTransaction ? fn(db) : db.transaction().execute((trx: Transaction<Database>) => fn(trx));
}

/**
 * Records events; call inside the transaction that makes the change they describe. Without any
 * stream nothing is recorded (one read): a stream starts after the events that came before it, so
 * nobody could receive them.
 */
export async function recordSecurityEvents(db: Db, events: readonly SecurityEventInput[]): Promise<void> {
  if (events.length === 0) return;
  await inTransaction(db, async (trx) => {
    if (!(await trx.selectFrom('ssf_streams').select('id').limit(1).executeTakeFirst())) return;
    if (trx.getExecutor().adapter instanceof PostgresAdapter) await sql`select pg_advisory_xact_lock(${OUTBOX_LOCK})`.execute(trx);
    let seq = await latestSeq(trx);
    const at = now();
    await trx
      .insertInto('security_events')
      .values(
        events.map((event) => ({
          seq: ++seq,
          jti: crypto.randomUUID(),
          type: event.type,
          subject: JSON.stringify(event.subject),
          payload: JSON.stringify(event.payload ?? {}),
          stream_id: event.streamId ?? null,
          occurred_at: event.occurredAt ?? at,
        })),
      )
      .execute();
  });
}

/** The number of the last event recorded (0 when none). */
export async function latestSeq(db: Kysely<Database>): Promise<number> {
  const row = await db.selectFrom('security_events').select((eb) => eb.fn.max('seq').as('seq')).executeTakeFirst();
  return Number(row?.seq ?? 0);
}

/** Events after `seq`, in order, that are for every stream or for `streamId`. */
export async function eventsAfter(db: Db, seq: number, streamId: string, limit: number): Promise<SecurityEvent[]> {
  const rows = await db
    .selectFrom('security_events')
    .selectAll()
    .where('seq', '>', seq)
    .where((eb) => eb.or([eb('stream_id', 'is', null), eb('stream_id', '=', streamId)]))
    .orderBy('seq')
    .limit(limit)
    .execute();
  return rows.map((row) => ({
    seq: Number(row.seq),
    jti: row.jti,
    type: row.type as SecurityEventType,
    subject: JSON.parse(row.subject) as EventSubject,
    payload: JSON.parse(row.payload) as Record<string, unknown>,
    streamId: row.stream_id,
    occurredAt: Number(row.occurred_at),
  }));
}

/** How many events after `seq` are for every stream or for `streamId`. */
export async function countEventsAfter(db: Db, seq: number, streamId: string): Promise<number> {
  const row = await db
    .selectFrom('security_events')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('seq', '>', seq)
    .where((eb) => eb.or([eb('stream_id', 'is', null), eb('stream_id', '=', streamId)]))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Deletes events older than `before` (ms), keeping the newest (it numbers the next). */
export async function purgeSecurityEvents(db: Db, before: number): Promise<number> {
  const latest = await latestSeq(db);
  const result = await db.deleteFrom('security_events').where('occurred_at', '<', before).where('seq', '<', latest).executeTakeFirst();
  return Number(result.numDeletedRows);
}
