// Opens the database named by GATEHOUSE_DATABASE_URL: embedded SQLite (default) or PostgreSQL.
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Kysely, PostgresDialect } from 'kysely';
import { Migrator, type MigrationResultSet } from 'kysely/migration';
import pg from 'pg';
import { parseDatabaseUrl } from '../config/urls.ts';
import type { KeyProvider } from '../secret-key/key-provider.ts';
import type { Keyring } from '../keyring.ts';
import { migrationProviderFor } from './migrations/index.ts';
import { keyringFor, useKeys } from './sealing.ts';
import { scoped } from './scope.ts';
import { NodeSqliteDatabase, NodeSqliteDialect } from './sqlite-driver.ts';
import type { Database } from './tables.ts';

export type Db = Kysely<Database>;

export interface Storage {
  readonly db: Db;
  readonly dialect: 'sqlite' | 'postgres';
  close(): Promise<void>;
}

const INT8_OID = 20;

/** The file behind each SQLite Db this module opened, to serialize their migrations (below). */
const sqliteFiles = new WeakMap<Db, string>();
/** The migration running in this process on each SQLite file, if any. */
const sqliteMigrations = new Map<string, Promise<unknown>>();

export interface StorageOptions {
  /** The secret key that seals the secrets kept in the database (storage/sealing.ts). */
  readonly keys?: Keyring | KeyProvider;
}

export function openStorage(databaseUrl: string, options: StorageOptions = {}): Storage {
  const storage = openDatabase(databaseUrl);
  if (options.keys) useKeys(storage.db, options.keys);
  return storage;
}

function openDatabase(databaseUrl: string): Storage {
  const location = parseDatabaseUrl(databaseUrl);
  if (location.kind === 'sqlite') {
    const path = location.path === ':memory:' ? ':memory:' : resolve(location.path);
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    const db = scoped(
      new Kysely<Database>({
        dialect: new NodeSqliteDialect({ database: async () => new NodeSqliteDatabase(path) }),
      }),
    );
    if (path !== ':memory:') sqliteFiles.set(db, path);
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
  // An idle connection the server closes (a restart, a failover, an operator) is an error event
  // on the pool; unhandled, it would crash the process. The pool replaces it on next use.
  pool.on('error', () => {});
  const db = scoped(new Kysely<Database>({ dialect: new PostgresDialect({ pool }) }));
  return { db, dialect: 'postgres', close: () => db.destroy() };
}

/**
 * Applies pending migrations. Safe to run from several processes (and connections) at once:
 * on PostgreSQL, Kysely holds an advisory lock and migrates in a transaction; on SQLite, the
 * migrations run in one `begin immediate` transaction (see NodeSqliteDialect), so another
 * process waits for the write lock. Two connections to one SQLite file in this process are
 * queued here instead: node:sqlite waits for a lock synchronously, which would stall the very
 * event loop that has to finish the other migration.
 */
export async function migrate(db: Db): Promise<MigrationResultSet> {
  const file = sqliteFiles.get(db);
  if (file === undefined) return runMigrations(db);
  const previous = sqliteMigrations.get(file) ?? Promise.resolve();
  const current = previous.catch(() => {}).then(() => runMigrations(db));
  sqliteMigrations.set(file, current);
  try {
    return await current;
  } finally {
    if (sqliteMigrations.get(file) === current) sqliteMigrations.delete(file);
  }
}

async function runMigrations(db: Db): Promise<MigrationResultSet> {
  const migrator = new Migrator({
    db,
    // Data migrations that encrypt secrets use the keyring attached to this handle.
    provider: migrationProviderFor({ keyring: () => keyringFor(db) }),
    migrationTableName: 'gatehouse_migrations',
    migrationLockTableName: 'gatehouse_migrations_lock',
  });
  const result = await migrator.migrateToLatest();
  if (result.error) throw result.error;
  return result;
}
