// Single-use links sent by email (email verification, password reset). The token is 256 random
// bits; only its SHA-256 is stored, so a database leak reveals no working link. Consuming one is
// a conditional UPDATE: of two clicks at the same moment exactly one succeeds.
import { randomBytes } from 'node:crypto';
import { sha256 } from '../secrets.ts';
import type { Db } from './database.ts';
import { now } from './rows.ts';
import type { AccountTokensTable } from './tables.ts';

export type AccountTokenPurpose = AccountTokensTable['purpose'];

export interface AccountToken {
  readonly userId: string;
  readonly email: string;
  readonly returnTo: string | null;
  readonly expiresAt: number;
}

export interface NewAccountToken {
  readonly purpose: AccountTokenPurpose;
  readonly userId: string;
  readonly email: string;
  readonly returnTo?: string | undefined;
  readonly ttlSeconds: number;
}

const TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/;

export async function issueAccountToken(db: Db, input: NewAccountToken): Promise<string> {
  const token = randomBytes(32).toString('base64url');
  const at = now();
  await db
    .insertInto('account_tokens')
    .values({
      id: sha256(token),
      purpose: input.purpose,
      user_id: input.userId,
      email: input.email,
      return_to: input.returnTo ?? null,
      created_at: at,
      expires_at: at + input.ttlSeconds * 1000,
      consumed_at: null,
    })
    .execute();
  return token;
}

function toAccountToken(row: AccountTokensTable): AccountToken {
  return { userId: row.user_id, email: row.email, returnTo: row.return_to, expiresAt: row.expires_at };
}

/** A token that is still usable, without using it (the page a link opens shows a form first). */
export async function peekAccountToken(db: Db, purpose: AccountTokenPurpose, token: unknown): Promise<AccountToken | undefined> {
  if (typeof token !== 'string' || !TOKEN_SHAPE.test(token)) return undefined;
  const row = await db
    .selectFrom('account_tokens')
    .selectAll()
    .where('id', '=', sha256(token))
    .where('purpose', '=', purpose)
    .where('consumed_at', 'is', null)
    .where('expires_at', '>', now())
    .executeTakeFirst();
  return row && toAccountToken(row);
}

/**
 * Uses a token: once. Call inside `atomically` with what the token allows, so that a failure
 * afterwards leaves the link usable.
 */
export async function consumeAccountToken(db: Db, purpose: AccountTokenPurpose, token: unknown): Promise<AccountToken | undefined> {
  if (typeof token !== 'string' || !TOKEN_SHAPE.test(token)) return undefined;
  const id = sha256(token);
  const at = now();
  const result = await db
    .updateTable('account_tokens')
    .set({ consumed_at: at })
    .where('id', '=', id)
    .where('purpose', '=', purpose)
    .where('consumed_at', 'is', null)
    .where('expires_at', '>', at)
    .executeTakeFirst();
  if (Number(result.numUpdatedRows) !== 1) return undefined;
  const row = await db.selectFrom('account_tokens').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
  return toAccountToken(row);
}

/** Every other unused token of this kind for the user stops working (after a reset, say). */
export async function invalidateAccountTokens(db: Db, userId: string, purpose: AccountTokenPurpose): Promise<void> {
  await db
    .updateTable('account_tokens')
    .set({ consumed_at: now() })
    .where('user_id', '=', userId)
    .where('purpose', '=', purpose)
    .where('consumed_at', 'is', null)
    .execute();
}

export async function purgeExpiredAccountTokens(db: Db, at = now()): Promise<void> {
  await db.deleteFrom('account_tokens').where('expires_at', '<', at - 86400_000).execute();
}
