// Opens the database named by GATEHOUSE_DATABASE_URL: embedded SQLite (default) or PostgreSQL.
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Kysely, PostgresDialect, SqliteDialect } from 'kysely';
import { Migrator, type MigrationResultSet } from 'kysely/migration';
import pg from 'pg';
import { parseDatabaseUrl } from '../config/urls.ts';
import { migrationProvider } from './migrations/index.ts';
import { NodeSqliteDatabase } from './sqlite-driver.ts';
import type { Database } from './tables.ts';

export type Db = Kysely<Database>;

export interface Storage {
  readonly db: Db;
  readonly dialect: 'sqlite' | 'postgres';
  close(): Promise<void>;
}

const INT8_OID = 20;

export function openStorage(databaseUrl: string): Storage {
  const location = parseDatabaseUrl(databaseUrl);
  if (location.kind === 'sqlite') {
    const path = location.path === ':memory:' ? ':memory:' : resolve(location.path);
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    const db = new Kysely<Database>({
      dialect: new SqliteDialect({ database: async () => new NodeSqliteDatabase(path) }),
    });
    return { db, dialect: 'sqlite', close: () => db.destroy() };
  }
  const pool = new pg.Pool({
    connectionString: location.url,
    max: 10,
    // BIGINT columns hold epoch milliseconds, well inside Number's exact range.
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === INT8_OID ? Number : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
    },
  });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return { db, dialect: 'postgres', close: () => db.destroy() };
}

/** Applies pending migrations. Safe to run from several processes at once (Kysely takes a lock). */
export async function migrate(db: Db): Promise<MigrationResultSet> {
  const migrator = new Migrator({
    db,
    provider: migrationProvider,
    migrationTableName: 'gatehouse_migrations',
    migrationLockTableName: 'gatehouse_migrations_lock',
  });
  const result = await migrator.migrateToLatest();
  if (result.error) throw result.error;
  return result;
}
