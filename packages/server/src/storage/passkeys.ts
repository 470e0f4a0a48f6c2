// Passkeys: a user's WebAuthn credentials, as the passkey ceremonies (passkeys/webauthn.ts) hand
// them over. Only public keys are stored. Recording a use is a conditional UPDATE on the counter
// the assertion was checked against, so two requests replaying one assertion cannot both pass.
import { recordSecurityEvents } from './security-events.ts';
import { GatehouseError, isUniqueViolation } from '../errors.ts';
import type { Db } from './database.ts';
import { iso, jsonArray, now } from './rows.ts';
import { atomically } from './scope.ts';
import type { PasskeysTable } from './tables.ts';

export interface Passkey {
  readonly id: string;
  readonly userId: string;
  /** base64url. */
  readonly credentialId: string;
  /** The COSE public key, base64url. */
  readonly publicKey: string;
  readonly signCount: number;
  readonly transports: readonly string[];
  readonly name: string;
  readonly createdAt: string;
  readonly lastUsedAt: string | null;
}

export interface NewPasskey {
  readonly userId: string;
  readonly credentialId: string;
  readonly publicKey: string;
  readonly signCount: number;
  readonly transports: readonly string[];
  readonly name: string;
}

function toPasskey(row: PasskeysTable): Passkey {
  return {
    id: row.id,
    userId: row.user_id,
    credentialId: row.credential_id,
    publicKey: row.public_key,
    // PostgreSQL returns BIGINT as a string.
    signCount: Number(row.sign_count),
    transports: jsonArray(row.transports),
    name: row.name,
    createdAt: iso(Number(row.created_at))!,
    lastUsedAt: iso(row.last_used_at === null ? null : Number(row.last_used_at)),
  };
}

export async function addPasskey(db: Db, input: NewPasskey): Promise<Passkey> {
  const row: PasskeysTable = {
    id: crypto.randomUUID(),
    user_id: input.userId,
    credential_id: input.credentialId,
    public_key: input.publicKey,
    sign_count: input.signCount,
    transports: JSON.stringify(input.transports),
    name: input.name,
    created_at: now(),
    last_used_at: null,
  };
  try {
    await db.insertInto('passkeys').values(row).execute();
  } catch (error) {
    if (isUniqueViolation(error)) throw new GatehouseError('conflict', 'this passkey is registered already', { cause: error });
    throw error;
  }
  return toPasskey(row);
}

/** A user's passkeys, oldest first. */
export async function listPasskeys(db: Db, userId: string): Promise<Passkey[]> {
  const rows = await db.selectFrom('passkeys').selectAll().where('user_id', '=', userId).orderBy('created_at').orderBy('id').execute();
  return rows.map(toPasskey);
}

/** The passkey an assertion names (by its credential id), whoever it belongs to. */
export async function findPasskeyByCredentialId(db: Db, credentialId: string): Promise<Passkey | undefined> {
  if (credentialId.length === 0 || credentialId.length > 1400) return undefined;
  const row = await db.selectFrom('passkeys').selectAll().where('credential_id', '=', credentialId).executeTakeFirst();
  return row && toPasskey(row);
}

/**
 * Records a verified sign-in: the new counter and the time. False when the counter changed since
 * the assertion was checked against it (the same assertion used twice at once).
 */
export async function recordPasskeyUse(db: Db, id: string, checkedCount: number, newCount: number): Promise<boolean> {
  const result = await db
    .updateTable('passkeys')
    .set({ sign_count: newCount, last_used_at: now() })
    .where('id', '=', id)
    .where('sign_count', '=', checkedCount)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

export type PasskeyRemoval = { readonly kind: 'removed'; readonly passkey: Passkey } | { readonly kind: 'not_found' } | { readonly kind: 'last_way_in' };

/**
 * Removes one of the user's passkeys, unless it is their last way to sign in (no password and no
 * other passkey): checked and done in one transaction, so two removals at once cannot both pass.
 */
export async function removePasskey(db: Db, userId: string, id: string): Promise<PasskeyRemoval> {
  return atomically(db, async () => {
    const row = await db.selectFrom('passkeys').selectAll().where('id', '=', id).where('user_id', '=', userId).executeTakeFirst();
    if (!row) return { kind: 'not_found' } as const;
    const user = await db.selectFrom('users').select('password_hash').where('id', '=', userId).executeTakeFirst();
    const { n } = await db
      .selectFrom('passkeys')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('user_id', '=', userId)
      .executeTakeFirstOrThrow();
    const linked = await db.selectFrom('upstream_identities').select('id').where('user_id', '=', userId).limit(1).executeTakeFirst();
    if (!user?.password_hash && !linked && Number(n) <= 1) return { kind: 'last_way_in' } as const;
    await db.deleteFrom('passkeys').where('id', '=', id).where('user_id', '=', userId).execute();
    await recordSecurityEvents(db, [{ type: 'credential-change', subject: { user: userId }, payload: { credential_type: 'fido2-platform', change_type: 'delete' } }]);
    return { kind: 'removed', passkey: toPasskey(row) } as const;
  });
}
