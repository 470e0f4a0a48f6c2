// API keys, the audit log, and what revoking JWT access tokens needs.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('api_keys')
    // The public part of the key (its id, also shown in listings); the secret part is hashed.
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('secret_hash', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('owner_kind', 'text', (c) => c.notNull().check(sql`owner_kind in ('user', 'client')`))
    .addColumn('user_id', 'text', (c) => c.references('users.id').onDelete('cascade'))
    .addColumn('client_id', 'text', (c) => c.references('clients.id').onDelete('cascade'))
    .addColumn('api_id', 'text', (c) => c.notNull().references('apis.id').onDelete('cascade'))
    .addColumn('scopes', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint')
    .addColumn('last_used_at', 'bigint')
    .addColumn('revoked_at', 'bigint')
    .addCheckConstraint('api_keys_owner_check', sql`(owner_kind = 'user' and user_id is not null and client_id is null) or (owner_kind = 'client' and client_id is not null and user_id is null)`)
    .execute();
  await db.schema.createIndex('api_keys_user_idx').on('api_keys').column('user_id').execute();
  await db.schema.createIndex('api_keys_client_idx').on('api_keys').column('client_id').execute();

  await db.schema
    .createTable('audit_events')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('at', 'bigint', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('outcome', 'text', (c) => c.notNull().check(sql`outcome in ('success', 'failure')`))
    .addColumn('actor_kind', 'text', (c) => c.notNull())
    .addColumn('actor_id', 'text')
    .addColumn('target_kind', 'text')
    .addColumn('target_id', 'text')
    .addColumn('ip', 'text')
    .addColumn('details', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('audit_events_at_idx').on('audit_events').column('at').execute();
  await db.schema.createIndex('audit_events_actor_idx').on('audit_events').columns(['actor_id', 'at']).execute();
  await db.schema.createIndex('audit_events_type_idx').on('audit_events').columns(['type', 'at']).execute();

  // What a JWT access token was issued under, recorded at issuance (oidc-provider keeps no JWT),
  // so that introspection can answer active:false once its grant, user or client is revoked.
  await db.schema
    .createTable('access_tokens')
    .addColumn('jti_hash', 'text', (c) => c.primaryKey())
    .addColumn('grant_id', 'text')
    .addColumn('account_id', 'text')
    .addColumn('client_id', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('revoked_at', 'bigint')
    .execute();
  await db.schema.createIndex('access_tokens_expires_idx').on('access_tokens').column('expires_at').execute();

  // A revoked client stays (its API keys and audit trail keep their references) but is refused.
  await db.schema.alterTable('clients').addColumn('revoked_at', 'bigint').execute();

  // Signing keys: when a `next` key becomes active (published first, used later).
  await db.schema.alterTable('signing_keys').addColumn('activates_at', 'bigint').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('signing_keys').dropColumn('activates_at').execute();
  await db.schema.alterTable('clients').dropColumn('revoked_at').execute();
  await db.schema.dropTable('access_tokens').ifExists().execute();
  await db.schema.dropTable('audit_events').ifExists().execute();
  await db.schema.dropTable('api_keys').ifExists().execute();
}
