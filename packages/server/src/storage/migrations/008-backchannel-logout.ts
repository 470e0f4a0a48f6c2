// OpenID Connect Back-Channel Logout 1.0 (docs/adr/0013-back-channel-logout.md).
//
// `clients.backchannel_logout_uri`: where the server POSTs a logout token when a user's session
// that this client took part in ends; null (the default) sends nothing. `backchannel_logout_session_required`
// (§2.4): 1 (the default) puts `sid` in the client's ID tokens and logout tokens. Existing
// clients get no URI: nothing changes for them.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('clients').addColumn('backchannel_logout_uri', 'text').execute();
  await db.schema.alterTable('clients').addColumn('backchannel_logout_session_required', 'integer', (c) => c.notNull().defaultTo(1)).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('clients').dropColumn('backchannel_logout_session_required').execute();
  await db.schema.alterTable('clients').dropColumn('backchannel_logout_uri').execute();
}
