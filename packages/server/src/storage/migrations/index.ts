// The ordered list of migrations. Names sort in the order they apply.
import type { Migration, MigrationProvider } from 'kysely/migration';
import { ConfigError } from '../../config/load.ts';
import type { Keyring } from '../../keyring.ts';
import * as initial from './001-initial.ts';
import * as apiKeysAuditRevocation from './002-api-keys-audit-revocation.ts';
import * as selfService from './003-self-service.ts';
import { encryptSecrets } from './004-encrypt-secrets.ts';
import * as clientApis from './005-client-apis.ts';
import * as adminRole from './006-admin-role.ts';
import * as dynamicClients from './007-dynamic-clients.ts';
import * as backchannelLogout from './008-backchannel-logout.ts';
import * as passkeys from './009-passkeys.ts';
import * as securityEvents from './010-security-events.ts';
import * as upstreamProviders from './011-upstream-providers.ts';

/** What data migrations need from the process running them. */
export interface MigrationContext {
  /** The secret key's keyring (004 encrypts secrets written in plaintext by earlier versions). */
  readonly keyring: () => Promise<Keyring>;
}

export function migrationProviderFor(context: MigrationContext): MigrationProvider {
  const migrations: Record<string, Migration> = {
    '001-initial': initial,
    '002-api-keys-audit-revocation': apiKeysAuditRevocation,
    '003-self-service': selfService,
    '004-encrypt-secrets': encryptSecrets(context.keyring),
    '005-client-apis': clientApis,
    '006-admin-role': adminRole,
    '007-dynamic-clients': dynamicClients,
    '008-backchannel-logout': backchannelLogout,
    '009-passkeys': passkeys,
    '010-security-events': securityEvents,
    '011-upstream-providers': upstreamProviders,
  };
  return { getMigrations: async () => migrations };
}

/** The migrations with no keyring: for listing them (doctor, tests); 004 fails if it has rows to encrypt. */
export const migrationProvider: MigrationProvider = migrationProviderFor({
  keyring: () => Promise.reject(new ConfigError(['GATEHOUSE_SECRET_KEY: migrating this database encrypts the secrets it holds, and no secret key was given'])),
});
