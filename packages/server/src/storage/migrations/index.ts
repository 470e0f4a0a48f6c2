// The ordered list of migrations. Names sort in the order they apply.
import type { Migration, MigrationProvider } from 'kysely/migration';
import * as initial from './001-initial.ts';

const migrations: Record<string, Migration> = {
  '001-initial': initial,
};

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => migrations,
};
