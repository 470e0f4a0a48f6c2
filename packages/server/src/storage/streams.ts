// Shared Signals streams (migration 010, docs/adr/0016-shared-signals.md): one per receiver that
// asked for one, each a cursor into the security events (security-events.ts). The Authorization
// header a push receiver wants sent is a secret: sealed like the others.
import { GatehouseError } from '../errors.ts';
import type { Db } from './database.ts';
import { latestSeq, recordSecurityEvents } from './security-events.ts';
import { iso, now, pageBounds, type Page, type PageRequest } from './rows.ts';
import { SEALED_CONTEXTS, seal, unseal } from './sealing.ts';

export type DeliveryMethod = 'push' | 'poll';
export type StreamStatus = 'enabled' | 'paused' | 'disabled';

export interface Stream {
  readonly id: string;
  /** The receiver: the client that created the stream. */
  readonly clientId: string;
  readonly description: string | null;
  readonly deliveryMethod: DeliveryMethod;
  /** Push: where events are sent. Poll: null (the transmitter's poll URL is derived from the id). */
  readonly endpointUrl: string | null;
  readonly eventsRequested: readonly string[];
  readonly status: StreamStatus;
  readonly statusReason: string | null;
  /** The last event delivered (push) or acknowledged (poll). */
  readonly cursor: number;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly lastDeliveryAt: string | null;
  readonly lastPollAt: string | null;
  /** Consecutive failed pushes; the next attempt is not before `nextAttemptAt`. */
  readonly failures: number;
  readonly nextAttemptAt: number | null;
  readonly lastError: string | null;
}

export interface NewStream {
  readonly clientId: string;
  readonly description?: string | undefined;
  readonly deliveryMethod: DeliveryMethod;
  readonly endpointUrl?: string | undefined;
  readonly authorizationHeader?: string | undefined;
  readonly eventsRequested: readonly string[];
}

const authorizationContext = SEALED_CONTEXTS.streamAuthorization;

type Row = Awaited<ReturnType<typeof selectStream>>;
function selectStream(db: Db, id: string) {
  return db.selectFrom('ssf_streams').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
}

function toStream(row: Row): Stream {
  const at = (value: number | string | null) => (value === null ? null : Number(value));
  return {
    id: row.id,
    clientId: row.client_id,
    description: row.description,
    deliveryMethod: row.delivery_method as DeliveryMethod,
    endpointUrl: row.endpoint_url,
    eventsRequested: JSON.parse(row.events_requested) as string[],
    status: row.status as StreamStatus,
    statusReason: row.status_reason,
    cursor: Number(row.cursor),
    createdAt: iso(Number(row.created_at))!,
    updatedAt: iso(Number(row.updated_at))!,
    lastDeliveryAt: iso(at(row.last_delivery_at)),
    lastPollAt: iso(at(row.last_poll_at)),
    failures: Number(row.failures),
    nextAttemptAt: at(row.next_attempt_at),
    lastError: row.last_error,
  };
}

/** Streams one receiver may have: each is looked at every check, so a client cannot make them without end. */
export const MAX_STREAMS_PER_CLIENT = 20;

/** A new stream starts after the events recorded so far: a receiver hears of what happens next. */
export async function createStream(db: Db, input: NewStream): Promise<Stream> {
  const id = crypto.randomUUID();
  const at = now();
  const header = input.authorizationHeader === undefined ? null : await seal(db, authorizationContext(id), input.authorizationHeader);
  await db.transaction().execute(async (trx) => {
    const { n } = await trx
      .selectFrom('ssf_streams')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('client_id', '=', input.clientId)
      .executeTakeFirstOrThrow();
    if (Number(n) >= MAX_STREAMS_PER_CLIENT) {
      throw new GatehouseError('conflict', `client ${input.clientId} has ${MAX_STREAMS_PER_CLIENT} streams already: delete one it no longer uses`);
    }
    await trx
      .insertInto('ssf_streams')
      .values({
        id,
        client_id: input.clientId,
        description: input.description ?? null,
        delivery_method: input.deliveryMethod,
        endpoint_url: input.endpointUrl ?? null,
        authorization_header: header,
        events_requested: JSON.stringify(input.eventsRequested),
        status: 'enabled',
        status_reason: null,
        cursor: await latestSeq(trx),
        created_at: at,
        updated_at: at,
        last_delivery_at: null,
        last_poll_at: null,
        next_attempt_at: null,
        last_error: null,
        lease_owner: null,
        lease_until: null,
      })
      .execute();
  });
  return toStream(await selectStream(db, id));
}

export async function findStream(db: Db, id: string): Promise<Stream | undefined> {
  const row = await db.selectFrom('ssf_streams').selectAll().where('id', '=', id).executeTakeFirst();
  return row ? toStream(row) : undefined;
}

export async function requireStream(db: Db, id: string): Promise<Stream> {
  const stream = await findStream(db, id);
  if (!stream) throw new GatehouseError('not_found', `no stream ${id}`);
  return stream;
}

/** The Authorization header a push receiver asked for, opened; undefined when it gave none. */
export async function streamAuthorization(db: Db, id: string): Promise<string | undefined> {
  const row = await db.selectFrom('ssf_streams').select('authorization_header').where('id', '=', id).executeTakeFirst();
  if (!row?.authorization_header) return undefined;
  return unseal(db, authorizationContext(id), row.authorization_header, `stream ${id}'s authorization header`);
}

export async function listStreams(db: Db, filter: PageRequest & { readonly clientId?: string } = {}): Promise<Page<Stream>> {
  const { limit, offset } = pageBounds(filter);
  let query = db.selectFrom('ssf_streams');
  if (filter.clientId !== undefined) query = query.where('client_id', '=', filter.clientId);
  const { total } = await query.select((eb) => eb.fn.countAll<number>().as('total')).executeTakeFirstOrThrow();
  const rows = await query.selectAll().orderBy('created_at').orderBy('id').limit(limit).offset(offset).execute();
  return { items: rows.map(toStream), total: Number(total), limit, offset };
}

/** Every stream with events to deliver by push now. */
export async function pushStreamsDue(db: Db, latest: number, at = now()): Promise<Stream[]> {
  const rows = await db
    .selectFrom('ssf_streams')
    .selectAll()
    .where('delivery_method', '=', 'push')
    .where('status', '=', 'enabled')
    .where('cursor', '<', latest)
    .where((eb) => eb.or([eb('next_attempt_at', 'is', null), eb('next_attempt_at', '<=', at)]))
    .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', at)]))
    .execute();
  return rows.map(toStream);
}

export interface StreamChanges {
  readonly description?: string | null;
  readonly endpointUrl?: string;
  readonly authorizationHeader?: string | null;
  readonly eventsRequested?: readonly string[];
}

export async function updateStream(db: Db, id: string, changes: StreamChanges): Promise<Stream> {
  const values: Record<string, unknown> = { updated_at: now() };
  if (changes.description !== undefined) values.description = changes.description;
  if (changes.endpointUrl !== undefined) values.endpoint_url = changes.endpointUrl;
  if (changes.eventsRequested !== undefined) values.events_requested = JSON.stringify(changes.eventsRequested);
  if (changes.authorizationHeader !== undefined) {
    values.authorization_header = changes.authorizationHeader === null ? null : await seal(db, authorizationContext(id), changes.authorizationHeader);
  }
  const result = await db.updateTable('ssf_streams').set(values).where('id', '=', id).executeTakeFirst();
  if (Number(result.numUpdatedRows) !== 1) throw new GatehouseError('not_found', `no stream ${id}`);
  return requireStream(db, id);
}

/**
 * Changes the status. Enabling a disabled stream starts it after the events recorded so far (SSF
 * §8.1.2.1: a disabled stream's events are not kept for it); a paused one keeps its place. The
 * receiver is told by an SSF stream-updated event, recorded with the change.
 */
export async function setStreamStatus(db: Db, id: string, status: StreamStatus, reason: string | null): Promise<Stream> {
  await db.transaction().execute(async (trx) => {
    const row = await trx.selectFrom('ssf_streams').select('status').where('id', '=', id).executeTakeFirst();
    if (!row) throw new GatehouseError('not_found', `no stream ${id}`);
    const skipAhead = status !== 'disabled' && row.status === 'disabled';
    await trx
      .updateTable('ssf_streams')
      .set({
        status,
        status_reason: reason,
        updated_at: now(),
        failures: 0,
        next_attempt_at: null,
        ...(skipAhead ? { cursor: await latestSeq(trx) } : {}),
      })
      .where('id', '=', id)
      .execute();
    await recordSecurityEvents(trx, [{ type: 'stream-updated', subject: { stream: id }, streamId: id, payload: { status, ...(reason ? { reason } : {}) } }]);
  });
  return requireStream(db, id);
}

export async function deleteStream(db: Db, id: string): Promise<void> {
  const result = await db.deleteFrom('ssf_streams').where('id', '=', id).executeTakeFirst();
  if (Number(result.numDeletedRows) !== 1) throw new GatehouseError('not_found', `no stream ${id}`);
}

/**
 * Takes the right to push a stream until `until`, if no other instance holds it: one conditional
 * UPDATE, so two instances never push the same stream at once.
 */
export async function leaseStream(db: Db, id: string, owner: string, until: number, at = now()): Promise<boolean> {
  const result = await db
    .updateTable('ssf_streams')
    .set({ lease_owner: owner, lease_until: until })
    .where('id', '=', id)
    .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', at), eb('lease_owner', '=', owner)]))
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

export async function releaseStream(db: Db, id: string, owner: string): Promise<void> {
  await db.updateTable('ssf_streams').set({ lease_owner: null, lease_until: null }).where('id', '=', id).where('lease_owner', '=', owner).execute();
}

/**
 * Moves a stream's cursor from `from` to `to` after a delivery, if nobody moved it meanwhile;
 * false when someone did (the caller's view was stale: nothing is lost, the events are sent again).
 */
export async function advanceCursor(db: Db, id: string, from: number, to: number, what: 'push' | 'poll'): Promise<boolean> {
  const at = now();
  const result = await db
    .updateTable('ssf_streams')
    .set({
      cursor: to,
      ...(what === 'push' ? { last_delivery_at: at, failures: 0, next_attempt_at: null, last_error: null } : { last_poll_at: at, last_delivery_at: at }),
    })
    .where('id', '=', id)
    .where('cursor', '=', from)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

export async function recordPoll(db: Db, id: string): Promise<void> {
  await db.updateTable('ssf_streams').set({ last_poll_at: now() }).where('id', '=', id).execute();
}

/** A failed push: counted, the error kept (never a secret: a status or a network error's code), the next try later. */
export async function recordPushFailure(db: Db, id: string, error: string, nextAttemptAt: number): Promise<void> {
  await db
    .updateTable('ssf_streams')
    .set((eb) => ({ failures: eb('failures', '+', 1), last_error: error.slice(0, 200), next_attempt_at: nextAttemptAt }))
    .where('id', '=', id)
    .execute();
}

/** Poll streams nobody has polled since `before`: their receiver is gone. */
export async function deleteAbandonedStreams(db: Db, before: number): Promise<number> {
  const result = await db
    .deleteFrom('ssf_streams')
    .where('delivery_method', '=', 'poll')
    .where((eb) => eb.or([eb('last_poll_at', '<', before), eb.and([eb('last_poll_at', 'is', null), eb('created_at', '<', before)])]))
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}
