// Kysely's SqliteDialect speaks the better-sqlite3 interface; this adapts Node's built-in
// `node:sqlite` to it so the embedded default needs no native build.
import { DatabaseSync, type StatementSync, type SQLInputValue } from 'node:sqlite';
import { SqliteAdapter, SqliteDialect, type SqliteDatabase, type SqliteStatement } from 'kysely';
import { DependencyUnavailable } from '../unavailable.ts';

const STATEMENT_CACHE_SIZE = 256;

/**
 * SQLite result codes (primary, the low byte of the extended code) that say the file cannot be
 * used now, not that the statement is wrong: BUSY and LOCKED (another process holds the lock past
 * the busy timeout), READONLY, IOERR, FULL (the disk), CANTOPEN.
 */
const UNAVAILABLE_CODES = new Set([5, 6, 8, 10, 13, 14]);

function converted(error: unknown): unknown {
  const code = (error as { errcode?: unknown } | null)?.errcode;
  return typeof code === 'number' && UNAVAILABLE_CODES.has(code & 0xff) ? new DependencyUnavailable('database', { cause: error }) : error;
}

function guarded<A extends unknown[], R>(run: (...args: A) => R): (...args: A) => R {
  return (...args) => {
    try {
      return run(...args);
    } catch (error) {
      throw converted(error);
    }
  };
}

function bind(parameters: ReadonlyArray<unknown>): SQLInputValue[] {
  return parameters.map((value) => {
    if (value === undefined) return null;
    // node:sqlite binds no booleans; the schema stores them as 0/1 on both dialects.
    if (typeof value === 'boolean') return value ? 1 : 0;
    return value as SQLInputValue;
  });
}

export class NodeSqliteDatabase implements SqliteDatabase {
  readonly #db: DatabaseSync;
  readonly #statements = new Map<string, SqliteStatement>();

  constructor(path: string) {
    // `timeout` is SQLite's busy timeout: another process (the CLI while the server runs)
    // holding the write lock makes us wait instead of failing with SQLITE_BUSY.
    this.#db = guarded(() => new DatabaseSync(path, { timeout: 10_000 }))();
    guarded(() => {
      this.#db.exec('PRAGMA journal_mode = WAL');
      this.#db.exec('PRAGMA synchronous = NORMAL');
      this.#db.exec('PRAGMA foreign_keys = ON');
    })();
  }

  close(): void {
    this.#statements.clear();
    if (this.#db.isOpen) this.#db.close();
  }

  prepare(sql: string): SqliteStatement {
    // Kysely opens transactions with a deferred BEGIN. A deferred transaction that reads and
    // then writes fails at once with SQLITE_BUSY when another process wrote in between, so
    // every transaction takes the write lock up front (and waits for it with the busy timeout).
    const text = sql === 'begin' ? 'begin immediate' : sql;
    let statement = this.#statements.get(text);
    if (statement) {
      // Keep the map in least-recently-used order.
      this.#statements.delete(text);
      this.#statements.set(text, statement);
      return statement;
    }
    statement = wrap(guarded(() => this.#db.prepare(text))());
    if (text === 'rollback') statement = this.#rollback(statement);
    this.#statements.set(text, statement);
    if (this.#statements.size > STATEMENT_CACHE_SIZE) {
      this.#statements.delete(this.#statements.keys().next().value!);
    }
    return statement;
  }

  /**
   * Some errors (SQLITE_FULL, SQLITE_IOERR…) end the transaction on their own: a ROLLBACK then
   * fails with "cannot rollback - no transaction is active", and Kysely would throw that instead
   * of the error that says what happened. Nothing to roll back is not an error.
   */
  #rollback(statement: SqliteStatement): SqliteStatement {
    return {
      ...statement,
      run: (parameters) => (this.#db.isTransaction ? statement.run(parameters) : { changes: 0, lastInsertRowid: 0 }),
    };
  }
}

function wrap(statement: StatementSync): SqliteStatement {
  return {
    reader: statement.columns().length > 0,
    all: guarded((parameters) => statement.all(...bind(parameters))),
    run: guarded((parameters) => statement.run(...bind(parameters))),
    iterate: guarded((parameters) => statement.iterate(...bind(parameters))),
  };
}

/**
 * SQLite runs DDL inside transactions, but Kysely's SqliteAdapter says it does not, so its
 * Migrator would apply migrations with no transaction and no lock: two processes migrating a
 * new file at once both see "001 pending" and the second fails on `create table`. Declaring
 * transactional DDL makes the Migrator read the applied migrations and apply the pending ones
 * in one transaction, which `begin immediate` (above) opens with the write lock held: a second
 * process waits for it, then finds nothing left to do.
 */
class TransactionalDdlSqliteAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true;
  }
}

export class NodeSqliteDialect extends SqliteDialect {
  override createAdapter(): SqliteAdapter {
    return new TransactionalDdlSqliteAdapter();
  }
}
