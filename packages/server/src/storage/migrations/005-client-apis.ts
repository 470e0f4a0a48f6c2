// Which APIs each client may get tokens for, and what kind of application it is.
//
// Until now any client could ask for a token for any API (`resource=`), with the scopes it held
// there: often none, which still passes routes that only need a valid token. A client now gets
// tokens only for the APIs listed for it (docs/adr/0008-client-api-grants.md).
//
// Existing clients keep what they could actually use: each is granted every API that defines at
// least one of the scopes it holds. A client holding no scope of an API loses it (grant it with
// `gatehouse clients update <id> --api <identifier>` or the admin API); so does an API with no
// scopes at all, which no client could be told apart for.
//
// application_type (OpenID Connect Registration §2): `native` apps may use any port on a loopback
// redirect URI (RFC 8252 §7.3). Public clients registered with a private-use URI scheme, which
// oidc-provider refused for web clients anyway, become native.
import { sql, type Kysely } from 'kysely';

interface ClientRow {
  id: string;
  type: string;
  scopes: string;
  redirect_uris: string;
}

const list = (text: string): string[] => {
  try {
    const value = JSON.parse(text) as unknown;
    return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
  } catch {
    return [];
  }
};

const isWebUri = (uri: string): boolean => /^https?:/i.test(uri);

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('client_apis')
    .addColumn('client_id', 'text', (c) => c.notNull().references('clients.id').onDelete('cascade'))
    .addColumn('api_id', 'text', (c) => c.notNull().references('apis.id').onDelete('cascade'))
    .addPrimaryKeyConstraint('client_apis_pkey', ['client_id', 'api_id'])
    .execute();
  await db.schema.createIndex('client_apis_api_idx').on('client_apis').column('api_id').execute();

  await db.schema
    .alterTable('clients')
    .addColumn('application_type', 'text', (c) => c.notNull().defaultTo('web').check(sql`application_type in ('web', 'native')`))
    .execute();

  const clients = (await db.selectFrom('clients').select(['id', 'type', 'scopes', 'redirect_uris']).execute()) as ClientRow[];
  const apiScopes = (await db.selectFrom('api_scopes').select(['api_id', 'name']).execute()) as { api_id: string; name: string }[];
  const grants: { client_id: string; api_id: string }[] = [];
  for (const client of clients) {
    const held = new Set(list(client.scopes));
    const apis = new Set(apiScopes.filter((s) => held.has(s.name)).map((s) => s.api_id));
    for (const api of apis) grants.push({ client_id: client.id, api_id: api });
    if (client.type === 'public' && list(client.redirect_uris).some((uri) => !isWebUri(uri))) {
      await db.updateTable('clients').set({ application_type: 'native' }).where('id', '=', client.id).execute();
    }
  }
  // In slices: SQLite takes at most 32766 bound values per statement.
  for (let i = 0; i < grants.length; i += 500) {
    await db.insertInto('client_apis').values(grants.slice(i, i + 500)).execute();
  }
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('clients').dropColumn('application_type').execute();
  await db.schema.dropTable('client_apis').ifExists().execute();
}
