// Signing keys and server secrets (cookie-signing, CSRF, TOTP and introspection keys). Generated
// at first start and kept in storage, so every instance signs and verifies with the same keys and
// a restart changes nothing. Both are stored sealed under the secret key (sealing.ts): callers get
// plaintext, the database holds ciphertext bound to each row.
import { inTransaction, recordSecurityEvents } from './security-events.ts';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';
import { GatehouseError, isUniqueViolation } from '../errors.ts';
import { randomId } from '../secrets.ts';
import type { Db } from './database.ts';
import { SEALED_CONTEXTS, seal, unseal } from './sealing.ts';

/** ES256 is the default for tokens; RS256 is there for clients and APIs that need it. */
export const SIGNING_ALGS = ['ES256', 'RS256'] as const;
export type SigningAlg = (typeof SIGNING_ALGS)[number];

export interface SigningKey {
  readonly kid: string;
  readonly alg: SigningAlg;
  readonly state: 'next' | 'active' | 'retired';
  readonly privateJwk: JWK;
  readonly createdAt: number;
  /** When a `next` key becomes the active one. */
  readonly activatesAt: number | null;
  readonly activatedAt: number | null;
  readonly retiredAt: number | null;
}

export async function generateSigningKey(alg: SigningAlg): Promise<{ kid: string; jwk: JWK }> {
  const { privateKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'RS256' ? { modulusLength: 2048 } : {}) });
  const jwk = await exportJWK(privateKey);
  // RFC 7638 thumbprint: a kid that names the key itself, stable across instances.
  const kid = await calculateJwkThumbprint(jwk);
  return { kid, jwk: { ...jwk, kid, alg, use: 'sig' } };
}

export async function listSigningKeys(db: Db): Promise<SigningKey[]> {
  const rows = await db.selectFrom('signing_keys').selectAll().orderBy('created_at', 'desc').execute();
  return Promise.all(
    rows.map(async (row) => ({
      kid: row.kid,
      alg: row.alg as SigningAlg,
      state: row.state,
      privateJwk: JSON.parse(await unseal(db, SEALED_CONTEXTS.signingKey(row.kid), row.private_jwk, `signing key ${row.kid}`)) as JWK,
      createdAt: row.created_at,
      activatesAt: row.activates_at,
      activatedAt: row.activated_at,
      retiredAt: row.retired_at,
    })),
  );
}

const sealJwk = (db: Db, kid: string, jwk: JWK): Promise<string> => seal(db, SEALED_CONTEXTS.signingKey(kid), JSON.stringify(jwk));

/**
 * Makes sure there is one active key per algorithm. Two instances starting at once may both
 * generate one; the unique index on (alg) for active keys lets exactly one of them in.
 */
export async function ensureSigningKeys(db: Db): Promise<SigningKey[]> {
  const existing = await listSigningKeys(db);
  for (const alg of SIGNING_ALGS) {
    if (existing.some((k) => k.alg === alg && k.state === 'active')) continue;
    const { kid, jwk } = await generateSigningKey(alg);
    const at = Date.now();
    try {
      await db
        .insertInto('signing_keys')
        .values({ kid, alg, private_jwk: await sealJwk(db, kid, jwk), state: 'active', created_at: at, activated_at: at, retired_at: null, activates_at: null })
        .execute();
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
    }
  }
  return listSigningKeys(db);
}

/**
 * Returns the secrets for a purpose, newest first, creating the first one if there is none.
 * Cookie-signing keys rotate by adding a new secret: the newest signs, all of them verify.
 */
export async function ensureSecrets(db: Db, purpose: string): Promise<string[]> {
  const read = () => db.selectFrom('server_secrets').select(['id', 'secret']).where('purpose', '=', purpose).orderBy('created_at', 'desc').orderBy('id').execute();
  let rows = await read();
  if (rows.length === 0) {
    const id = 'initial';
    try {
      // A fixed id for the first secret: concurrent first starts collide on the primary key.
      const secret = await seal(db, SEALED_CONTEXTS.serverSecret(purpose, id), randomId(32));
      await db.insertInto('server_secrets').values({ purpose, id, secret, created_at: Date.now() }).execute();
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
    }
    rows = await read();
  }
  return Promise.all(rows.map((r) => unseal(db, SEALED_CONTEXTS.serverSecret(purpose, r.id), r.secret, `server secret ${purpose}/${r.id}`)));
}

/**
 * Rotation, step one: a new key for `alg`, published at once (state `next`) and used for signing
 * from `activatesAt`, so every verifier can have fetched it before the first token it signs.
 */
export async function scheduleKeyRotation(db: Db, alg: SigningAlg, activatesAt: number): Promise<SigningKey> {
  const pending = await db.selectFrom('signing_keys').select('kid').where('alg', '=', alg).where('state', '=', 'next').executeTakeFirst();
  if (pending) throw new GatehouseError('conflict', `a rotation of the ${alg} key is already scheduled (key ${pending.kid})`, { field: 'alg' });
  const { kid, jwk } = await generateSigningKey(alg);
  const at = Date.now();
  await db
    .insertInto('signing_keys')
    .values({ kid, alg, private_jwk: await sealJwk(db, kid, jwk), state: 'next', created_at: at, activates_at: activatesAt, activated_at: null, retired_at: null })
    .execute();
  return (await listSigningKeys(db)).find((k) => k.kid === kid)!;
}

/**
 * Rotation, step two: every `next` key whose time has come becomes active and the key it
 * replaces is retired (still published until tokens it signed have expired). One transaction
 * per algorithm; safe to run from several instances (the loser finds nothing left to do).
 * Returns true when something changed.
 */
export async function activateDueKeys(db: Db, at = Date.now()): Promise<boolean> {
  const due = await db.selectFrom('signing_keys').select(['kid', 'alg']).where('state', '=', 'next').where('activates_at', '<=', at).execute();
  let changed = false;
  for (const key of due) {
    await db.transaction().execute(async (trx) => {
      const still = await trx.selectFrom('signing_keys').select('kid').where('kid', '=', key.kid).where('state', '=', 'next').executeTakeFirst();
      if (!still) return;
      const retiring = await trx.selectFrom('signing_keys').select('kid').where('alg', '=', key.alg).where('state', '=', 'active').execute();
      await trx.updateTable('signing_keys').set({ state: 'retired', retired_at: at }).where('alg', '=', key.alg).where('state', '=', 'active').execute();
      await recordSecurityEvents(trx, retiring.map((old) => ({ type: 'signing-key-retired' as const, subject: { signingKey: old.kid }, payload: { state: 'retired', replaced_by: key.kid } })));
      await trx.updateTable('signing_keys').set({ state: 'active', activated_at: at }).where('kid', '=', key.kid).execute();
      changed = true;
    });
  }
  return changed;
}

/** Deletes retired keys nothing valid can have been signed with any more. */
export async function purgeRetiredKeys(db: Db, retentionMs: number, at = Date.now()): Promise<boolean> {
  return inTransaction(db, async (trx) => {
    const purged = await trx.deleteFrom('signing_keys').where('state', '=', 'retired').where('retired_at', '<', at - retentionMs).returning('kid').execute();
    await recordSecurityEvents(trx, purged.map((old) => ({ type: 'signing-key-retired' as const, subject: { signingKey: old.kid }, payload: { state: 'removed' } })));
    return purged.length > 0;
  });
}
