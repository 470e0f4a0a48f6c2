// Dynamic client registration (RFC 7591) for MCP clients: docs/adr/0011-dynamic-client-registration.md.
//
// `apis.open_to_dynamic_clients`: a dynamically registered client reaches the APIs an operator
// opened to such clients, decided at each token request, with every scope they define (the user's
// roles still decide what a token carries). `clients.registered_dynamically`: marks those clients,
// for that rule and for the admin API. Both default to 0: nothing changes for
// existing APIs and clients.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('apis').addColumn('open_to_dynamic_clients', 'integer', (c) => c.notNull().defaultTo(0)).execute();
  await db.schema.alterTable('clients').addColumn('registered_dynamically', 'integer', (c) => c.notNull().defaultTo(0)).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('clients').dropColumn('registered_dynamically').execute();
  await db.schema.alterTable('apis').dropColumn('open_to_dynamic_clients').execute();
}
