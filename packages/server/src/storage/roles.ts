// Roles: a name and the scopes it grants. Users get scopes only through roles.
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
