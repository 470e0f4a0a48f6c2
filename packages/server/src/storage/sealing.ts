// Secrets at rest, for the repositories: every column that holds key material is written sealed
// (secret-key/keyring.ts) and read back opened, so the code above storage (the engine, the pages,
// the admin API) keeps handling plaintext keys while the database holds only ciphertext.
//
// The keyring travels with the database handle: `openStorage(url, { keys })` (or buildServer)
// attaches it, and repository functions that read or write a sealed column find it here. A
// handle with no keyring still serves everything else (users, clients, the CLI's management
// commands); touching a secret through it is a ConfigError naming GATEHOUSE_SECRET_KEY.
//
// Each sealed value is bound to its record (the context below is authenticated data), so a
// ciphertext copied to another row or purpose does not open there.
import { ConfigError } from '../config/load.ts';
import { loadKeyring, type KeyProvider } from '../secret-key/key-provider.ts';
import { Keyring, SealedValueError } from '../keyring.ts';

/** The records whose columns are sealed, and the identity each value is bound to. */
export const SEALED_CONTEXTS = {
  signingKey: (kid: string) => `signing_keys/${kid}/private_jwk`,
  serverSecret: (purpose: string, id: string) => `server_secrets/${purpose}/${id}/secret`,
  streamAuthorization: (id: string) => `ssf_streams/${id}/authorization_header`,
  upstreamSecret: (id: string) => `upstream_providers/${id}/client_secret`,
} as const;

const keyrings = new WeakMap<object, () => Promise<Keyring>>();

/** Attaches the keyring (or where to load it from, once, on first use) to a database handle. */
export function useKeys(db: object, keys: Keyring | KeyProvider): void {
  let loaded: Promise<Keyring> | undefined;
  keyrings.set(db, keys instanceof Keyring ? async () => keys : () => (loaded ??= loadKeyring(keys)));
}

export function hasKeys(db: object): boolean {
  return keyrings.has(db);
}

/** The keyring attached to a database handle; a ConfigError naming the setting when there is none. */
export async function keyringFor(db: object): Promise<Keyring> {
  const keyring = keyrings.get(db);
  if (!keyring) {
    throw new ConfigError(['GATEHOUSE_SECRET_KEY: this operation reads or writes secrets kept in the database, and no secret key was given']);
  }
  return keyring();
}

export async function seal(db: object, context: string, plaintext: string): Promise<string> {
  return (await keyringFor(db)).seal(plaintext, context);
}

/**
 * Opens a sealed column. A value that cannot be opened is a ConfigError naming the record and
 * the setting (never the value): the wrong key, a key missing from the keyring, or a row that
 * was not written by this server.
 */
export async function unseal(db: object, context: string, stored: string, record: string): Promise<string> {
  const keyring = await keyringFor(db);
  try {
    return keyring.open(stored, context);
  } catch (error) {
    if (error instanceof SealedValueError) throw new ConfigError([describeUnreadable(record, error, keyring)]);
    throw error;
  }
}

/** Why a record cannot be read, and what to do, in words naming the settings. */
export function describeUnreadable(record: string, error: SealedValueError, keyring: Keyring): string {
  switch (error.reason) {
    case 'unknown_key':
      return `GATEHOUSE_SECRET_KEY: ${record} is encrypted under secret key ${error.keyId}, which is neither the current key (${keyring.currentKeyId}) nor one of GATEHOUSE_SECRET_KEY_PREVIOUS: is this the key this database was encrypted with?`;
    case 'not_authentic':
      return `GATEHOUSE_SECRET_KEY: ${record} does not decrypt under secret key ${error.keyId}: the row was modified, or copied from another record`;
    case 'not_sealed':
      return `GATEHOUSE_SECRET_KEY: ${record} is not encrypted (written by an older version or by hand): check it, then run \`gatehouse secrets reencrypt\``;
  }
}
