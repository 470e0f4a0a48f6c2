// Opens the database named by GATEHOUSE_DATABASE_URL: embedded SQLite (default) or PostgreSQL.
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Kysely, PostgresDialect, type PostgresPool, type PostgresPoolClient } from 'kysely';
import { Migrator, type MigrationResultSet } from 'kysely/migration';
import pg from 'pg';
import type { Config } from '../config/schema.ts';
import { parseDatabaseUrl } from '../config/urls.ts';
import type { KeyProvider } from '../secret-key/key-provider.ts';
import type { Keyring } from '../keyring.ts';
import { DependencyUnavailable, NETWORK_ERROR_CODES } from '../unavailable.ts';
import { migrationProviderFor } from './migrations/index.ts';
import { keyringFor, useKeys } from './sealing.ts';
import { combinedWrites, scoped, takeQueuedWrites } from './scope.ts';
import { NodeSqliteDatabase, NodeSqliteDialect } from './sqlite-driver.ts';
import type { Database } from './tables.ts';

export type Db = Kysely<Database>;

export interface Storage {
  readonly db: Db;
  readonly dialect: 'sqlite' | 'postgres';
  close(): Promise<void>;
}

const INT8_OID = 20;

/** How long to wait on PostgreSQL, in seconds (0: no limit). SQLite has its own busy timeout. */
export interface DatabaseTimeouts {
  /** Opening a connection, or waiting for a free one in the pool. */
  readonly connect: number;
  /** PostgreSQL cancels a statement running longer (statement_timeout). */
  readonly statement: number;
  /** Gatehouse gives up on an answer that does not come (a frozen server, a lost network). */
  readonly query: number;
}

/** The timeouts the settings give (GATEHOUSE_DATABASE_*_TIMEOUT). */
export function databaseTimeouts(config: Pick<Config, 'databaseConnectTimeout' | 'databaseStatementTimeout' | 'databaseQueryTimeout'>): DatabaseTimeouts {
  return { connect: config.databaseConnectTimeout, statement: config.databaseStatementTimeout, query: config.databaseQueryTimeout };
}

/** The settings' defaults (config/schema.ts), for callers without a configuration. */
export const DEFAULT_TIMEOUTS: DatabaseTimeouts = { connect: 3, statement: 5, query: 6 };

/** The file behind each SQLite Db this module opened, to serialize their migrations (below). */
const sqliteFiles = new WeakMap<Db, string>();
/** The migration running in this process on each SQLite file, if any. */
const sqliteMigrations = new Map<string, Promise<unknown>>();

export interface StorageOptions {
  /** The secret key that seals the secrets kept in the database (storage/sealing.ts). */
  readonly keys?: Keyring | KeyProvider;
  /** Connection, statement and query deadlines (PostgreSQL); the settings' defaults otherwise. */
  readonly timeouts?: DatabaseTimeouts;
}

export function openStorage(databaseUrl: string, options: StorageOptions = {}): Storage {
  const storage = openDatabase(databaseUrl, options.timeouts ?? DEFAULT_TIMEOUTS);
  if (options.keys) useKeys(storage.db, options.keys);
  return storage;
}

function openDatabase(databaseUrl: string, timeouts: DatabaseTimeouts): Storage {
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
    Client: GuardedClient,
    connectionTimeoutMillis: timeouts.connect * 1000,
    // 0 is "no limit" for both, as for PostgreSQL itself.
    statement_timeout: timeouts.statement * 1000,
    query_timeout: timeouts.query * 1000,
    // A transaction left idle longer than Gatehouse would wait for any answer belongs to a
    // stuck instance (frozen, partitioned): PostgreSQL ends it, so its row locks do not hold
    // every other instance's refreshes of the same tokens.
    idle_in_transaction_session_timeout: timeouts.query * 1000,
    // BIGINT columns hold epoch milliseconds, well inside Number's exact range.
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === INT8_OID ? Number : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
    },
  });
  // An idle connection the server closes (a restart, a failover, an operator) is an error event
  // on the pool; unhandled, it would crash the process. The pool replaces it on next use.
  pool.on('error', () => {});
  const db = scoped(new Kysely<Database>({ dialect: new PostgresDialect({ pool: guardedPool(pool) }) }));
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

/**
 * A pg Client that never crashes the process. pg-pool listens for 'error' only on idle clients
 * and removes that listener while a client is checked out — and a transaction keeps its client
 * checked out across awaits — so a connection dying under a request (PostgreSQL stopped: 57P01,
 * or the socket just closing) would be an unhandled 'error' event. The query in flight fails
 * anyway, with the same error: that is where it is handled.
 */
class GuardedClient extends pg.Client {
  constructor(config?: string | pg.ClientConfig) {
    super(config);
    this.on('error', () => {});
  }
}

/**
 * PostgreSQL failures that say the server is away, overloaded or too slow — not that the query
 * is wrong: SQLSTATE classes 08 (connection exception) and 53 (insufficient resources: disk
 * full, out of memory, too many connections), 57P01-57P03 (shutting down, cannot connect now),
 * 57014 (statement_timeout), 25P03 (idle-in-transaction timeout), socket errors, and node-pg's
 * own connection and timeout errors.
 */
function isPostgresUnavailable(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  if (typeof code === 'string' && (NETWORK_ERROR_CODES.has(code) || /^(08|53)[0-9A-Z]{3}$/.test(code) || ['57P01', '57P02', '57P03', '57014', '25P03'].includes(code))) {
    return true;
  }
  return typeof message === 'string' && /^Connection terminated|^timeout exceeded when trying to connect|^Query read timeout|is not queryable/.test(message);
}

/**
 * The pool as Kysely sees it: failures that mean "PostgreSQL is unavailable" become
 * DependencyUnavailable (answered 503 by every edge), and a connection that failed that way is
 * discarded, not reused: after a query timeout the old query may still be running on it.
 */
function guardedPool(pool: pg.Pool): PostgresPool {
  const unavailable = (error: unknown) => (isPostgresUnavailable(error) ? new DependencyUnavailable('database', { cause: error }) : error);
  const wrappers = new WeakMap<pg.PoolClient, PostgresPoolClient>();
  return {
    options: pool.options,
    async connect() {
      let client: pg.PoolClient;
      try {
        client = await pool.connect();
      } catch (error) {
        throw unavailable(error);
      }
      let wrapper = wrappers.get(client);
      if (wrapper === undefined) {
        let broken = false;
        const query = (async (...args: [string, unknown[]]) => {
          if (broken) throw new DependencyUnavailable('database', { message: 'the connection failed earlier' });
          try {
            // Writes the transaction queued (storage/scope.ts) go first: this statement may read them.
            for (const write of combinedWrites(takeQueuedWrites())) await client.query(write.sql, [...write.parameters]);
            return await client.query(...args);
          } catch (error) {
            const converted = unavailable(error);
            if (converted !== error) broken = true;
            throw converted;
          }
        }) as unknown as PostgresPoolClient['query'];
        wrapper = { query, release: (destroy?: boolean) => client.release(destroy === true || broken) };
        wrappers.set(client, wrapper);
      }
      return wrapper;
    },
    end: () => pool.end(),
  };
}
