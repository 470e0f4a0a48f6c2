// TOTP enrolment and use, and recovery codes. The secret arrives here already encrypted and the
// recovery codes already hashed (passwords/totp.ts): storage keeps what it is given. Accepting a
// code is a conditional UPDATE on the last accepted time step, so one code cannot be used twice,
// even by two requests at once.
import { recordSecurityEvents } from './security-events.ts';
import type { Db } from './database.ts';
import { now } from './rows.ts';
import { atomically } from './scope.ts';

export interface TwoFactorState {
  readonly enabled: boolean;
  readonly sealedSecret: string | null;
  readonly sealedPendingSecret: string | null;
  readonly recoveryCodesLeft: number;
}

export async function twoFactorState(db: Db, userId: string): Promise<TwoFactorState | undefined> {
  const row = await db
    .selectFrom('users')
    .select(['totp_secret', 'totp_pending_secret', 'totp_enabled_at'])
    .where('id', '=', userId)
    .executeTakeFirst();
  if (!row) return undefined;
  const { n } = await db
    .selectFrom('recovery_codes')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('user_id', '=', userId)
    .where('used_at', 'is', null)
    .executeTakeFirstOrThrow();
  return {
    enabled: row.totp_enabled_at !== null,
    sealedSecret: row.totp_secret,
    sealedPendingSecret: row.totp_pending_secret,
    recoveryCodesLeft: Number(n),
  };
}

/** Keeps the secret being enrolled until a code confirms that the user's app has it. */
export async function setPendingSecret(db: Db, userId: string, sealed: string): Promise<void> {
  await db.updateTable('users').set({ totp_pending_secret: sealed }).where('id', '=', userId).execute();
}

/** The pending secret becomes the secret; recovery codes are replaced. All or nothing. */
export async function enableTwoFactor(db: Db, userId: string, sealed: string, step: number, recoveryCodeHashes: readonly string[]): Promise<void> {
  await atomically(db, async () => {
    const at = now();
    await db
      .updateTable('users')
      .set({ totp_secret: sealed, totp_pending_secret: null, totp_enabled_at: at, totp_last_step: step, updated_at: at })
      .where('id', '=', userId)
      .execute();
    await replaceRecoveryCodes(db, userId, recoveryCodeHashes);
  });
}

export async function disableTwoFactor(db: Db, userId: string): Promise<void> {
  await atomically(db, async () => {
    await db
      .updateTable('users')
      .set({ totp_secret: null, totp_pending_secret: null, totp_enabled_at: null, totp_last_step: null, updated_at: now() })
      .where('id', '=', userId)
      .execute();
    await db.deleteFrom('recovery_codes').where('user_id', '=', userId).execute();
    // CAEP credential-change: a second factor is gone (turned off by the user, or reset by an operator).
    await recordSecurityEvents(db, [{ type: 'credential-change', subject: { user: userId }, payload: { credential_type: 'app', change_type: 'delete' } }]);
  });
}

/** Replaces the user's recovery codes by these (their hashes: `recoveryCodeHashes()`). */
export async function replaceRecoveryCodes(db: Db, userId: string, codeHashes: readonly string[]): Promise<void> {
  await atomically(db, async () => {
    await db.deleteFrom('recovery_codes').where('user_id', '=', userId).execute();
    const at = now();
    await db
      .insertInto('recovery_codes')
      .values(codeHashes.map((codeHash) => ({ user_id: userId, code_hash: codeHash, created_at: at, used_at: null })))
      .execute();
  });
}

/** Records a TOTP time step as used; false when it (or a later one) was used already. */
export async function acceptTotpStep(db: Db, userId: string, step: number): Promise<boolean> {
  const result = await db
    .updateTable('users')
    .set({ totp_last_step: step })
    .where('id', '=', userId)
    .where((eb) => eb.or([eb('totp_last_step', 'is', null), eb('totp_last_step', '<', step)]))
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/** Uses a recovery code (by its hash: `recoveryCodeHash()`): once. */
export async function consumeRecoveryCode(db: Db, userId: string, codeHash: string): Promise<boolean> {
  const result = await db
    .updateTable('recovery_codes')
    .set({ used_at: now() })
    .where('user_id', '=', userId)
    .where('code_hash', '=', codeHash)
    .where('used_at', 'is', null)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}
