// Roles: a name and the scopes it grants. Users get scopes only through roles.
import { inTransaction, recordSecurityEvents } from './security-events.ts';
import { GatehouseError, isUniqueViolation } from '../errors.ts';
import type { Db } from './database.ts';
import { iso, now, pageBounds, type Page, type PageRequest } from './rows.ts';
import * as validate from './validate.ts';

export interface Role {
  readonly id: string;
  readonly name: string;
  readonly description: string | null;
  readonly scopes: readonly string[];
  readonly createdAt: string;
}

export interface NewRole {
  readonly name: string;
  readonly scopes: string | readonly string[];
  readonly description?: string | undefined;
}

export async function createRole(db: Db, input: NewRole): Promise<Role> {
  const name = validate.name(input.name);
  const scopes = validate.scopes(input.scopes);
  const description = input.description === undefined ? null : validate.displayName(input.description, 'description');
  const role = { id: crypto.randomUUID(), name, description, created_at: now() };
  try {
    await db.transaction().execute(async (trx) => {
      await trx.insertInto('roles').values(role).execute();
      if (scopes.length > 0) {
        await trx.insertInto('role_scopes').values(scopes.map((scope) => ({ role_id: role.id, scope }))).execute();
      }
    });
  } catch (error) {
    if (isUniqueViolation(error)) throw new GatehouseError('conflict', `a role named "${name}" already exists`, { field: 'name', cause: error });
    throw error;
  }
  return { id: role.id, name, description, scopes, createdAt: iso(role.created_at)! };
}

export async function listRoles(db: Db, page: PageRequest = {}): Promise<Page<Role>> {
  const { limit, offset } = pageBounds(page);
  const { total } = await db.selectFrom('roles').select((eb) => eb.fn.countAll<number>().as('total')).executeTakeFirstOrThrow();
  const rows = await db.selectFrom('roles').selectAll().orderBy('name').limit(limit).offset(offset).execute();
  const scopes = rows.length
    ? await db.selectFrom('role_scopes').selectAll().where('role_id', 'in', rows.map((r) => r.id)).orderBy('scope').execute()
    : [];
  return {
    items: rows.map((r) => ({
      id: r.id,
      name: r.name,
      description: r.description,
      scopes: scopes.filter((s) => s.role_id === r.id).map((s) => s.scope),
      createdAt: iso(r.created_at)!,
    })),
    total: Number(total),
    limit,
    offset,
  };
}

async function scopesOf(db: Db, roleIds: readonly string[]): Promise<Map<string, string[]>> {
  const map = new Map<string, string[]>();
  if (roleIds.length === 0) return map;
  const rows = await db.selectFrom('role_scopes').selectAll().where('role_id', 'in', roleIds).orderBy('scope').execute();
  for (const row of rows) map.set(row.role_id, [...(map.get(row.role_id) ?? []), row.scope]);
  return map;
}

/** A role by id or, failing that, by name. */
export async function findRole(db: Db, idOrName: string): Promise<Role | undefined> {
  const row =
    (await db.selectFrom('roles').selectAll().where('id', '=', idOrName).executeTakeFirst()) ??
    (await db.selectFrom('roles').selectAll().where('name', '=', idOrName).executeTakeFirst());
  if (!row) return undefined;
  const scopes = (await scopesOf(db, [row.id])).get(row.id) ?? [];
  return { id: row.id, name: row.name, description: row.description, scopes, createdAt: iso(row.created_at)! };
}

export async function requireRole(db: Db, idOrName: string): Promise<Role> {
  const role = await findRole(db, idOrName);
  if (!role) throw new GatehouseError('not_found', `no role "${idOrName}"`, { field: 'role' });
  return role;
}

/** Roles by name; names that match no role are left out (callers report them). */
export async function rolesByName(db: Db, names: readonly string[]): Promise<Role[]> {
  if (names.length === 0) return [];
  const rows = await db.selectFrom('roles').selectAll().where('name', 'in', names).orderBy('name').execute();
  const scopes = await scopesOf(db, rows.map((r) => r.id));
  return rows.map((r) => ({ id: r.id, name: r.name, description: r.description, scopes: scopes.get(r.id) ?? [], createdAt: iso(r.created_at)! }));
}

export interface RoleChanges {
  /** null removes the description. */
  readonly description?: string | null | undefined;
  /** Replaces the role's scopes. */
  readonly scopes?: string | readonly string[] | undefined;
}

/** Changes a role; new scopes replace the old ones in one transaction (users see both or neither). */
export async function updateRole(db: Db, idOrName: string, changes: RoleChanges): Promise<Role> {
  const role = await requireRole(db, idOrName);
  const scopes = changes.scopes === undefined ? undefined : validate.scopes(changes.scopes);
  const description =
    changes.description === undefined ? undefined : changes.description === null ? null : validate.displayName(changes.description, 'description');
  await db.transaction().execute(async (trx) => {
    if (description !== undefined) await trx.updateTable('roles').set({ description }).where('id', '=', role.id).execute();
    if (scopes !== undefined) {
      await trx.deleteFrom('role_scopes').where('role_id', '=', role.id).execute();
      if (scopes.length > 0) await trx.insertInto('role_scopes').values(scopes.map((scope) => ({ role_id: role.id, scope }))).execute();
      if ([...scopes].sort().join(' ') !== [...role.scopes].sort().join(' ')) await claimsChangedForMembers(trx, role.id);
    }
  });
  return {
    ...role,
    ...(description !== undefined ? { description } : {}),
    ...(scopes !== undefined ? { scopes: [...scopes].sort() } : {}),
  };
}

/** Deletes a role; its users lose the scopes it granted (role_scopes and user_roles cascade). */
export async function deleteRole(db: Db, idOrName: string): Promise<Role> {
  const role = await requireRole(db, idOrName);
  await inTransaction(db, async (trx) => {
    await claimsChangedForMembers(trx, role.id);
    await trx.deleteFrom('roles').where('id', '=', role.id).execute();
  });
  return role;
}

/** CAEP token-claims-change for every user holding the role: what their tokens may carry changed. */
async function claimsChangedForMembers(db: Db, roleId: string): Promise<void> {
  const members = await db.selectFrom('user_roles').select('user_id').where('role_id', '=', roleId).execute();
  await recordSecurityEvents(
    db,
    members.map((member) => ({ type: 'token-claims-change' as const, subject: { user: member.user_id }, payload: { claims: { roles: 'changed' } } })),
  );
}
