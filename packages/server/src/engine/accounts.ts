// Accounts for oidc-provider: a user is found by id, and a disabled user is not found at all,
// so they can neither log in nor get new tokens (refresh included).
import type { Account, FindAccount } from 'oidc-provider';
import type { Db } from '../storage/database.ts';
import { accountRecord } from '../storage/users.ts';

export function createFindAccount(db: Db): FindAccount {
  return async (_ctx, sub) => {
    const user = await accountRecord(db, sub);
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
