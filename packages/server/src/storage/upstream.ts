// Upstream identity providers and the upstream accounts linked to local users (migration 011,
// docs/adr/0017-upstream-identity-providers.md). A provider's client secret is sealed.
import { GatehouseError, isUniqueViolation } from '../errors.ts';
import type { Db } from './database.ts';
import { iso, jsonArray, now } from './rows.ts';
import { SEALED_CONTEXTS, seal, unseal } from './sealing.ts';
import * as validate from './validate.ts';

export type ProviderKind = 'oidc' | 'github';

export interface UpstreamProvider {
  readonly id: string;
  readonly name: string;
  readonly kind: ProviderKind;
  /** OpenID Connect: the issuer (discovery at its /.well-known/openid-configuration). GitHub: its web URL. */
  readonly issuer: string;
  readonly clientId: string;
  readonly scopes: readonly string[];
  readonly trustMfa: boolean;
  /** Roles of the users it creates. */
  readonly roles: readonly string[];
  /** An upstream claim (a list, e.g. `groups`) whose values map to more roles at creation. */
  readonly roleClaim: string | null;
  readonly roleMap: Readonly<Record<string, string>>;
  readonly enabled: boolean;
  readonly createdAt: string;
}

export interface NewUpstreamProvider {
  readonly id: string;
  readonly name: string;
  readonly kind: ProviderKind;
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly scopes?: readonly string[] | undefined;
  readonly trustMfa?: boolean | undefined;
  readonly roles?: readonly string[] | undefined;
  readonly roleClaim?: string | undefined;
  readonly roleMap?: Readonly<Record<string, string>> | undefined;
}

const PROVIDER_ID = /^[a-z0-9][a-z0-9-]{0,31}$/;

type ProviderRow = Awaited<ReturnType<typeof providerRows>>[number];
function providerRows(db: Db) {
  return db.selectFrom('upstream_providers').selectAll().orderBy('created_at').orderBy('id').execute();
}

function toProvider(row: ProviderRow): UpstreamProvider {
  return {
    id: row.id,
    name: row.name,
    kind: row.kind as ProviderKind,
    issuer: row.issuer,
    clientId: row.client_id,
    scopes: row.scopes.split(' ').filter(Boolean),
    trustMfa: row.trust_mfa === 1,
    roles: jsonArray(row.roles),
    roleClaim: row.role_claim,
    roleMap: JSON.parse(row.role_map) as Record<string, string>,
    enabled: row.enabled === 1,
    createdAt: iso(Number(row.created_at))!,
  };
}

export async function createUpstreamProvider(db: Db, input: NewUpstreamProvider): Promise<UpstreamProvider> {
  if (typeof input.id !== 'string' || !PROVIDER_ID.test(input.id)) {
    throw new GatehouseError('invalid_request', 'id must be 1-32 characters: lower-case letters, digits and -, starting with a letter or digit', { field: 'id' });
  }
  const name = validate.displayName(input.name);
  if (input.kind !== 'oidc' && input.kind !== 'github') throw new GatehouseError('invalid_request', 'kind must be oidc or github', { field: 'kind' });
  let issuer: URL;
  try {
    issuer = new URL(input.issuer);
  } catch {
    throw new GatehouseError('invalid_request', 'issuer must be a URL', { field: 'issuer' });
  }
  const loopback = validate.isLoopbackHost(issuer.hostname);
  if (issuer.protocol !== 'https:' && !(issuer.protocol === 'http:' && loopback)) {
    throw new GatehouseError('invalid_request', 'issuer must be https (http only on a loopback address)', { field: 'issuer' });
  }
  if (typeof input.clientId !== 'string' || input.clientId === '' || input.clientId.length > 255) throw new GatehouseError('invalid_request', 'client_id is required', { field: 'client_id' });
  if (typeof input.clientSecret !== 'string' || input.clientSecret === '' || input.clientSecret.length > 1024) throw new GatehouseError('invalid_request', 'client_secret is required', { field: 'client_secret' });
  const scopes = input.scopes ?? (input.kind === 'oidc' ? ['openid', 'email', 'profile'] : ['read:user', 'user:email']);
  if (input.kind === 'oidc' && !scopes.includes('openid')) throw new GatehouseError('invalid_request', 'an OpenID Connect provider needs the openid scope', { field: 'scopes' });
  const roles = [...new Set(input.roles ?? [])];
  const roleMap = input.roleMap ?? {};
  const wanted = [...roles, ...Object.values(roleMap)];
  if (wanted.length > 0) {
    const found = new Set((await db.selectFrom('roles').select('name').where('name', 'in', wanted).execute()).map((r) => r.name));
    const missing = wanted.filter((role) => !found.has(role));
    if (missing.length > 0) throw new GatehouseError('invalid_request', `unknown role: ${[...new Set(missing)].join(', ')}`, { field: 'roles' });
  }
  try {
    await db
      .insertInto('upstream_providers')
      .values({
        id: input.id,
        name,
        kind: input.kind,
        // Compared exactly with the ID token's iss: kept as given (no trailing slash added).
        issuer: input.issuer,
        client_id: input.clientId,
        client_secret: await seal(db, SEALED_CONTEXTS.upstreamSecret(input.id), input.clientSecret),
        scopes: scopes.join(' '),
        trust_mfa: input.trustMfa ? 1 : 0,
        roles: JSON.stringify(roles),
        role_claim: input.roleClaim ?? null,
        role_map: JSON.stringify(roleMap),
        created_at: now(),
      })
      .execute();
  } catch (error) {
    if (isUniqueViolation(error)) throw new GatehouseError('conflict', `an upstream provider ${input.id} exists already`, { field: 'id', cause: error });
    throw error;
  }
  return (await findUpstreamProvider(db, input.id))!;
}

export async function listUpstreamProviders(db: Db, options: { enabledOnly?: boolean } = {}): Promise<UpstreamProvider[]> {
  return (await providerRows(db)).map(toProvider).filter((provider) => !options.enabledOnly || provider.enabled);
}

export async function findUpstreamProvider(db: Db, id: string): Promise<UpstreamProvider | undefined> {
  const row = await db.selectFrom('upstream_providers').selectAll().where('id', '=', id).executeTakeFirst();
  return row && toProvider(row);
}

export async function upstreamClientSecret(db: Db, id: string): Promise<string> {
  const row = await db.selectFrom('upstream_providers').select('client_secret').where('id', '=', id).executeTakeFirstOrThrow();
  return unseal(db, SEALED_CONTEXTS.upstreamSecret(id), row.client_secret, `upstream provider ${id}'s client secret`);
}

/** Replaces a provider's client secret (rotated at the provider). */
export async function setUpstreamClientSecret(db: Db, id: string, clientSecret: string): Promise<void> {
  const sealed = await seal(db, SEALED_CONTEXTS.upstreamSecret(id), clientSecret);
  const result = await db.updateTable('upstream_providers').set({ client_secret: sealed }).where('id', '=', id).executeTakeFirst();
  if (Number(result.numUpdatedRows) !== 1) throw new GatehouseError('not_found', `no upstream provider ${id}`, { field: 'id' });
}

export async function setUpstreamProviderEnabled(db: Db, id: string, enabled: boolean): Promise<UpstreamProvider> {
  const result = await db.updateTable('upstream_providers').set({ enabled: enabled ? 1 : 0 }).where('id', '=', id).executeTakeFirst();
  if (Number(result.numUpdatedRows) !== 1) throw new GatehouseError('not_found', `no upstream provider ${id}`, { field: 'id' });
  return (await findUpstreamProvider(db, id))!;
}

/** Deletes a provider and the links to it (users keep their accounts and other ways in). */
export async function deleteUpstreamProvider(db: Db, id: string): Promise<void> {
  const result = await db.deleteFrom('upstream_providers').where('id', '=', id).executeTakeFirst();
  if (Number(result.numDeletedRows) !== 1) throw new GatehouseError('not_found', `no upstream provider ${id}`, { field: 'id' });
}

export interface UpstreamIdentity {
  readonly id: string;
  readonly providerId: string;
  readonly providerName: string;
  readonly subject: string;
  readonly userId: string;
  readonly email: string | null;
  readonly createdAt: string;
  readonly lastUsedAt: string | null;
}

function identities(db: Db) {
  return db
    .selectFrom('upstream_identities')
    .innerJoin('upstream_providers', 'upstream_providers.id', 'upstream_identities.provider_id')
    .select([
      'upstream_identities.id',
      'upstream_identities.provider_id',
      'upstream_providers.name as provider_name',
      'upstream_identities.subject',
      'upstream_identities.user_id',
      'upstream_identities.email',
      'upstream_identities.created_at',
      'upstream_identities.last_used_at',
    ]);
}

type IdentityRow = Awaited<ReturnType<ReturnType<typeof identities>['execute']>>[number];
const toIdentity = (row: IdentityRow): UpstreamIdentity => ({
  id: row.id,
  providerId: row.provider_id,
  providerName: row.provider_name,
  subject: row.subject,
  userId: row.user_id,
  email: row.email,
  createdAt: iso(Number(row.created_at))!,
  lastUsedAt: iso(row.last_used_at === null ? null : Number(row.last_used_at)),
});

/** The local user an upstream account is linked to. */
export async function findLinkedIdentity(db: Db, providerId: string, subject: string): Promise<UpstreamIdentity | undefined> {
  const row = await identities(db).where('upstream_identities.provider_id', '=', providerId).where('upstream_identities.subject', '=', subject).executeTakeFirst();
  return row && toIdentity(row);
}

export async function listLinkedIdentities(db: Db, userId: string): Promise<UpstreamIdentity[]> {
  return (await identities(db).where('upstream_identities.user_id', '=', userId).orderBy('upstream_identities.created_at').execute()).map(toIdentity);
}

/** Links an upstream account to a user; a second link of the same account is a conflict. */
export async function linkIdentity(db: Db, input: { providerId: string; subject: string; userId: string; email: string | null }): Promise<void> {
  try {
    const at = now();
    await db
      .insertInto('upstream_identities')
      .values({ id: crypto.randomUUID(), provider_id: input.providerId, subject: input.subject, user_id: input.userId, email: input.email, created_at: at, last_used_at: at })
      .execute();
  } catch (error) {
    if (isUniqueViolation(error)) throw new GatehouseError('conflict', 'this upstream account is linked to a user already', { cause: error });
    throw error;
  }
}

export async function recordIdentityUse(db: Db, id: string): Promise<void> {
  await db.updateTable('upstream_identities').set({ last_used_at: now() }).where('id', '=', id).execute();
}

export type IdentityRemoval = { readonly kind: 'removed' } | { readonly kind: 'not_found' } | { readonly kind: 'last_way_in' };

/**
 * Unlinks one of a user's upstream accounts, unless it is their last way to sign in (no
 * password, no passkey, no other linked account): checked and done in one transaction.
 */
export async function unlinkIdentity(db: Db, userId: string, id: string): Promise<IdentityRemoval> {
  return db.transaction().execute(async (trx) => {
    const row = await trx.selectFrom('upstream_identities').select('id').where('id', '=', id).where('user_id', '=', userId).executeTakeFirst();
    if (!row) return { kind: 'not_found' } as const;
    const user = await trx.selectFrom('users').select('password_hash').where('id', '=', userId).executeTakeFirst();
    const count = async (table: 'passkeys' | 'upstream_identities') =>
      Number((await trx.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).where('user_id', '=', userId).executeTakeFirstOrThrow()).n);
    if (!user?.password_hash && (await count('passkeys')) === 0 && (await count('upstream_identities')) <= 1) return { kind: 'last_way_in' } as const;
    await trx.deleteFrom('upstream_identities').where('id', '=', id).where('user_id', '=', userId).execute();
    return { kind: 'removed' } as const;
  });
}
