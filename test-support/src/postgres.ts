// A PostgreSQL database of its own for each test, so parallel test runs (and parallel tests in
// one run) never see each other's rows. Created through an admin connection, dropped (with its
// connections) when the test ends.
//
// The server defaults to 127.0.0.1:5432 as `postgres` with trust auth; set
// GATEHOUSE_TEST_POSTGRES_URL to an admin URL (any database it can connect to) to use another.
import { randomBytes } from 'node:crypto';
import type { TestContext } from 'node:test';
import pg from 'pg';

export const POSTGRES_ADMIN_URL = process.env.GATEHOUSE_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** SQLSTATE 55006: a session is connected to the template being copied (template1, say) right now. */
const OBJECT_IN_USE = '55006';

async function admin<T>(run: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
  // An admin connection must never crash the test process with an unhandled 'error' event.
  client.on('error', () => {});
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}

const testDatabaseName = (url: string): string => {
  const name = decodeURIComponent(new URL(url).pathname.slice(1));
  if (!/^gatehouse_test_[0-9a-f]+$/.test(name)) throw new Error(`"${name}" is not a database made by tempPostgres`);
  return name;
};

async function createDatabase(name: string, template: string | undefined): Promise<void> {
  // Both names are ours (hex only, checked), never outside input: safe to interpolate.
  const statement = template === undefined ? `CREATE DATABASE "${name}"` : `CREATE DATABASE "${name}" TEMPLATE "${testDatabaseName(template)}"`;
  for (let attempt = 1; ; attempt++) {
    try {
      await admin((client) => client.query(statement));
      return;
    } catch (error) {
      if ((error as { code?: string }).code !== OBJECT_IN_USE || attempt >= 20) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50 * attempt));
    }
  }
}

/** Drops a database made by tempPostgres, closing whatever connections are still open to it. */
export async function dropPostgres(url: string): Promise<void> {
  const name = testDatabaseName(url);
  await admin((client) => client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
}

export interface TempPostgresOptions {
  /**
   * The URL of another database made by tempPostgres to copy (schema and rows), e.g. one
   * migrated and seeded once for many tests. Nothing may be connected to it while it is copied.
   */
  readonly template?: string;
}

/**
 * Creates a database `gatehouse_test_<random>` (empty, or a copy of `options.template`) and
 * returns its URL; it is dropped after
 * the test (`t.after`). After-hooks run in the order they are registered, so close the pools you
 * open on it first (register their `close` before calling this, or close them in the test):
 * the drop ends any connection still open, and a pool whose idle connection dies emits 'error'.
 */
export async function tempPostgres(t: Pick<TestContext, 'after'>, options: TempPostgresOptions = {}): Promise<string> {
  const name = `gatehouse_test_${randomBytes(8).toString('hex')}`;
  await createDatabase(name, options.template);
  const url = new URL(POSTGRES_ADMIN_URL);
  url.pathname = `/${name}`;
  t.after(() => dropPostgres(url.href));
  return url.href;
}
