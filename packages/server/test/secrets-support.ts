// Test support for secrets at rest: keyrings, raw reads of the sealed columns, and a database as
// a version before migration 004 left it (every secret in plaintext), to migrate from.
import { Migrator } from 'kysely/migration';
import { decodeSecretKey, generateSecretKey, Keyring, sealedKeyId } from '../src/keyring.ts';
import { newRecoveryCodes, newTotpSecret, recoveryCodeHashes, SecretBox } from '../src/passwords/totp.ts';
import { randomId } from '../src/secrets.ts';
import { openStorage, type Db } from '../src/storage/database.ts';
import { generateSigningKey } from '../src/storage/keys.ts';
import { migrationProvider } from '../src/storage/migrations/index.ts';
import { enableTwoFactor } from '../src/storage/two-factor.ts';
import { createUser } from '../src/storage/users.ts';
import { withPasswordHash } from '../src/passwords/user-passwords.ts';

export interface TestKey {
  /** As an operator writes it (GATEHOUSE_SECRET_KEY). */
  readonly text: string;
  readonly bytes: Buffer;
  readonly id: string;
}

export function newKey(): TestKey {
  const text = generateSecretKey();
  const bytes = decodeSecretKey(text);
  return { text, bytes, id: new Keyring(bytes).currentKeyId };
}

export function keyring(current: TestKey, ...previous: TestKey[]): Keyring {
  return new Keyring(current.bytes, previous.map((k) => k.bytes));
}

export interface RawSecret {
  readonly record: string;
  readonly stored: string;
}

/** Every sealed column as stored, by record: what a copy of the database shows. */
export async function rawSecrets(db: Db): Promise<RawSecret[]> {
  const keys = await db.selectFrom('signing_keys').select(['kid', 'private_jwk']).orderBy('kid').execute();
  const secrets = await db.selectFrom('server_secrets').select(['purpose', 'id', 'secret']).orderBy('purpose').orderBy('id').execute();
  return [
    ...keys.map((k) => ({ record: `signing key ${k.kid}`, stored: k.private_jwk })),
    ...secrets.map((s) => ({ record: `server secret ${s.purpose}/${s.id}`, stored: s.secret })),
  ];
}

/** The key id each sealed column is under (`plaintext` when it is not sealed). */
export async function keyIdsOf(db: Db): Promise<Record<string, string>> {
  return Object.fromEntries((await rawSecrets(db)).map((r) => [r.record, sealedKeyId(r.stored) ?? 'plaintext']));
}

export interface LegacyDatabase {
  /** The plaintext of every secret, by record, as the earlier version wrote it. */
  readonly plaintext: Record<string, string>;
  readonly signingKids: string[];
  /** johndoe (password `correct horse`), with two-factor on under the legacy TOTP key. */
  readonly user: { id: string; username: string; password: string; totpSecret: string };
}

/**
 * A database as a version before secrets were sealed left it: migrated up to 003, with signing
 * keys, cookie/CSRF/TOTP/introspection secrets in plaintext and a user enrolled in two-factor
 * authentication (TOTP secret sealed under the plaintext TOTP key, as then).
 */
export async function legacyDatabase(databaseUrl: string): Promise<LegacyDatabase> {
  const storage = openStorage(databaseUrl);
  try {
    const db = storage.db;
    const migrator = new Migrator({ db, provider: migrationProvider, migrationTableName: 'gatehouse_migrations', migrationLockTableName: 'gatehouse_migrations_lock' });
    const { error } = await migrator.migrateTo('003-self-service');
    if (error) throw error;
    const plaintext: Record<string, string> = {};
    const signingKids: string[] = [];
    const at = Date.now();
    for (const alg of ['ES256', 'RS256'] as const) {
      const { kid, jwk } = await generateSigningKey(alg);
      const privateJwk = JSON.stringify(jwk);
      await db.insertInto('signing_keys').values({ kid, alg, private_jwk: privateJwk, state: 'active', created_at: at, activated_at: at, retired_at: null, activates_at: null }).execute();
      plaintext[`signing key ${kid}`] = privateJwk;
      signingKids.push(kid);
    }
    for (const purpose of ['cookie', 'csrf', 'totp', 'admin-introspection']) {
      const secret = randomId(32);
      await db.insertInto('server_secrets').values({ purpose, id: 'initial', secret, created_at: at }).execute();
      plaintext[`server secret ${purpose}/initial`] = secret;
    }
    const password = 'correct horse';
    const user = await createUser(db, await withPasswordHash({ username: 'johndoe', email: 'johndoe@example.com', password }));
    const totpSecret = newTotpSecret();
    const box = new SecretBox([plaintext['server secret totp/initial']!]);
    await enableTwoFactor(db, user.id, box.seal(totpSecret), 0, recoveryCodeHashes(newRecoveryCodes()));
    return { plaintext, signingKids, user: { id: user.id, username: 'johndoe', password, totpSecret } };
  } finally {
    await storage.close();
  }
}
