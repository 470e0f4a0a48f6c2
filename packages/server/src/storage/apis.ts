// APIs (OAuth resource servers): the identifier is the token audience; scopes are defined here.
import { GatehouseError, isUniqueViolation } from '../errors.ts';
import type { Db } from './database.ts';
import { iso, now, pageBounds, type Page, type PageRequest } from './rows.ts';
import * as validate from './validate.ts';

export const API_SIGNING_ALGS = ['ES256', 'RS256'] as const;
export type ApiSigningAlg = (typeof API_SIGNING_ALGS)[number];

export interface ApiScope {
  readonly name: string;
  readonly description: string | null;
}

export interface Api {
  readonly id: string;
  readonly identifier: string;
  readonly name: string;
  readonly scopes: readonly ApiScope[];
  /** Seconds; null means the server default. */
  readonly accessTokenTtl: number | null;
  /** null means the server default (ES256). */
  readonly signingAlg: ApiSigningAlg | null;
  /** Dynamically registered clients (RFC 7591, MCP clients) are granted this API (ADR 0011). */
  readonly openToDynamicClients: boolean;
  readonly createdAt: string;
}

export interface NewApi {
  readonly identifier: string;
  readonly name: string;
  /** "a b c", ["a", "b"], or [{ name, description }]. */
  readonly scopes: string | readonly (string | { name: string; description?: string | undefined })[];
  readonly accessTokenTtl?: number | undefined;
  readonly signingAlg?: string | undefined;
  readonly openToDynamicClients?: boolean | undefined;
}

function parseScopes(input: NewApi['scopes']): ApiScope[] {
  const items = typeof input === 'string' ? input.split(/\s+/).filter(Boolean) : input;
  const names = validate.scopes(items.map((s) => (typeof s === 'string' ? s : s.name)));
  return names.map((name) => {
    const given = items.find((s) => typeof s !== 'string' && s.name === name);
    const description = given && typeof given !== 'string' && given.description !== undefined
      ? validate.displayName(given.description, `scopes.${name}.description`)
      : null;
    return { name, description };
  });
}

export async function createApi(db: Db, input: NewApi): Promise<Api> {
  const identifier = validate.absoluteUrl(input.identifier, 'identifier');
  if (identifier.includes('#')) throw new GatehouseError('invalid_request', 'identifier must not contain a fragment (RFC 8707 §2)', { field: 'identifier' });
  const name = validate.displayName(input.name);
  const scopes = parseScopes(input.scopes);
  const accessTokenTtl = input.accessTokenTtl === undefined ? null : validate.ttl(input.accessTokenTtl, 'access_token_ttl', 30, 86400);
  const signingAlg = input.signingAlg === undefined ? null : validate.oneOf(input.signingAlg, API_SIGNING_ALGS, 'signing_alg');
  const openToDynamicClients = input.openToDynamicClients === true;
  const row = { id: crypto.randomUUID(), identifier, name, access_token_ttl: accessTokenTtl, signing_alg: signingAlg, created_at: now(), open_to_dynamic_clients: openToDynamicClients ? 1 : 0 };
  try {
    await db.transaction().execute(async (trx) => {
      await trx.insertInto('apis').values(row).execute();
      if (scopes.length > 0) {
        await trx.insertInto('api_scopes').values(scopes.map((s) => ({ api_id: row.id, ...s }))).execute();
      }
    });
  } catch (error) {
    if (isUniqueViolation(error)) throw new GatehouseError('conflict', `an API with identifier ${identifier} already exists`, { field: 'identifier', cause: error });
    throw error;
  }
  return { id: row.id, identifier, name, scopes, accessTokenTtl, signingAlg, openToDynamicClients, createdAt: iso(row.created_at)! };
}

async function withScopes(db: Db, rows: { id: string; identifier: string; name: string; access_token_ttl: number | null; signing_alg: string | null; created_at: number; open_to_dynamic_clients: number }[]): Promise<Api[]> {
  const scopes = rows.length
    ? await db.selectFrom('api_scopes').selectAll().where('api_id', 'in', rows.map((r) => r.id)).orderBy('name').execute()
    : [];
  return rows.map((r) => ({
    id: r.id,
    identifier: r.identifier,
    name: r.name,
    scopes: scopes.filter((s) => s.api_id === r.id).map((s) => ({ name: s.name, description: s.description })),
    accessTokenTtl: r.access_token_ttl,
    signingAlg: r.signing_alg as ApiSigningAlg | null,
    openToDynamicClients: r.open_to_dynamic_clients === 1,
    createdAt: iso(r.created_at)!,
  }));
}

export async function findApi(db: Db, identifier: string): Promise<Api | undefined> {
  const row = await db.selectFrom('apis').selectAll().where('identifier', '=', identifier).executeTakeFirst();
  return row ? (await withScopes(db, [row]))[0] : undefined;
}

export async function listApis(db: Db, page: PageRequest = {}): Promise<Page<Api>> {
  const { limit, offset } = pageBounds(page);
  const { total } = await db.selectFrom('apis').select((eb) => eb.fn.countAll<number>().as('total')).executeTakeFirstOrThrow();
  const rows = await db.selectFrom('apis').selectAll().orderBy('identifier').limit(limit).offset(offset).execute();
  return { items: await withScopes(db, rows), total: Number(total), limit, offset };
}

/** The identifiers of the APIs open to dynamically registered clients, and their scopes (ADR 0011). */
export async function apisOpenToDynamicClients(db: Db): Promise<Api[]> {
  const rows = await db.selectFrom('apis').selectAll().where('open_to_dynamic_clients', '=', 1).orderBy('identifier').execute();
  return withScopes(db, rows);
}

export async function findApiById(db: Db, id: string): Promise<Api | undefined> {
  const row = await db.selectFrom('apis').selectAll().where('id', '=', id).executeTakeFirst();
  return row ? (await withScopes(db, [row]))[0] : undefined;
}

export async function requireApiById(db: Db, id: string): Promise<Api> {
  const api = await findApiById(db, id);
  if (!api) throw new GatehouseError('not_found', `no API "${id}"`, { field: 'id' });
  return api;
}

export interface ApiChanges {
  readonly name?: string | undefined;
  /** Replaces the API's scopes. */
  readonly scopes?: NewApi['scopes'] | undefined;
  /** null: back to the server default. */
  readonly accessTokenTtl?: number | null | undefined;
  readonly signingAlg?: string | null | undefined;
  readonly openToDynamicClients?: boolean | undefined;
}

/**
 * Changes an API; new scopes replace the old ones in one transaction. The identifier (the token
 * audience) never changes: tokens already issued name it.
 */
export async function updateApi(db: Db, id: string, changes: ApiChanges): Promise<Api> {
  const api = await requireApiById(db, id);
  const name = changes.name === undefined ? undefined : validate.displayName(changes.name);
  const scopes = changes.scopes === undefined ? undefined : parseScopes(changes.scopes);
  const ttl = changes.accessTokenTtl;
  const accessTokenTtl = ttl === undefined || ttl === null ? ttl : validate.ttl(ttl, 'access_token_ttl', 30, 86400);
  const alg = changes.signingAlg;
  const signingAlg = alg === undefined || alg === null ? alg : validate.oneOf(alg, API_SIGNING_ALGS, 'signing_alg');
  await db.transaction().execute(async (trx) => {
    const set: { name?: string; access_token_ttl?: number | null; signing_alg?: string | null; open_to_dynamic_clients?: number } = {};
    if (changes.openToDynamicClients !== undefined) set.open_to_dynamic_clients = changes.openToDynamicClients ? 1 : 0;
    if (name !== undefined) set.name = name;
    if (accessTokenTtl !== undefined) set.access_token_ttl = accessTokenTtl;
    if (signingAlg !== undefined) set.signing_alg = signingAlg;
    if (Object.keys(set).length > 0) await trx.updateTable('apis').set(set).where('id', '=', api.id).execute();
    if (scopes !== undefined) {
      await trx.deleteFrom('api_scopes').where('api_id', '=', api.id).execute();
      if (scopes.length > 0) await trx.insertInto('api_scopes').values(scopes.map((s) => ({ api_id: api.id, ...s }))).execute();
    }
  });
  return (await findApiById(db, api.id))!;
}

/** Deletes an API and the API keys for it (cascade); tokens already issued for it stay valid until they expire. */
export async function deleteApi(db: Db, id: string): Promise<Api> {
  const api = await requireApiById(db, id);
  await db.deleteFrom('apis').where('id', '=', api.id).execute();
  return api;
}

/**
 * Makes an API the server itself relies on exist with exactly these name and scopes (the admin
 * API). Safe when several instances start at once: the unique identifier lets one insert win.
 */
export async function ensureApi(db: Db, input: NewApi): Promise<Api> {
  const existing = await findApi(db, input.identifier);
  if (!existing) {
    try {
      return await createApi(db, input);
    } catch (error) {
      if (!(error instanceof GatehouseError && error.code === 'conflict')) throw error;
    }
  }
  const api = (await findApi(db, input.identifier))!;
  const wanted = parseScopes(input.scopes);
  const same =
    api.name === input.name &&
    api.scopes.length === wanted.length &&
    wanted.every((w) => api.scopes.some((s) => s.name === w.name && s.description === w.description));
  if (same) return api;
  try {
    return await updateApi(db, api.id, { name: input.name, scopes: input.scopes });
  } catch (error) {
    // Another instance starting at the same moment wrote the same scopes first.
    if (isUniqueViolation(error)) return (await findApi(db, input.identifier))!;
    throw error;
  }
}
