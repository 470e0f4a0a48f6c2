// Clients: the applications that ask for tokens. Confidential clients get a secret that is
// shown once and stored only as a hash. A client gets tokens only for the APIs listed for it
// (client_apis; docs/adr/0008-client-api-grants.md).
import { inTransaction, recordSecurityEvents } from './security-events.ts';
import { GatehouseError, isUniqueViolation } from '../errors.ts';
import { hashSecret, newSecret, randomId, verifySecret } from '../secrets.ts';
import type { Db } from './database.ts';
import { iso, jsonArray, now, pageBounds, type Page, type PageRequest } from './rows.ts';
import type { ClientsTable, Database } from './tables.ts';
import type { Kysely } from 'kysely';
import * as validate from './validate.ts';

export const GRANT_TYPES = ['authorization_code', 'refresh_token', 'client_credentials', 'password'] as const;
export type GrantType = (typeof GRANT_TYPES)[number];
export const AUTH_METHODS = ['client_secret_basic', 'client_secret_post'] as const;
export const CLIENT_SECRET_PREFIX = 'gatehouse_cs_';
export const APPLICATION_TYPES = ['web', 'native'] as const;
export type ApplicationType = (typeof APPLICATION_TYPES)[number];

export interface Client {
  readonly clientId: string;
  readonly name: string;
  readonly type: 'public' | 'confidential';
  readonly tokenEndpointAuthMethod: 'none' | (typeof AUTH_METHODS)[number];
  readonly redirectUris: readonly string[];
  readonly postLogoutRedirectUris: readonly string[];
  readonly grantTypes: readonly GrantType[];
  /** The API scopes this client may ask for (at the APIs it was granted). */
  readonly scopes: readonly string[];
  /** The APIs (identifiers) this client may get tokens for; it gets none for any other. */
  readonly apis: readonly string[];
  readonly corsOrigins: readonly string[];
  /** First-party clients skip the consent page. */
  readonly firstParty: boolean;
  /** `native` apps may use any port of a loopback redirect URI (RFC 8252 §7.3). */
  readonly applicationType: ApplicationType;
  /** Registered by the client itself through RFC 7591 dynamic registration (ADR 0011). */
  readonly registeredDynamically: boolean;
  /** OpenID Connect Back-Channel Logout 1.0: where a logout token is POSTed when a session it took part in ends. */
  readonly backchannelLogoutUri: string | null;
  /** Back-Channel Logout §2.4: the logout token (and ID tokens) carry `sid`. */
  readonly backchannelLogoutSessionRequired: boolean;
  readonly createdAt: string;
  /** A revoked client can no longer authenticate, and everything issued to it stops working. */
  readonly revokedAt: string | null;
}

/** A client as stored, with the secret's hash (for the protocol engine only). */
export interface StoredClient extends Client {
  readonly secretHash: string | null;
}

export interface NewClient {
  readonly clientId?: string | undefined;
  readonly name: string;
  readonly public?: boolean | undefined;
  readonly tokenEndpointAuthMethod?: string | undefined;
  readonly redirectUris?: readonly string[] | undefined;
  readonly postLogoutRedirectUris?: readonly string[] | undefined;
  readonly grantTypes: string | readonly string[];
  readonly scopes?: string | readonly string[] | undefined;
  /** API identifiers; none when not given. */
  readonly apis?: readonly string[] | undefined;
  readonly corsOrigins?: readonly string[] | undefined;
  /** Required with the authorization_code grant: whether the consent page is skipped. */
  readonly firstParty?: boolean | undefined;
  /** `web` (the default) or `native` (a public app on a device: RFC 8252). */
  readonly applicationType?: string | undefined;
  /** Set by the registration endpoint only (ADR 0011). */
  readonly registeredDynamically?: boolean | undefined;
  /** Back-Channel Logout: https (http on loopback), as a web client's redirect URI. */
  readonly backchannelLogoutUri?: string | null | undefined;
  /** Whether logout tokens carry `sid`; true when not given. */
  readonly backchannelLogoutSessionRequired?: boolean | undefined;
}

export interface CreatedClient {
  readonly client: Client;
  /** Only for confidential clients, and only now: it is never shown again. */
  readonly clientSecret?: string;
}

const CLIENT_ID = /^[A-Za-z0-9._~-]{1,64}$/;
// User ids are UUIDs (storage/users.ts). A client whose id looked like one would get client
// credentials tokens with a user's id as `sub`: that shape is reserved for users, so the two can
// never collide, whichever is created first.
const USER_ID_SHAPE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/**
 * The server's built-in clients, never stored (engine/account-client.ts, console-client.ts,
 * admin-docs-client.ts): a stored client of the same id would be shadowed by the built-in one, so
 * the ids are refused rather than accepted and never used.
 */
export const BUILT_IN_CLIENT_IDS: readonly string[] = ['gatehouse-account', 'gatehouse-console', 'gatehouse-admin-docs'];

function toStoredClient(row: ClientsTable, apis: readonly string[]): StoredClient {
  return {
    clientId: row.id,
    name: row.name,
    type: row.type,
    tokenEndpointAuthMethod: row.token_endpoint_auth_method as Client['tokenEndpointAuthMethod'],
    redirectUris: jsonArray(row.redirect_uris),
    postLogoutRedirectUris: jsonArray(row.post_logout_redirect_uris),
    grantTypes: jsonArray(row.grant_types) as GrantType[],
    scopes: jsonArray(row.scopes),
    apis: [...apis],
    corsOrigins: jsonArray(row.cors_origins),
    firstParty: row.first_party === 1,
    applicationType: row.application_type === 'native' ? 'native' : 'web',
    registeredDynamically: row.registered_dynamically === 1,
    backchannelLogoutUri: row.backchannel_logout_uri ?? null,
    backchannelLogoutSessionRequired: row.backchannel_logout_session_required !== 0,
    createdAt: iso(row.created_at)!,
    revokedAt: iso(row.revoked_at),
    secretHash: row.secret_hash,
  };
}

export function publicView({ secretHash: _secretHash, ...client }: StoredClient): Client {
  return client;
}

/** The API identifiers granted to each of these clients, sorted. */
async function apisOf(db: Kysely<Database>, clientIds: readonly string[]): Promise<Map<string, string[]>> {
  const granted = new Map<string, string[]>();
  if (clientIds.length === 0) return granted;
  const rows = await db
    .selectFrom('client_apis')
    .innerJoin('apis', 'apis.id', 'client_apis.api_id')
    .select(['client_apis.client_id', 'apis.identifier'])
    .where('client_apis.client_id', 'in', [...clientIds])
    .orderBy('apis.identifier')
    .execute();
  for (const row of rows) granted.set(row.client_id, [...(granted.get(row.client_id) ?? []), row.identifier]);
  return granted;
}

/** API identifiers to grant, checked to exist; an unknown one is refused by name. */
async function resolveApis(db: Kysely<Database>, identifiers: readonly string[]): Promise<{ id: string; identifier: string }[]> {
  if (!Array.isArray(identifiers) || identifiers.some((i) => typeof i !== 'string')) {
    throw new GatehouseError('invalid_request', 'apis must be a list of API identifiers', { field: 'apis' });
  }
  const wanted = [...new Set(identifiers)];
  if (wanted.length === 0) return [];
  const found = await db.selectFrom('apis').select(['id', 'identifier']).where('identifier', 'in', wanted).execute();
  const missing = wanted.filter((identifier) => !found.some((api) => api.identifier === identifier));
  if (missing.length > 0) throw new GatehouseError('invalid_request', `apis: no API has the identifier ${missing.join(', ')}`, { field: 'apis' });
  return found;
}

async function replaceApis(db: Kysely<Database>, clientId: string, apis: readonly { id: string }[]): Promise<void> {
  await db.deleteFrom('client_apis').where('client_id', '=', clientId).execute();
  if (apis.length > 0) await db.insertInto('client_apis').values(apis.map((api) => ({ client_id: clientId, api_id: api.id }))).execute();
}

/**
 * First party or not is a decision, not a default, for a client that signs users in: a first-party
 * client skips the consent page and always gets refresh tokens (docs/adr/0008-client-api-grants.md).
 * Clients without the authorization_code grant never show a consent page; they are stored as
 * third-party.
 */
function firstPartyChoice(firstParty: boolean | undefined, grants: readonly GrantType[]): boolean {
  if (firstParty !== undefined) return firstParty;
  if (grants.includes('authorization_code')) {
    throw new GatehouseError(
      'invalid_request',
      'first_party is required with the authorization_code grant: true for your own application (no consent page, refresh tokens always), false for anyone else\'s (the user is asked)',
      { field: 'first_party' },
    );
  }
  return false;
}

function grantTypes(value: NewClient['grantTypes']): GrantType[] {
  const list = typeof value === 'string' ? value.split(/[\s,]+/).filter(Boolean) : [...value];
  if (list.length === 0) throw new GatehouseError('invalid_request', 'grant_types must name at least one grant', { field: 'grant_types' });
  return [...new Set(list.map((g) => validate.oneOf(g, GRANT_TYPES, 'grant_types')))];
}

/** The rules that tie a client's grants to its type and redirect URIs (creation and every change). */
function checkGrants(isPublic: boolean, grants: readonly GrantType[], redirectUris: readonly string[], backchannelLogoutUri: string | null): void {
  if (isPublic && grants.includes('client_credentials')) {
    throw new GatehouseError('invalid_request', 'a public client cannot use client_credentials: it has no secret to authenticate with', { field: 'grant_types' });
  }
  if (grants.includes('authorization_code') && redirectUris.length === 0) {
    throw new GatehouseError('invalid_request', 'authorization_code needs at least one redirect URI', { field: 'redirect_uris' });
  }
  if (!grants.includes('authorization_code') && redirectUris.length > 0) {
    throw new GatehouseError('invalid_request', 'redirect URIs are only used by the authorization_code grant', { field: 'redirect_uris' });
  }
  if (grants.includes('refresh_token') && !grants.includes('authorization_code') && !grants.includes('password')) {
    throw new GatehouseError('invalid_request', 'refresh_token needs authorization_code or password: nothing else issues refresh tokens', { field: 'grant_types' });
  }
  // Only the authorization code flow gives a client a place in a user's login session.
  if (backchannelLogoutUri !== null && !grants.includes('authorization_code')) {
    throw new GatehouseError('invalid_request', 'backchannel_logout_uri is only used by clients that sign users in (the authorization_code grant)', { field: 'backchannel_logout_uri' });
  }
}

/**
 * Back-Channel Logout §2.2: an absolute URI without a fragment, which the server calls directly.
 * The rules of a web client's redirect URI apply (https; http on a loopback host only), whatever
 * the client's application type: it is a server, not an app on a device.
 */
function backchannelLogoutUri(value: string | null | undefined): string | null {
  if (value === undefined || value === null || value === '') return null;
  return validate.redirectUri(value, 'backchannel_logout_uri', 'web');
}

function sessionRequired(value: unknown): boolean {
  if (value === undefined) return true;
  if (typeof value !== 'boolean') throw new GatehouseError('invalid_request', 'backchannel_logout_session_required must be true or false', { field: 'backchannel_logout_session_required' });
  return value;
}

export async function createClient(db: Db, input: NewClient): Promise<CreatedClient> {
  const clientId = input.clientId === undefined ? randomId(16) : input.clientId;
  if (!CLIENT_ID.test(clientId)) {
    throw new GatehouseError('invalid_request', 'client_id must be 1-64 characters: letters, digits and . _ ~ -', { field: 'client_id' });
  }
  if (USER_ID_SHAPE.test(clientId)) {
    throw new GatehouseError('invalid_request', 'client_id must not look like a UUID: that shape is reserved for user ids, so that no client token can name a user', { field: 'client_id' });
  }
  if (BUILT_IN_CLIENT_IDS.includes(clientId.toLowerCase())) {
    throw new GatehouseError('invalid_request', `client_id ${clientId} is reserved for one of the server's built-in clients`, { field: 'client_id' });
  }
  const name = validate.displayName(input.name);
  const isPublic = input.public === true;
  const applicationType = input.applicationType === undefined ? 'web' : validate.oneOf(input.applicationType, APPLICATION_TYPES, 'application_type');
  if (applicationType === 'native' && !isPublic) {
    throw new GatehouseError('invalid_request', 'application_type native is for public clients: an app on a device cannot keep a secret (RFC 8252 §8.5)', { field: 'application_type' });
  }
  const grants = grantTypes(input.grantTypes);
  const redirectUris = [...new Set((input.redirectUris ?? []).map((u) => validate.redirectUri(u, 'redirect_uris', applicationType)))];
  const postLogoutRedirectUris = [...new Set((input.postLogoutRedirectUris ?? []).map((u) => validate.redirectUri(u, 'post_logout_redirect_uris', applicationType)))];
  const scopes = validate.scopes(input.scopes ?? []);
  const corsOrigins = [...new Set((input.corsOrigins ?? []).map((o) => validate.origin(o, 'cors_origins')))];
  const logoutUri = backchannelLogoutUri(input.backchannelLogoutUri);
  const logoutSessionRequired = sessionRequired(input.backchannelLogoutSessionRequired);

  checkGrants(isPublic, grants, redirectUris, logoutUri);
  const firstParty = firstPartyChoice(input.firstParty, grants);
  let authMethod: Client['tokenEndpointAuthMethod'] = 'none';
  if (!isPublic) {
    authMethod = input.tokenEndpointAuthMethod === undefined ? 'client_secret_basic' : validate.oneOf(input.tokenEndpointAuthMethod, AUTH_METHODS, 'token_endpoint_auth_method');
  } else if (input.tokenEndpointAuthMethod !== undefined && input.tokenEndpointAuthMethod !== 'none') {
    throw new GatehouseError('invalid_request', 'a public client authenticates with "none"', { field: 'token_endpoint_auth_method' });
  }

  const clientSecret = isPublic ? undefined : newSecret(CLIENT_SECRET_PREFIX);
  const at = now();
  const row: ClientsTable = {
    id: clientId,
    name,
    type: isPublic ? 'public' : 'confidential',
    secret_hash: clientSecret === undefined ? null : hashSecret(clientSecret),
    token_endpoint_auth_method: authMethod,
    redirect_uris: JSON.stringify(redirectUris),
    post_logout_redirect_uris: JSON.stringify(postLogoutRedirectUris),
    grant_types: JSON.stringify(grants),
    scopes: JSON.stringify(scopes),
    cors_origins: JSON.stringify(corsOrigins),
    first_party: firstParty ? 1 : 0,
    created_at: at,
    updated_at: at,
    revoked_at: null,
    application_type: applicationType,
    registered_dynamically: input.registeredDynamically === true ? 1 : 0,
    backchannel_logout_uri: logoutUri,
    backchannel_logout_session_required: logoutSessionRequired ? 1 : 0,
  };
  let apis: { id: string; identifier: string }[] = [];
  try {
    await db.transaction().execute(async (trx) => {
      apis = await resolveApis(trx, input.apis ?? []);
      await trx.insertInto('clients').values(row).execute();
      await replaceApis(trx, clientId, apis);
    });
  } catch (error) {
    if (isUniqueViolation(error)) throw new GatehouseError('conflict', `a client with id "${clientId}" already exists`, { field: 'client_id', cause: error });
    throw error;
  }
  const client = publicView(toStoredClient(row, apis.map((api) => api.identifier).sort()));
  return clientSecret === undefined ? { client } : { client, clientSecret };
}

export async function findStoredClient(db: Db, clientId: string): Promise<StoredClient | undefined> {
  if (!CLIENT_ID.test(clientId)) return undefined;
  const row = await db.selectFrom('clients').selectAll().where('id', '=', clientId).executeTakeFirst();
  return row && toStoredClient(row, (await apisOf(db, [row.id])).get(row.id) ?? []);
}

/** The ids of the clients (not revoked) allowed a grant type, sorted: what the start banner names. */
export async function clientIdsWithGrant(db: Db, grant: GrantType): Promise<string[]> {
  // grant_types is a JSON array of names from GRANT_TYPES: '"password"' matches that name only.
  const rows = await db.selectFrom('clients').select('id').where('grant_types', 'like', `%"${grant}"%`).where('revoked_at', 'is', null).orderBy('id').execute();
  return rows.map((row) => row.id);
}

export async function findClient(db: Db, clientId: string): Promise<Client | undefined> {
  const stored = await findStoredClient(db, clientId);
  return stored && publicView(stored);
}

export async function listClients(db: Db, page: PageRequest = {}): Promise<Page<Client>> {
  const { limit, offset } = pageBounds(page);
  const { total } = await db.selectFrom('clients').select((eb) => eb.fn.countAll<number>().as('total')).executeTakeFirstOrThrow();
  const rows = await db.selectFrom('clients').selectAll().orderBy('name').orderBy('id').limit(limit).offset(offset).execute();
  const apis = await apisOf(db, rows.map((r) => r.id));
  return { items: rows.map((r) => publicView(toStoredClient(r, apis.get(r.id) ?? []))), total: Number(total), limit, offset };
}

/**
 * Deletes the dynamically registered clients created before `createdBefore` (epoch ms) that hold
 * nothing live in the protocol state: no grant, session, code or token (ADR 0011). Returns how many.
 */
export async function deleteUnusedDynamicClients(db: Db, createdBefore: number, now = Date.now()): Promise<number> {
  const result = await db
    .deleteFrom('clients')
    .where('registered_dynamically', '=', 1)
    .where('created_at', '<', createdBefore)
    .where(({ not, exists, selectFrom }) =>
      not(
        exists(
          selectFrom('oidc_payloads')
            .select('oidc_payloads.id')
            .whereRef('oidc_payloads.client_id', '=', 'clients.id')
            .where((inner) => inner.or([inner('oidc_payloads.expires_at', 'is', null), inner('oidc_payloads.expires_at', '>', now)])),
        ),
      ),
    )
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}

/** Deletes a client and everything issued to it (its grants, codes and refresh tokens stop working). */
export async function deleteClient(db: Db, clientId: string): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const result = await trx.deleteFrom('clients').where('id', '=', clientId).executeTakeFirst();
    if (Number(result.numDeletedRows) === 0) throw new GatehouseError('not_found', `no client "${clientId}"`, { field: 'client_id' });
    await trx.deleteFrom('oidc_payloads').where('client_id', '=', clientId).execute();
    // Token responses kept for the refresh-token reuse grace window are tokens issued to it too.
    await trx.deleteFrom('refresh_reuses').where('client_id', '=', clientId).execute();
    await recordSecurityEvents(trx, [{ type: 'client-revoked', subject: { client: clientId }, payload: { reason: 'deleted' } }]);
  });
}

export async function requireStoredClient(db: Db, clientId: string): Promise<StoredClient> {
  const client = await findStoredClient(db, clientId);
  if (!client) throw new GatehouseError('not_found', `no client "${clientId}"`, { field: 'client_id' });
  return client;
}

/**
 * Replaces a confidential client's secret; the new one is returned once. The old one stops
 * working at once on this instance, and within the cache TTL on others.
 */
export async function rotateClientSecret(db: Db, clientId: string): Promise<{ client: Client; clientSecret: string }> {
  const client = await requireStoredClient(db, clientId);
  if (client.type !== 'confidential') {
    throw new GatehouseError('invalid_request', 'a public client has no secret to rotate', { field: 'client_id' });
  }
  const clientSecret = newSecret(CLIENT_SECRET_PREFIX);
  await inTransaction(db, async (trx) => {
    await trx.updateTable('clients').set({ secret_hash: hashSecret(clientSecret), updated_at: now() }).where('id', '=', clientId).execute();
    // A rotation usually means the old secret leaked: resource servers drop what it may have obtained.
    await recordSecurityEvents(trx, [{ type: 'credential-change', subject: { client: clientId }, payload: { credential_type: 'client-secret', change_type: 'update' } }]);
  });
  return { client: publicView(client), clientSecret };
}

/**
 * Revokes a client: it can no longer authenticate or get tokens, its refresh tokens, codes and
 * grants are deleted, and introspection answers active:false for the JWT access tokens it holds.
 * The row stays, so its API keys and audit trail keep their references (its keys stop working too).
 */
export async function revokeClient(db: Db, clientId: string): Promise<Client> {
  const client = await requireStoredClient(db, clientId);
  const at = now();
  await db.transaction().execute(async (trx) => {
    await trx.updateTable('clients').set({ revoked_at: at, updated_at: at }).where('id', '=', clientId).where('revoked_at', 'is', null).execute();
    await trx.deleteFrom('oidc_payloads').where('client_id', '=', clientId).execute();
    if (client.revokedAt === null) await recordSecurityEvents(trx, [{ type: 'client-revoked', subject: { client: clientId }, payload: { reason: 'revoked' } }]);
  });
  return { ...publicView(client), revokedAt: client.revokedAt ?? iso(at) };
}

/** What may change on a client. Its id, type, application type and authentication method never do. */
export interface ClientChanges {
  readonly name?: string | undefined;
  readonly redirectUris?: readonly string[] | undefined;
  readonly postLogoutRedirectUris?: readonly string[] | undefined;
  readonly grantTypes?: string | readonly string[] | undefined;
  readonly scopes?: string | readonly string[] | undefined;
  /** Replaces the APIs the client may get tokens for (identifiers). */
  readonly apis?: readonly string[] | undefined;
  readonly corsOrigins?: readonly string[] | undefined;
  readonly firstParty?: boolean | undefined;
  /** null (or '') removes it: no more logout tokens. */
  readonly backchannelLogoutUri?: string | null | undefined;
  readonly backchannelLogoutSessionRequired?: boolean | undefined;
}

/**
 * Changes a client, checked as a whole with the rules of creation (the grants against the type and
 * the redirect URIs). The engine caches client definitions: tell it (GatehouseServer.changed).
 */
export async function updateClient(db: Db, clientId: string, changes: ClientChanges): Promise<Client> {
  const client = await requireStoredClient(db, clientId);
  const name = changes.name === undefined ? client.name : validate.displayName(changes.name);
  const grants = changes.grantTypes === undefined ? [...client.grantTypes] : grantTypes(changes.grantTypes);
  const redirectUris =
    changes.redirectUris === undefined
      ? [...client.redirectUris]
      : [...new Set(changes.redirectUris.map((u) => validate.redirectUri(u, 'redirect_uris', client.applicationType)))];
  const postLogoutRedirectUris =
    changes.postLogoutRedirectUris === undefined
      ? [...client.postLogoutRedirectUris]
      : [...new Set(changes.postLogoutRedirectUris.map((u) => validate.redirectUri(u, 'post_logout_redirect_uris', client.applicationType)))];
  const scopes = changes.scopes === undefined ? [...client.scopes] : validate.scopes(changes.scopes);
  const corsOrigins = changes.corsOrigins === undefined ? [...client.corsOrigins] : [...new Set(changes.corsOrigins.map((o) => validate.origin(o, 'cors_origins')))];
  const firstParty = changes.firstParty ?? client.firstParty;
  const logoutUri = changes.backchannelLogoutUri === undefined ? client.backchannelLogoutUri : backchannelLogoutUri(changes.backchannelLogoutUri);
  const logoutSessionRequired =
    changes.backchannelLogoutSessionRequired === undefined ? client.backchannelLogoutSessionRequired : sessionRequired(changes.backchannelLogoutSessionRequired);
  checkGrants(client.type === 'public', grants, redirectUris, logoutUri);
  await db.transaction().execute(async (trx) => {
    const apis = changes.apis === undefined ? undefined : await resolveApis(trx, changes.apis);
    await trx
      .updateTable('clients')
      .set({
        name,
        grant_types: JSON.stringify(grants),
        redirect_uris: JSON.stringify(redirectUris),
        post_logout_redirect_uris: JSON.stringify(postLogoutRedirectUris),
        scopes: JSON.stringify(scopes),
        cors_origins: JSON.stringify(corsOrigins),
        first_party: firstParty ? 1 : 0,
        backchannel_logout_uri: logoutUri,
        backchannel_logout_session_required: logoutSessionRequired ? 1 : 0,
        updated_at: now(),
      })
      .where('id', '=', client.clientId)
      .execute();
    if (apis !== undefined) await replaceApis(trx, client.clientId, apis);
    // What the client's tokens may carry changed: CAEP token-claims-change.
    const reach = (list: readonly string[]) => [...list].sort().join(' ');
    const apisChanged = changes.apis !== undefined && reach(changes.apis) !== reach(client.apis);
    if (apisChanged || reach(scopes) !== reach(client.scopes)) {
      await recordSecurityEvents(trx, [{ type: 'token-claims-change', subject: { client: client.clientId }, payload: { claims: { scope: [...scopes].sort().join(' ') } } }]);
    }
  });
  return publicView((await findStoredClient(db, client.clientId))!);
}

/**
 * Makes a confidential client the server itself uses exist, authenticated by `secret`, with the
 * given grants and no API scopes or APIs, and not revoked (the admin API's introspection client). A hash
 * that does not match the secret (rotated by hand, say) is put back. Safe from several instances.
 */
export async function ensureInternalClient(
  db: Db,
  input: { readonly clientId: string; readonly name: string; readonly secret: string; readonly grantTypes: readonly GrantType[] },
): Promise<Client> {
  const existing = await findStoredClient(db, input.clientId);
  const at = now();
  if (!existing) {
    try {
      await db
        .insertInto('clients')
        .values({
          id: input.clientId,
          name: input.name,
          type: 'confidential',
          secret_hash: hashSecret(input.secret),
          token_endpoint_auth_method: 'client_secret_basic',
          redirect_uris: '[]',
          post_logout_redirect_uris: '[]',
          grant_types: JSON.stringify(input.grantTypes),
          scopes: '[]',
          cors_origins: '[]',
          first_party: 1,
          created_at: at,
          updated_at: at,
          revoked_at: null,
          application_type: 'web',
          registered_dynamically: 0,
          backchannel_logout_uri: null,
          backchannel_logout_session_required: 1,
        })
        .execute();
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
    }
  } else if (
    existing.type !== 'confidential' ||
    existing.revokedAt !== null ||
    existing.secretHash === null ||
    !verifySecret(input.secret, existing.secretHash) ||
    existing.scopes.length > 0 ||
    existing.apis.length > 0
  ) {
    await db
      .updateTable('clients')
      .set({
        type: 'confidential',
        secret_hash: hashSecret(input.secret),
        token_endpoint_auth_method: 'client_secret_basic',
        grant_types: JSON.stringify(input.grantTypes),
        redirect_uris: '[]',
        scopes: '[]',
        revoked_at: null,
        updated_at: at,
      })
      .where('id', '=', input.clientId)
      .execute();
    await db.deleteFrom('client_apis').where('client_id', '=', input.clientId).execute();
  }
  return publicView((await findStoredClient(db, input.clientId))!);
}
