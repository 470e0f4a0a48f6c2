// Accounts for oidc-provider: a user is found by id, and a disabled user is not found at all,
// so they can neither log in nor get new tokens (refresh included).
import type { Account, FindAccount } from 'oidc-provider';
import type { Db } from '../storage/database.ts';
import { remember, remembered } from '../storage/scope.ts';
import type { UsersTable } from '../storage/tables.ts';
import { accountRecord } from '../storage/users.ts';

/** What an account is made of. */
export type AccountFields = Pick<UsersTable, 'id' | 'username' | 'email' | 'email_verified' | 'updated_at' | 'disabled'>;

const accountKey = (id: string) => `users:${id}`;

/**
 * Keeps a user's row (`undefined`: no such user) that the transaction in scope read ahead, so
 * finding the account in the same transaction answers from it instead of reading it again.
 */
export function rememberAccount(id: string, user: AccountFields | undefined): void {
  remember(accountKey(id), user);
}

async function accountFields(db: Db, id: string): Promise<AccountFields | undefined> {
  const kept = remembered<AccountFields>(accountKey(id));
  return kept ? kept.row : accountRecord(db, id);
}

export function createFindAccount(db: Db): FindAccount {
  return async (_ctx, sub) => {
    const user = await accountFields(db, sub);
    if (!user || user.disabled === 1) return undefined;
    const account: Account = {
      accountId: user.id,
      async claims() {
        return {
          sub: user.id,
          preferred_username: user.username,
          ...(user.email === null ? {} : { email: user.email, email_verified: user.email_verified === 1 }),
          updated_at: Math.floor(user.updated_at / 1000),
        };
      },
    };
    return account;
  };
}
