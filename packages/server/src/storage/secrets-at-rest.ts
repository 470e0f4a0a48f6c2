// Operations over every sealed secret in the database at once: the start check (can this keyring
// read them all?), the first encryption of rows written before secrets were sealed (migration
// 004), re-encryption under the current key after a rotation (`gatehouse secrets reencrypt`) and
// the report `gatehouse doctor` prints. The repositories seal and open one row at a time
// (keys.ts through sealing.ts); this module is where the list of sealed columns lives.
import type { Kysely } from 'kysely';
import { ConfigError } from '../config/load.ts';
import { SealedValueError, sealedKeyId, type Keyring } from '../keyring.ts';
import { describeUnreadable, keyringFor, SEALED_CONTEXTS } from './sealing.ts';
import { atomically } from './scope.ts';
import type { Database } from './tables.ts';

type Handle = Kysely<Database>;

interface SealedRow {
  /** What the row is, for messages ("signing key abc", "server secret cookie/initial"). */
  readonly record: string;
  readonly context: string;
  readonly stored: string;
  /** Replaces the stored value, only if it is still the one read (a concurrent writer wins). */
  replace(db: Handle, value: string): Promise<boolean>;
}

const updated = (result: { numUpdatedRows: bigint }) => Number(result.numUpdatedRows) === 1;

/**
 * Every sealed column of every row: private signing keys, server secrets, push streams'
 * Authorization headers and upstream providers' client secrets (the last two only once their
 * migrations made the tables: migration 004 reads this too).
 */
async function sealedRows(db: Handle): Promise<SealedRow[]> {
  const keys = await db.selectFrom('signing_keys').select(['kid', 'private_jwk']).orderBy('kid').execute();
  const secrets = await db.selectFrom('server_secrets').select(['purpose', 'id', 'secret']).orderBy('purpose').orderBy('id').execute();
  const tables = new Set((await db.introspection.getTables()).map((table) => table.name));
  const streams = tables.has('ssf_streams')
    ? await db.selectFrom('ssf_streams').select(['id', 'authorization_header']).where('authorization_header', 'is not', null).orderBy('id').execute()
    : [];
  const providers = tables.has('upstream_providers') ? await db.selectFrom('upstream_providers').select(['id', 'client_secret']).orderBy('id').execute() : [];
  return [
    ...streams.map((row) => ({
      record: `stream ${row.id}'s authorization header`,
      context: SEALED_CONTEXTS.streamAuthorization(row.id),
      stored: row.authorization_header!,
      replace: async (trx: Handle, value: string) =>
        updated(
          await trx
            .updateTable('ssf_streams')
            .set({ authorization_header: value })
            .where('id', '=', row.id)
            .where('authorization_header', '=', row.authorization_header)
            .executeTakeFirstOrThrow(),
        ),
    })),
    ...providers.map((row) => ({
      record: `upstream provider ${row.id}'s client secret`,
      context: SEALED_CONTEXTS.upstreamSecret(row.id),
      stored: row.client_secret,
      replace: async (trx: Handle, value: string) =>
        updated(await trx.updateTable('upstream_providers').set({ client_secret: value }).where('id', '=', row.id).where('client_secret', '=', row.client_secret).executeTakeFirstOrThrow()),
    })),
    ...keys.map((row) => ({
      record: `signing key ${row.kid}`,
      context: SEALED_CONTEXTS.signingKey(row.kid),
      stored: row.private_jwk,
      replace: async (trx: Handle, value: string) =>
        updated(await trx.updateTable('signing_keys').set({ private_jwk: value }).where('kid', '=', row.kid).where('private_jwk', '=', row.private_jwk).executeTakeFirstOrThrow()),
    })),
    ...secrets.map((row) => ({
      record: `server secret ${row.purpose}/${row.id}`,
      context: SEALED_CONTEXTS.serverSecret(row.purpose, row.id),
      stored: row.secret,
      replace: async (trx: Handle, value: string) =>
        updated(
          await trx
            .updateTable('server_secrets')
            .set({ secret: value })
            .where('purpose', '=', row.purpose)
            .where('id', '=', row.id)
            .where('secret', '=', row.secret)
            .executeTakeFirstOrThrow(),
        ),
    })),
  ];
}

export type SealedStatus = 'current' | 'previous' | 'not_sealed' | 'unknown_key' | 'not_authentic';

export interface SealedRowReport {
  readonly record: string;
  readonly status: SealedStatus;
  /** The key the row is encrypted under, if it is encrypted. */
  readonly keyId: string | undefined;
  /** What to do about it, naming the setting or command (rows that are not readable). */
  readonly problem?: string;
}

/** What the keyring makes of every sealed row: under the current key, a previous one, or unreadable (and why). */
export async function inspectSecrets(db: Handle, keyring: Keyring): Promise<SealedRowReport[]> {
  return (await sealedRows(db)).map((row) => {
    const keyId = sealedKeyId(row.stored);
    try {
      keyring.open(row.stored, row.context);
      return { record: row.record, status: keyId === keyring.currentKeyId ? 'current' : 'previous', keyId };
    } catch (error) {
      if (!(error instanceof SealedValueError)) throw error;
      return { record: row.record, status: error.reason, keyId, problem: describeUnreadable(row.record, error, keyring) };
    }
  });
}

/**
 * At start, before anything reads a secret: every sealed row opens with the keyring attached to
 * `db`, or the server refuses to start with a ConfigError naming the setting (the wrong key is
 * said at once, never found later as a failing request).
 */
export async function checkSecretsReadable(db: Handle): Promise<void> {
  const reports = await inspectSecrets(db, await keyringFor(db));
  const problems = [...new Set(reports.flatMap((r) => (r.problem ? [summarize(reports, r)] : [])))];
  if (problems.length > 0) throw new ConfigError(problems);
}

/**
 * One line per row, except for rows under a key the keyring lacks (the wrong key: every row at
 * once): one line for all of them.
 */
function summarize(reports: readonly SealedRowReport[], report: SealedRowReport): string {
  if (report.status !== 'unknown_key') return report.problem!;
  const alike = reports.filter((r) => r.status === 'unknown_key' && r.keyId === report.keyId);
  const first = alike[0]!;
  return alike.length === 1 ? first.problem! : `${first.problem!} (and ${alike.length - 1} more secret(s) like it)`;
}

/**
 * Migration 004: encrypts the rows written in plaintext before secrets were sealed. Runs inside
 * the migration's transaction (under the Migrator's lock), so it happens once, completely or not
 * at all, however many instances start together. Asks for the keyring only when there is
 * something to encrypt: a new, empty database migrates without one.
 */
export async function sealPlaintextSecrets(db: Handle, keyring: () => Promise<Keyring>): Promise<number> {
  const plaintext = (await sealedRows(db)).filter((row) => sealedKeyId(row.stored) === undefined);
  if (plaintext.length === 0) return 0;
  const keys = await keyring();
  let sealed = 0;
  for (const row of plaintext) if (await row.replace(db, keys.seal(row.stored, row.context))) sealed++;
  return sealed;
}

/** The reverse, for migrating down: the rows back in plaintext. */
export async function unsealAllSecrets(db: Handle, keyring: () => Promise<Keyring>): Promise<void> {
  const rows = (await sealedRows(db)).filter((row) => sealedKeyId(row.stored) !== undefined);
  if (rows.length === 0) return;
  const keys = await keyring();
  for (const row of rows) await row.replace(db, keys.open(row.stored, row.context));
}

export interface ReencryptResult {
  /** The key everything is now encrypted under. */
  readonly keyId: string;
  /** Re-encrypted rows, by the key they were under (`unencrypted` for plaintext rows). */
  readonly reencrypted: Readonly<Record<string, number>>;
  /** Rows already under the current key. */
  readonly unchanged: number;
}

/**
 * After a rotation of the secret key: every secret not under the current key (under a previous
 * key, or unencrypted) is re-encrypted under it, in one transaction (SQLite: `begin immediate`).
 * A row no key of the keyring opens stops it all (nothing changes) with a ConfigError naming it.
 */
export async function reencryptSecrets(db: Handle): Promise<ReencryptResult> {
  const keyring = await keyringFor(db);
  return atomically(db, async () => {
    const reencrypted: Record<string, number> = {};
    const problems: string[] = [];
    let unchanged = 0;
    for (const row of await sealedRows(db)) {
      const keyId = sealedKeyId(row.stored);
      if (keyId === keyring.currentKeyId) {
        unchanged++;
        continue;
      }
      let plaintext: string;
      try {
        plaintext = keyId === undefined ? row.stored : keyring.open(row.stored, row.context);
      } catch (error) {
        if (!(error instanceof SealedValueError)) throw error;
        problems.push(describeUnreadable(row.record, error, keyring));
        continue;
      }
      if (await row.replace(db, keyring.seal(plaintext, row.context))) {
        const from = keyId ?? 'unencrypted';
        reencrypted[from] = (reencrypted[from] ?? 0) + 1;
      }
    }
    if (problems.length > 0) throw new ConfigError(problems);
    return { keyId: keyring.currentKeyId, reencrypted, unchanged };
  });
}
