// The first administrator's role: `gatehouse-admin`, granting every admin scope, so that
// `gatehouse users create <name> --roles gatehouse-admin` is the whole bootstrap of the admin
// console and the admin API (docs/adr/0010-admin-console.md). A role of that name that exists
// already is left as it is: it was made by an operator, who decides what it grants.
//
// The scopes are written out here, not imported: a migration applies what it said when it was
// written. A later admin scope is added to this role by the migration that introduces it.
import type { Kysely } from 'kysely';

export const ADMIN_ROLE = 'gatehouse-admin';

const SCOPES = [
  'admin:users:read',
  'admin:users:write',
  'admin:roles:read',
  'admin:roles:write',
  'admin:apis:read',
  'admin:apis:write',
  'admin:clients:read',
  'admin:clients:write',
  'admin:api-keys:read',
  'admin:api-keys:write',
  'admin:keys:read',
  'admin:keys:write',
  'admin:audit:read',
];

export async function up(db: Kysely<any>): Promise<void> {
  const existing = await db.selectFrom('roles').select('id').where('name', '=', ADMIN_ROLE).executeTakeFirst();
  if (existing) return;
  const id = crypto.randomUUID();
  await db
    .insertInto('roles')
    .values({ id, name: ADMIN_ROLE, description: 'Administrators: every admin scope (the admin console and the admin API).', created_at: Date.now() })
    .execute();
  await db.insertInto('role_scopes').values(SCOPES.map((scope) => ({ role_id: id, scope }))).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  const role = db.selectFrom('roles').select('id').where('name', '=', ADMIN_ROLE);
  await db.deleteFrom('user_roles').where('role_id', 'in', role).execute();
  await db.deleteFrom('role_scopes').where('role_id', 'in', role).execute();
  await db.deleteFrom('roles').where('name', '=', ADMIN_ROLE).execute();
}
