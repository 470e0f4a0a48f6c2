// Secrets at rest: private signing keys and server secrets written in plaintext by earlier
// versions are encrypted under the secret key (GATEHOUSE_SECRET_KEY). A data migration: it runs
// in the Migrator's transaction and under its lock, so with several instances starting at once
// exactly one encrypts, all or nothing, and the others find it done. It needs the key only when
// there is something to encrypt (a new database migrates without one). Nothing in the schema
// changes: the columns keep their names and type, their values become envelopes.
import type { Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';
import type { Keyring } from '../../keyring.ts';
import { sealPlaintextSecrets, unsealAllSecrets } from '../secrets-at-rest.ts';
import type { Database } from '../tables.ts';

export function encryptSecrets(keyring: () => Promise<Keyring>): Migration {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await sealPlaintextSecrets(db as Kysely<Database>, keyring);
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await unsealAllSecrets(db as Kysely<Database>, keyring);
    },
  };
}
