// The ordered list of migrations. Names sort in the order they apply.
import type { Migration, MigrationProvider } from 'kysely/migration';
import * as initial from './001-initial.ts';
import * as apiKeysAuditRevocation from './002-api-keys-audit-revocation.ts';
import * as selfService from './003-self-service.ts';
import * as clientApis from './005-client-apis.ts';

const migrations: Record<string, Migration> = {
  '001-initial': initial,
  '002-api-keys-audit-revocation': apiKeysAuditRevocation,
  '003-self-service': selfService,
  '005-client-apis': clientApis,
};

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => migrations,
};
