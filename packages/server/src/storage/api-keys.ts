// API keys: owned by a user or a client, for one API, with scopes never beyond the owner's.
//
// Format: gatehouse_ak_<id:16>_<secret:32><checksum:6>, base62. The prefix lets secret scanners
// find leaked keys; the id is public (shown in listings) and finds the row without scanning; the
// CRC32 checksum rejects mistyped or invented keys before any database lookup. Only the SHA-256 of
// the whole key is stored, compared in constant time.
import { inTransaction, recordSecurityEvents } from './security-events.ts';
import { randomInt } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { GatehouseError } from '../errors.ts';
import { hashSecret, verifySecret } from '../secrets.ts';
import type { Db } from './database.ts';
import { iso, jsonArray, now, pageBounds, type Page, type PageRequest } from './rows.ts';
import type { ApiKeysTable } from './tables.ts';
import { grantedScopes } from './users.ts';
import * as validate from './validate.ts';

export const API_KEY_PREFIX = 'gatehouse_ak_';
const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const KEY_PATTERN = /^gatehouse_ak_([0-9A-Za-z]{16})_([0-9A-Za-z]{32})([0-9A-Za-z]{6})$/;

function randomBase62(length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) out += BASE62[randomInt(62)];
  return out;
}

function checksum(body: string): string {
  let value = crc32(body);
  let out = '';
  for (let i = 0; i < 6; i++) {
    out = BASE62[value % 62] + out;
    value = Math.floor(value / 62);
  }
  return out;
}

/** The key's id if the string is well formed with a valid checksum; undefined otherwise. */
export function parseApiKey(presented: string): string | undefined {
  const match = KEY_PATTERN.exec(presented);
  if (!match) return undefined;
  return checksum(`${API_KEY_PREFIX}${match[1]}_${match[2]}`) === match[3] ? match[1] : undefined;
}

export function looksLikeApiKey(value: string): boolean {
  return value.startsWith(API_KEY_PREFIX);
}

export interface ApiKey {
  readonly id: string;
  readonly name: string;
  readonly owner: { readonly kind: 'user' | 'client'; readonly id: string };
  /** The API's identifier (the audience). */
  readonly api: string;
  readonly scopes: readonly string[];
  readonly createdAt: string;
  readonly expiresAt: string | null;
  readonly lastUsedAt: string | null;
  readonly revokedAt: string | null;
}

type Row = ApiKeysTable & { api_identifier: string };

function toApiKey(row: Row): ApiKey {
  return {
    id: row.id,
    name: row.name,
    owner: { kind: row.owner_kind, id: (row.owner_kind === 'user' ? row.user_id : row.client_id)! },
    api: row.api_identifier,
    scopes: jsonArray(row.scopes),
    createdAt: iso(row.created_at)!,
    expiresAt: iso(row.expires_at),
    lastUsedAt: iso(row.last_used_at),
    revokedAt: iso(row.revoked_at),
  };
}

function selectKeys(db: Db) {
  return db.selectFrom('api_keys').innerJoin('apis', 'apis.id', 'api_keys.api_id').selectAll('api_keys').select('apis.identifier as api_identifier');
}

/** The scopes an owner may hold at an API: a user's roles, or a client's allowed API scopes. */
export async function ownerScopes(db: Db, owner: { kind: 'user' | 'client'; id: string }, apiId: string): Promise<Set<string>> {
  const apiScopes = new Set((await db.selectFrom('api_scopes').select('name').where('api_id', '=', apiId).execute()).map((r) => r.name));
  let allowed: Set<string>;
  if (owner.kind === 'user') {
    allowed = await grantedScopes(db, owner.id);
  } else {
    const client = await db.selectFrom('clients').select('scopes').where('id', '=', owner.id).executeTakeFirst();
    allowed = new Set(client ? jsonArray(client.scopes) : []);
  }
  return new Set([...allowed].filter((scope) => apiScopes.has(scope)));
}

export interface NewApiKey {
  readonly owner: { readonly kind: 'user' | 'client'; readonly id: string };
  /** The API's identifier. */
  readonly api: string;
  readonly scopes: string | readonly string[];
  readonly name?: string | undefined;
  /** Seconds from now; none means the key does not expire. */
  readonly expiresIn?: number | undefined;
}

export interface CreatedApiKey {
  readonly apiKey: ApiKey;
  /** The key itself: shown now, never again. */
  readonly key: string;
}

export async function createApiKey(db: Db, input: NewApiKey): Promise<CreatedApiKey> {
  const kind = validate.oneOf(input.owner?.kind, ['user', 'client'] as const, 'owner.kind');
  const ownerRow =
    kind === 'user'
      ? await db.selectFrom('users').select(['id', 'disabled']).where((eb) => eb.or([eb('id', '=', input.owner.id), eb(eb.fn('lower', ['username']), '=', String(input.owner.id).toLowerCase())])).executeTakeFirst()
      : await db.selectFrom('clients').select(['id', 'revoked_at']).where('id', '=', input.owner.id).executeTakeFirst();
  if (!ownerRow) throw new GatehouseError('not_found', `no ${kind} "${input.owner.id}"`, { field: 'owner' });
  if ('disabled' in ownerRow && ownerRow.disabled === 1) throw new GatehouseError('invalid_request', 'the user is disabled', { field: 'owner' });
  if ('revoked_at' in ownerRow && ownerRow.revoked_at !== null) throw new GatehouseError('invalid_request', 'the client is revoked', { field: 'owner' });
  const api = await db.selectFrom('apis').select(['id', 'identifier']).where('identifier', '=', String(input.api)).executeTakeFirst();
  if (!api) throw new GatehouseError('not_found', `no API with identifier ${input.api}`, { field: 'api' });
  const scopes = validate.scopes(input.scopes);
  const allowed = await ownerScopes(db, { kind, id: ownerRow.id }, api.id);
  const beyond = scopes.filter((scope) => !allowed.has(scope));
  if (beyond.length > 0) {
    throw new GatehouseError('invalid_request', `scopes beyond what the owner may have at this API: ${beyond.join(' ')}`, { field: 'scopes' });
  }
  const name = input.name === undefined ? 'API key' : validate.displayName(input.name, 'name');
  const expiresIn = input.expiresIn === undefined ? undefined : validate.ttl(input.expiresIn, 'expires_in', 60, 5 * 365 * 86400);

  const id = randomBase62(16);
  const body = `${API_KEY_PREFIX}${id}_${randomBase62(32)}`;
  const key = `${body}${checksum(body)}`;
  const at = now();
  const row: ApiKeysTable = {
    id,
    secret_hash: hashSecret(key),
    name,
    owner_kind: kind,
    user_id: kind === 'user' ? ownerRow.id : null,
    client_id: kind === 'client' ? ownerRow.id : null,
    api_id: api.id,
    scopes: JSON.stringify(scopes),
    created_at: at,
    expires_at: expiresIn === undefined ? null : at + expiresIn * 1000,
    last_used_at: null,
    revoked_at: null,
  };
  await db.insertInto('api_keys').values(row).execute();
  return { apiKey: toApiKey({ ...row, api_identifier: api.identifier }), key };
}

export interface ApiKeyFilter extends PageRequest {
  readonly owner?: { readonly kind: 'user' | 'client'; readonly id: string } | undefined;
  readonly api?: string | undefined;
  readonly includeRevoked?: boolean | undefined;
}

export async function listApiKeys(db: Db, filter: ApiKeyFilter = {}): Promise<Page<ApiKey>> {
  const { limit, offset } = pageBounds(filter);
  let query = selectKeys(db);
  if (filter.owner) query = query.where(filter.owner.kind === 'user' ? 'api_keys.user_id' : 'api_keys.client_id', '=', filter.owner.id);
  if (filter.api) query = query.where('apis.identifier', '=', filter.api);
  if (!filter.includeRevoked) query = query.where('api_keys.revoked_at', 'is', null);
  const { total } = await query.clearSelect().select((eb) => eb.fn.countAll<number>().as('total')).executeTakeFirstOrThrow();
  const rows = await query.orderBy('api_keys.created_at', 'desc').orderBy('api_keys.id').limit(limit).offset(offset).execute();
  return { items: rows.map(toApiKey), total: Number(total), limit, offset };
}

export async function findApiKey(db: Db, id: string): Promise<ApiKey | undefined> {
  const row = await selectKeys(db).where('api_keys.id', '=', id).executeTakeFirst();
  return row && toApiKey(row);
}

export async function revokeApiKey(db: Db, id: string): Promise<ApiKey> {
  const key = await findApiKey(db, id);
  if (!key) throw new GatehouseError('not_found', `no API key "${id}"`, { field: 'id' });
  if (key.revokedAt) return key;
  const at = now();
  await inTransaction(db, async (trx) => {
    await trx.updateTable('api_keys').set({ revoked_at: at }).where('id', '=', id).where('revoked_at', 'is', null).execute();
    await recordSecurityEvents(trx, [{ type: 'api-key-revoked', subject: { apiKey: id, ...(key.owner.kind === 'user' ? { user: key.owner.id } : { client: key.owner.id }) } }]);
  });
  return { ...key, revokedAt: iso(at) };
}

export interface VerifiedApiKey {
  readonly id: string;
  readonly owner: { readonly kind: 'user' | 'client'; readonly id: string };
  readonly api: string;
  /** The key's scopes the owner still has: a role lost since creation takes the scope with it. */
  readonly scopes: readonly string[];
  readonly issuedAt: number;
  readonly expiresAt: number | null;
}

/**
 * Checks a presented key. Undefined for anything not valid right now: malformed, unknown, wrong
 * secret, revoked, expired, owner disabled or revoked. The secret comparison is constant-time,
 * and a key with a bad checksum costs no database lookup.
 */
export interface VerifyApiKeyOptions {
  /** The time to check expiry against (epoch milliseconds); now by default. */
  readonly at?: number;
  /** The secret comparison (replaceable so a test can count the work done). */
  readonly verifySecret?: (secret: string, stored: string) => boolean;
}

export async function verifyApiKey(db: Db, presented: string, { at = now(), verifySecret: compare = verifySecret }: VerifyApiKeyOptions = {}): Promise<VerifiedApiKey | undefined> {
  const id = parseApiKey(presented);
  if (id === undefined) return undefined;
  const row = await selectKeys(db).where('api_keys.id', '=', id).executeTakeFirst();
  // Compare against a fixed hash when the id is unknown, so both paths do the same work.
  const matches = compare(presented, row?.secret_hash ?? 'sha256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA');
  if (!row || !matches) return undefined;
  if (row.revoked_at !== null || (row.expires_at !== null && row.expires_at <= at)) return undefined;
  const owner = { kind: row.owner_kind, id: (row.owner_kind === 'user' ? row.user_id : row.client_id)! };
  if (owner.kind === 'user') {
    const user = await db.selectFrom('users').select('disabled').where('id', '=', owner.id).executeTakeFirst();
    if (!user || user.disabled === 1) return undefined;
  } else {
    const client = await db.selectFrom('clients').select('revoked_at').where('id', '=', owner.id).executeTakeFirst();
    if (!client || client.revoked_at !== null) return undefined;
  }
  const allowed = await ownerScopes(db, owner, row.api_id);
  return {
    id,
    owner,
    api: row.api_identifier,
    scopes: jsonArray(row.scopes).filter((scope) => allowed.has(scope)),
    issuedAt: row.created_at,
    expiresAt: row.expires_at,
  };
}

/** Records when keys were last used: one write per key per flush, not one per request. */
export async function recordApiKeyUse(db: Db, uses: ReadonlyMap<string, number>): Promise<void> {
  for (const [id, at] of uses) {
    await db
      .updateTable('api_keys')
      .set({ last_used_at: at })
      .where('id', '=', id)
      .where((eb) => eb.or([eb('last_used_at', 'is', null), eb('last_used_at', '<', at)]))
      .execute();
  }
}
