// Shared Signals (docs/adr/0016-shared-signals.md): the security events the server transmits, and
// the streams of the receivers that asked for them.
//
// `security_events` is an outbox: a change that matters to resource servers (a user disabled, a
// password set, an API key revoked…) writes its event in the same transaction as the change, so an
// event exists exactly when its change does and survives any restart. Events are numbered in
// commit order (`seq`, given under a lock by the writer); a stream is a cursor into that list.
// An event with a `stream_id` (a verification, a stream-updated) is for that stream only.
//
// `ssf_streams` holds one receiver's stream: how it is delivered (push to its URL, with the
// Authorization header it gave, sealed; or polled), which event types it wants, its status, the
// last event it has been given (`cursor`), and the delivery lease that keeps two instances from
// pushing one stream at once.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('security_events')
    .addColumn('seq', 'bigint', (c) => c.primaryKey())
    .addColumn('jti', 'text', (c) => c.notNull().unique())
    .addColumn('type', 'text', (c) => c.notNull())
    // JSON: the RFC 9493 subject identifier.
    .addColumn('subject', 'text', (c) => c.notNull())
    // JSON: the event's own members (CAEP/RISC/SSF), without event_timestamp.
    .addColumn('payload', 'text', (c) => c.notNull())
    .addColumn('stream_id', 'text')
    .addColumn('occurred_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('security_events_occurred_idx').on('security_events').column('occurred_at').execute();

  await db.schema
    .createTable('ssf_streams')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('client_id', 'text', (c) => c.notNull())
    .addColumn('description', 'text')
    .addColumn('delivery_method', 'text', (c) => c.notNull())
    .addColumn('endpoint_url', 'text')
    .addColumn('authorization_header', 'text')
    // JSON array of event type URIs.
    .addColumn('events_requested', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('status_reason', 'text')
    .addColumn('cursor', 'bigint', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addColumn('last_delivery_at', 'bigint')
    .addColumn('last_poll_at', 'bigint')
    .addColumn('failures', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('next_attempt_at', 'bigint')
    .addColumn('last_error', 'text')
    .addColumn('lease_owner', 'text')
    .addColumn('lease_until', 'bigint')
    .execute();
  await db.schema.createIndex('ssf_streams_client_idx').on('ssf_streams').column('client_id').execute();

  // The administrators' role gets the new scopes (006 says why they are written out here).
  const role = await db.selectFrom('roles').select('id').where('name', '=', 'gatehouse-admin').executeTakeFirst();
  if (role) {
    await db
      .insertInto('role_scopes')
      .values(['admin:streams:read', 'admin:streams:write'].map((scope) => ({ role_id: role.id, scope })))
      .execute();
  }
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.deleteFrom('role_scopes').where('scope', 'in', ['admin:streams:read', 'admin:streams:write']).execute();
  await db.schema.dropTable('ssf_streams').ifExists().execute();
  await db.schema.dropTable('security_events').ifExists().execute();
}
