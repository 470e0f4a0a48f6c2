// Upstream identity providers (docs/adr/0017-upstream-identity-providers.md): the OpenID Connect
// providers (or GitHub) users may sign in with, and which local user each upstream account is.
// A provider's client secret is sealed like the other secrets (sealing.ts). An upstream account
// (provider, its `sub`) is one local user; a user may have several.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('upstream_providers')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    // `oidc` (any OpenID Connect provider, Google included) or `github` (OAuth 2.0 and its API).
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('issuer', 'text', (c) => c.notNull())
    .addColumn('client_id', 'text', (c) => c.notNull())
    .addColumn('client_secret', 'text', (c) => c.notNull())
    .addColumn('scopes', 'text', (c) => c.notNull())
    // The provider's own second factor counts (its ID token's amr says mfa): no TOTP code here after it.
    .addColumn('trust_mfa', 'integer', (c) => c.notNull().defaultTo(0))
    // JSON: roles given to the users it creates, and { claim, map } from an upstream claim (groups) to roles.
    .addColumn('roles', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('role_claim', 'text')
    .addColumn('role_map', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('enabled', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('upstream_identities')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('provider_id', 'text', (c) => c.notNull().references('upstream_providers.id').onDelete('cascade'))
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('email', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('last_used_at', 'bigint')
    .addUniqueConstraint('upstream_identities_subject', ['provider_id', 'subject'])
    .execute();
  await db.schema.createIndex('upstream_identities_user_idx').on('upstream_identities').column('user_id').execute();

  // The administrators' role gets the new scopes (006 says why they are written out here).
  const role = await db.selectFrom('roles').select('id').where('name', '=', 'gatehouse-admin').executeTakeFirst();
  if (role) {
    await db
      .insertInto('role_scopes')
      .values(['admin:providers:read', 'admin:providers:write'].map((scope) => ({ role_id: role.id, scope })))
      .execute();
  }
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.deleteFrom('role_scopes').where('scope', 'in', ['admin:providers:read', 'admin:providers:write']).execute();
  await db.schema.dropTable('upstream_identities').ifExists().execute();
  await db.schema.dropTable('upstream_providers').ifExists().execute();
}
