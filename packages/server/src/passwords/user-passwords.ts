// A user's password as storage receives it. Storage keeps the hash it is given and never hashes:
// here a new password meets the policy and becomes an argon2id hash, and an imported hash is
// checked to be one Gatehouse can verify. Hashing happens before storage opens a transaction:
// argon2id takes tens of milliseconds and must not hold the write lock.
import { GatehouseError } from '../errors.ts';
import type { Db } from '../storage/database.ts';
import { invalidateAccountTokens } from '../storage/account-tokens.ts';
import { atomically } from '../storage/scope.ts';
import { checkNewUser, requireUser, revokeUserSessions, updatePasswordHash, type NewUser, type User } from '../storage/users.ts';
import { hashKind, hashPassword, passwordProblem } from './hash.ts';

/** A new user with a plain password (hashed with argon2id here) or an existing hash (import). */
export interface NewUserWithPassword extends Omit<NewUser, 'passwordHash'> {
  readonly password?: string | undefined;
  /** An existing argon2id or bcrypt hash (bcrypt is upgraded to argon2id at the next login). */
  readonly passwordHash?: string | undefined;
}

function checkPolicy(password: string, field: string): void {
  const problem = passwordProblem(password);
  if (problem) throw new GatehouseError('invalid_request', `password ${problem}`, { field });
}

/**
 * The user as storage takes it, its password hashed or its imported hash checked. Problems are
 * reported in the order storage reports them (username, email, then the password), each naming
 * its field under `field` (`users[2].` for a record of an import).
 */
export async function withPasswordHash(input: NewUserWithPassword, field = ''): Promise<NewUser> {
  checkNewUser(input, field);
  const { password, passwordHash, ...user } = input;
  if (password !== undefined && passwordHash !== undefined) {
    throw new GatehouseError('invalid_request', 'give either a password or a password hash, not both', { field: `${field}password` });
  }
  if (password !== undefined) {
    checkPolicy(password, `${field}password`);
    return { ...user, passwordHash: await hashPassword(password) };
  }
  if (passwordHash !== undefined) {
    if (!hashKind(passwordHash)) {
      throw new GatehouseError('invalid_request', 'password_hash must be an argon2id ($argon2id$…) or bcrypt ($2a$/$2b$/$2y$…) hash', {
        field: `${field}password_hash`,
      });
    }
    return { ...user, passwordHash };
  }
  return user;
}

/** `withPasswordHash` for each record of an import, in order, naming the record in errors. */
export async function withPasswordHashes(inputs: readonly NewUserWithPassword[]): Promise<NewUser[]> {
  const users: NewUser[] = [];
  for (const [index, input] of inputs.entries()) users.push(await withPasswordHash(input, `users[${index}].`));
  return users;
}

/**
 * Sets a user's password (an administrator: the CLI or the admin API), by username or id: the
 * policy first, then the user, then the hash. Like every password change, it ends what was issued
 * under the old one, in the same transaction: sessions, grants, refresh tokens, access tokens
 * (through introspection), and unused reset links.
 */
export async function setUserPassword(db: Db, usernameOrId: string, password: string): Promise<User> {
  checkPolicy(password, 'password');
  const user = await requireUser(db, usernameOrId);
  // Hash before the transaction: argon2id must not hold the write lock.
  const hash = await hashPassword(password);
  await atomically(db, async () => {
    await updatePasswordHash(db, user.id, hash, 'change');
    await invalidateAccountTokens(db, user.id, 'reset_password');
    await revokeUserSessions(db, user.id);
  });
  return user;
}
