// Users: accounts with password hashes and roles. Storage keeps the hash it is given and never
// hashes: passwords/user-passwords.ts turns a password into one (argon2id) or checks an imported
// one (argon2id or bcrypt) before it gets here.
import { sql, type Transaction } from 'kysely';
import { GatehouseError, isUniqueViolation } from '../errors.ts';
import { inTransaction, recordSecurityEvents } from './security-events.ts';
import { sha256 } from '../secrets.ts';
import { invalidateAccountTokens } from './account-tokens.ts';
import type { Db } from './database.ts';
import { atomically } from './scope.ts';
import { iso, now, pageBounds, type Page, type PageRequest } from './rows.ts';
import type { Database } from './tables.ts';
import * as validate from './validate.ts';

export interface User {
  readonly id: string;
  readonly username: string;
  readonly email: string | null;
  readonly disabled: boolean;
  readonly emailVerified: boolean;
  /** Created from the registration page. */
  readonly selfRegistered: boolean;
  /** TOTP two-factor authentication is on. */
  readonly twoFactor: boolean;
  readonly roles: readonly string[];
  readonly createdAt: string;
  readonly updatedAt: string;
}

export interface NewUser {
  readonly username: string;
  readonly email?: string | undefined;
  /** The password hash, stored as given (passwords/user-passwords.ts makes or checks it). */
  readonly passwordHash?: string | null | undefined;
  readonly roles?: readonly string[] | undefined;
  readonly disabled?: boolean | undefined;
  readonly emailVerified?: boolean | undefined;
  /** Created from the registration page: the email must be verified before the first login. */
  readonly selfRegistered?: boolean | undefined;
}

/** What the login and password-grant paths need, and nothing more. */
export interface LoginRecord {
  readonly id: string;
  readonly username: string;
  readonly passwordHash: string | null;
  readonly disabled: boolean;
  /** Self-registered and the email address not verified yet: no login until it is. */
  readonly unverified: boolean;
  readonly email: string | null;
  /** TOTP two-factor authentication is on: a password alone is not enough. */
  readonly twoFactor: boolean;
}

type UserRow = Database['users'];

async function rolesOf(db: Db | Transaction<Database>, userIds: readonly string[]): Promise<Map<string, string[]>> {
  const map = new Map<string, string[]>();
  if (userIds.length === 0) return map;
  const rows = await db
    .selectFrom('user_roles')
    .innerJoin('roles', 'roles.id', 'user_roles.role_id')
    .select(['user_roles.user_id', 'roles.name'])
    .where('user_roles.user_id', 'in', userIds)
    .orderBy('roles.name')
    .execute();
  for (const row of rows) {
    map.set(row.user_id, [...(map.get(row.user_id) ?? []), row.name]);
  }
  return map;
}

function toUser(row: UserRow, roles: readonly string[]): User {
  return {
    id: row.id,
    username: row.username,
    email: row.email,
    disabled: row.disabled === 1,
    emailVerified: row.email_verified === 1,
    selfRegistered: row.self_registered === 1,
    twoFactor: row.totp_enabled_at !== null,
    roles,
    createdAt: iso(row.created_at)!,
    updatedAt: iso(row.updated_at)!,
  };
}

/** Checks a new user's username and email, naming the field in the GatehouseError. */
export function checkNewUser(input: Pick<NewUser, 'username' | 'email'>, field = ''): { username: string; email: string | null } {
  const username = validate.username(input.username, `${field}username`);
  const email = input.email === undefined || input.email === null ? null : validate.email(input.email, `${field}email`);
  return { username, email };
}

function prepareUser(input: NewUser, field = ''): { row: UserRow; roles: string[] } {
  const { username, email } = checkNewUser(input, field);
  const at = now();
  return {
    row: {
      id: crypto.randomUUID(),
      username,
      email,
      password_hash: input.passwordHash ?? null,
      disabled: input.disabled ? 1 : 0,
      email_verified: input.emailVerified ? 1 : 0,
      created_at: at,
      updated_at: at,
      self_registered: input.selfRegistered ? 1 : 0,
      totp_secret: null,
      totp_pending_secret: null,
      totp_enabled_at: null,
      totp_last_step: null,
    },
    roles: [...new Set(input.roles ?? [])],
  };
}

async function insertUser(trx: Transaction<Database>, row: UserRow, roles: readonly string[], field = ''): Promise<void> {
  // A user's id is never a client's id (a client's tokens carry its id as `sub`). New clients
  // cannot take the UUID shape (storage/clients.ts); one registered before that rule could.
  while (await trx.selectFrom('clients').select('id').where('id', '=', row.id).executeTakeFirst()) row.id = crypto.randomUUID();
  try {
    await trx.insertInto('users').values(row).execute();
  } catch (error) {
    if (isUniqueViolation(error)) {
      throw new GatehouseError('conflict', `a user with this username or email already exists: ${row.username}`, {
        field: `${field}username`,
        cause: error,
      });
    }
    throw error;
  }
  if (roles.length === 0) return;
  const found = await trx.selectFrom('roles').select(['id', 'name']).where('name', 'in', roles).execute();
  const missing = roles.filter((role) => !found.some((r) => r.name === role));
  if (missing.length > 0) {
    throw new GatehouseError('invalid_request', `unknown role: ${missing.join(', ')}`, { field: `${field}roles` });
  }
  await trx
    .insertInto('user_roles')
    .values(found.map((role) => ({ user_id: row.id, role_id: role.id })))
    .execute();
}

export async function createUser(db: Db, input: NewUser): Promise<User> {
  const { row, roles } = prepareUser(input);
  await db.transaction().execute((trx) => insertUser(trx, row, roles));
  return toUser(row, [...roles].sort());
}

/** Imports many users at once: all of them, or none (one transaction). */
export async function importUsers(db: Db, inputs: readonly NewUser[]): Promise<User[]> {
  const prepared: { row: UserRow; roles: string[] }[] = [];
  for (const [index, input] of inputs.entries()) {
    prepared.push(prepareUser(input, `users[${index}].`));
  }
  await db.transaction().execute(async (trx) => {
    for (const [index, { row, roles }] of prepared.entries()) {
      await insertUser(trx, row, roles, `users[${index}].`);
    }
  });
  return prepared.map(({ row, roles }) => toUser(row, [...roles].sort()));
}

function byLogin(username: string) {
  return sql<boolean>`lower(username) = lower(${username})`;
}

export async function findUser(db: Db, usernameOrId: string): Promise<User | undefined> {
  const row = await db
    .selectFrom('users')
    .selectAll()
    .where((eb) => eb.or([eb('id', '=', usernameOrId), byLogin(usernameOrId)]))
    .executeTakeFirst();
  if (!row) return undefined;
  return toUser(row, (await rolesOf(db, [row.id])).get(row.id) ?? []);
}

export async function requireUser(db: Db, usernameOrId: string): Promise<User> {
  const user = await findUser(db, usernameOrId);
  if (!user) throw new GatehouseError('not_found', `no user "${usernameOrId}"`, { field: 'username' });
  return user;
}

export async function findLoginRecord(db: Db, username: string): Promise<LoginRecord | undefined> {
  if (username.length === 0 || username.length > 254) return undefined;
  const row = await db
    .selectFrom('users')
    .select(['id', 'username', 'email', 'password_hash', 'disabled', 'self_registered', 'email_verified', 'totp_enabled_at'])
    .where(byLogin(username))
    .executeTakeFirst();
  return (
    row && {
      id: row.id,
      username: row.username,
      email: row.email,
      passwordHash: row.password_hash,
      disabled: row.disabled === 1,
      unverified: row.self_registered === 1 && row.email_verified === 0,
      twoFactor: row.totp_enabled_at !== null,
    }
  );
}

export interface UserFilter extends PageRequest {
  /** Matches username or email (case-insensitive substring). */
  readonly query?: string | undefined;
  /** Case-insensitive substring of the username. */
  readonly username?: string | undefined;
  /** Case-insensitive substring of the email. */
  readonly email?: string | undefined;
  readonly disabled?: boolean | undefined;
}

function containing(text: string): string {
  return `%${text.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

export async function listUsers(db: Db, filter: UserFilter = {}): Promise<Page<User>> {
  const { limit, offset } = pageBounds(filter);
  let query = db.selectFrom('users');
  if (filter.query) {
    const pattern = `%${filter.query.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    query = query.where((eb) =>
      eb.or([sql<boolean>`lower(username) like ${pattern} escape '\\'`, sql<boolean>`lower(email) like ${pattern} escape '\\'`]),
    );
  }
  if (filter.username) query = query.where(sql<boolean>`lower(username) like ${containing(filter.username)} escape '\\'`);
  if (filter.email) query = query.where(sql<boolean>`lower(email) like ${containing(filter.email)} escape '\\'`);
  if (filter.disabled !== undefined) query = query.where('disabled', '=', filter.disabled ? 1 : 0);
  const { total } = await query.select((eb) => eb.fn.countAll<number>().as('total')).executeTakeFirstOrThrow();
  const rows = await query.selectAll().orderBy('username').limit(limit).offset(offset).execute();
  const roles = await rolesOf(db, rows.map((r) => r.id));
  return { items: rows.map((r) => toUser(r, roles.get(r.id) ?? [])), total: Number(total), limit, offset };
}

/**
 * Disables or enables a user. Disabling also ends everything they are signed in with (sessions,
 * grants, refresh tokens, codes, and their JWTs through introspection), in the same transaction:
 * enabling them again later restores the account, not what was issued before.
 */
export async function setUserDisabled(db: Db, usernameOrId: string, disabled: boolean): Promise<User> {
  const user = await requireUser(db, usernameOrId);
  await db.transaction().execute(async (trx) => {
    await trx.updateTable('users').set({ disabled: disabled ? 1 : 0, updated_at: now() }).where('id', '=', user.id).execute();
    // RISC account-disabled / account-enabled, for the resource servers (security-events.ts).
    await recordSecurityEvents(trx, [{ type: disabled ? 'account-disabled' : 'account-enabled', subject: { user: user.id } }]);
    if (disabled) await revokeUserSessions(trx, user.id);
  });
  return { ...user, disabled };
}

/**
 * Stores a user's password hash. `change`: a new password (set, reset or changed), which resource
 * servers hear of as a CAEP credential change; `rehash`: the same password under new parameters.
 */
export async function updatePasswordHash(db: Db, userId: string, passwordHash: string, why: 'change' | 'rehash'): Promise<void> {
  await inTransaction(db, async (trx) => {
    await trx.updateTable('users').set({ password_hash: passwordHash, updated_at: now() }).where('id', '=', userId).execute();
    if (why === 'change') {
      await recordSecurityEvents(trx, [{ type: 'credential-change', subject: { user: userId }, payload: { credential_type: 'password', change_type: 'update' } }]);
    }
  });
}

/** The scopes a user's roles grant, across all APIs. */
export async function grantedScopes(db: Db, userId: string): Promise<Set<string>> {
  const rows = await db
    .selectFrom('user_roles')
    .innerJoin('role_scopes', 'role_scopes.role_id', 'user_roles.role_id')
    .select('role_scopes.scope')
    .where('user_roles.user_id', '=', userId)
    .execute();
  return new Set(rows.map((r) => r.scope));
}

/** The claims an account exposes through ID tokens and userinfo. */
export async function accountRecord(db: Db, userId: string): Promise<UserRow | undefined> {
  return db.selectFrom('users').selectAll().where('id', '=', userId).executeTakeFirst();
}

export interface UserChanges {
  /** null removes the email. */
  readonly email?: string | null | undefined;
  readonly emailVerified?: boolean | undefined;
  /** Replaces the user's roles (names). */
  readonly roles?: readonly string[] | undefined;
}

/** Changes a user's email, verification flag or roles: all of them, or none (one transaction). */
export async function updateUser(db: Db, usernameOrId: string, changes: UserChanges): Promise<User> {
  const user = await requireUser(db, usernameOrId);
  const email = changes.email === undefined || changes.email === null ? changes.email : validate.email(changes.email);
  const roles = changes.roles === undefined ? undefined : [...new Set(changes.roles)];
  try {
    await db.transaction().execute(async (trx) => {
      const set: { email?: string | null; email_verified?: number; updated_at: number } = { updated_at: now() };
      if (email !== undefined) set.email = email;
      // A new address is not verified, whatever the old one was, unless the caller says so.
      if (changes.emailVerified !== undefined) set.email_verified = changes.emailVerified ? 1 : 0;
      else if (email !== undefined && email !== user.email) set.email_verified = 0;
      await trx.updateTable('users').set(set).where('id', '=', user.id).execute();
      // Reset links went to the old address: they stop working with it (verification links
      // already check the address they were sent to when used).
      if (email !== undefined && email?.toLowerCase() !== user.email?.toLowerCase()) {
        await trx
          .updateTable('account_tokens')
          .set({ consumed_at: now() })
          .where('user_id', '=', user.id)
          .where('purpose', '=', 'reset_password')
          .where('consumed_at', 'is', null)
          .execute();
      }
      if (roles === undefined) return;
      const found = roles.length ? await trx.selectFrom('roles').select(['id', 'name']).where('name', 'in', roles).execute() : [];
      const missing = roles.filter((role) => !found.some((r) => r.name === role));
      if (missing.length > 0) throw new GatehouseError('invalid_request', `unknown role: ${missing.join(', ')}`, { field: 'roles' });
      await trx.deleteFrom('user_roles').where('user_id', '=', user.id).execute();
      if (found.length > 0) await trx.insertInto('user_roles').values(found.map((r) => ({ user_id: user.id, role_id: r.id }))).execute();
      // What the user's tokens may carry changed: CAEP token-claims-change.
      const names = found.map((r) => r.name).sort();
      if (names.join(' ') === [...user.roles].sort().join(' ')) return;
      await recordSecurityEvents(trx, [{ type: 'token-claims-change', subject: { user: user.id }, payload: { claims: { roles: names } } }]);
    });
  } catch (error) {
    if (isUniqueViolation(error)) throw new GatehouseError('conflict', 'another user has this email address', { field: 'email', cause: error });
    throw error;
  }
  return (await findUser(db, user.id))!;
}

/** The account an email address belongs to, if any (for verification and reset mails). */
export async function findUserByEmail(db: Db, email: string): Promise<{ id: string; username: string; email: string; emailVerified: boolean; disabled: boolean } | undefined> {
  if (email.length === 0 || email.length > 254) return undefined;
  const row = await db
    .selectFrom('users')
    .select(['id', 'username', 'email', 'email_verified', 'disabled'])
    .where(sql<boolean>`lower(email) = lower(${email})`)
    .executeTakeFirst();
  return row && row.email !== null ? { id: row.id, username: row.username, email: row.email, emailVerified: row.email_verified === 1, disabled: row.disabled === 1 } : undefined;
}

/** Marks the address verified, if it is still the user's address (it may have changed since the link was sent). */
export async function markEmailVerified(db: Db, userId: string, email: string): Promise<boolean> {
  const result = await db
    .updateTable('users')
    .set({ email_verified: 1, updated_at: now() })
    .where('id', '=', userId)
    .where(sql<boolean>`lower(email) = lower(${email})`)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/**
 * Ends everything a user is signed in with: login sessions, grants, refresh tokens, codes, and
 * (through introspection) the JWT access tokens already issued. After a password reset, say.
 */
export async function revokeUserSessions(db: Db, userId: string, options: { keepSession?: string } = {}): Promise<void> {
  await inTransaction(db, async (trx) => {
    await endSessions(trx, userId, options);
    // CAEP session-revoked: resource servers refuse the user's tokens issued before now.
    await recordSecurityEvents(trx, [{ type: 'session-revoked', subject: { user: userId } }]);
  });
}

async function endSessions(db: Db, userId: string, options: { keepSession?: string }): Promise<void> {
  let payloads = db.deleteFrom('oidc_payloads').where('account_id', '=', userId);
  // A session to keep (the browser changing its own password), by id: payload ids are stored as
  // their SHA-256 (engine/oidc-adapter.ts).
  const keep = options.keepSession;
  if (keep !== undefined) payloads = payloads.where((eb) => eb.not(eb.and([eb('model', '=', 'Session'), eb('id', '=', sha256(keep))])));
  await payloads.execute();
  await db.updateTable('access_tokens').set({ revoked_at: now() }).where('account_id', '=', userId).where('revoked_at', 'is', null).execute();
}

/** What the account pages show. */
export async function accountSummary(db: Db, userId: string): Promise<{ id: string; username: string; email: string | null; emailVerified: boolean; disabled: boolean; passwordHash: string | null; twoFactor: boolean } | undefined> {
  const row = await db.selectFrom('users').selectAll().where('id', '=', userId).executeTakeFirst();
  return (
    row && {
      id: row.id,
      username: row.username,
      email: row.email,
      emailVerified: row.email_verified === 1,
      disabled: row.disabled === 1,
      passwordHash: row.password_hash,
      twoFactor: row.totp_enabled_at !== null,
    }
  );
}
