// Transactions that follow the request: inside `atomically(db, fn)` every query made through
// the database handle — by Gatehouse's code or by oidc-provider through the adapter — runs in one
// transaction, without passing a transaction object through code that does not know about it.
//
// Why: issuing tokens writes several rows (consume the old refresh token, save its successor,
// record the answer for the reuse window; or a grant, an access-token record and a refresh token).
// An instance killed between two of them would leave a consumed token with no successor the
// client ever saw, or a grant with no token. In one transaction, a crash rolls everything back and
// the client's retry simply works.
//
// On SQLite every query must go through the transaction anyway: the one connection is held by it,
// and a query outside would wait for it forever.
//
// A transaction also carries what saves round trips to PostgreSQL (issue 14: a refresh waits on
// the database at most 5 times): rows read ahead in one statement, served to the code that would
// read them one by one (`remember`/`remembered`), and writes nobody waits for, queued and sent
// together in one statement (`queueWrite`).
import { AsyncLocalStorage } from 'node:async_hooks';
import { CompiledQuery, PostgresAdapter, type Compilable, type Kysely, type Transaction } from 'kysely';
import type { Database } from './tables.ts';

interface Scope {
  readonly trx: Transaction<Database>;
  /** Rows this transaction read ahead, by key (see `remember`). */
  readonly rows: Map<string, unknown>;
  /** Writes queued to be sent together, or undefined when this transaction sends each at once. */
  writes: CompiledQuery[] | undefined;
}

const current = new AsyncLocalStorage<Scope>();

/** The handle everything uses: the transaction in scope, if any, else the database. */
export function scoped(db: Kysely<Database>): Kysely<Database> {
  return new Proxy(db, {
    get(target, property) {
      const trx = current.getStore()?.trx;
      // A transaction opened inside the scope joins the one in progress.
      if (trx && property === 'transaction') {
        return () => ({ execute: <T>(fn: (t: Transaction<Database>) => Promise<T>) => fn(trx) });
      }
      const base = trx ?? target;
      const value = Reflect.get(base, property, base) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(base) : value;
    },
  });
}

export interface AtomicallyOptions {
  /**
   * Queue the writes `queueWrite` is given and send them together (PostgreSQL only: on SQLite a
   * statement is a function call, not a round trip). For transactions whose writes nobody reads
   * back before the end — every other statement of the transaction sends the queue first anyway.
   */
  readonly batchWrites?: boolean;
}

/** Runs `fn` in one transaction (or in the one already in scope). */
export function atomically<T>(db: Kysely<Database>, fn: () => Promise<T>, options: AtomicallyOptions = {}): Promise<T> {
  if (current.getStore()) return fn();
  return db.transaction().execute((trx) => {
    const batch = options.batchWrites === true && trx.getExecutor().adapter instanceof PostgresAdapter;
    const scope: Scope = { trx, rows: new Map(), writes: batch ? [] : undefined };
    return current.run(scope, async () => {
      const result = await fn();
      // Before COMMIT, which Kysely sends outside this scope.
      await sendQueuedWrites(trx);
      return result;
    });
  });
}

/** What `atomicallyKeeping` ran to: `fn`'s result, or the refusal that was kept. */
export type KeptOutcome<T> = { readonly refused: false; readonly result: T } | { readonly refused: true; readonly refusal: unknown };

/**
 * `atomically`, for a step whose refusal may itself be a decision that must stay. An error `keep`
 * accepts (a replayed code or a reused refresh token, after the grant was revoked) commits what
 * was done before it and is returned; any other error rolls everything back and is thrown.
 */
export async function atomicallyKeeping<T>(
  db: Kysely<Database>,
  fn: () => Promise<T>,
  keep: (error: unknown) => boolean,
  options: AtomicallyOptions = {},
): Promise<KeptOutcome<T>> {
  return atomically(
    db,
    async (): Promise<KeptOutcome<T>> => {
      try {
        return { refused: false, result: await fn() };
      } catch (error) {
        if (!keep(error)) throw error;
        return { refused: true, refusal: error };
      }
    },
    options,
  );
}

/**
 * Keeps a row this transaction read ahead (`undefined`: known not to exist), for the code that
 * would read it again. Outside a transaction, nothing is kept: a row read there may be stale by
 * the next statement.
 */
export function remember(key: string, row: unknown): void {
  current.getStore()?.rows.set(key, row);
}

/** The row kept under `key` in this transaction: `{ row }`, or undefined when none was kept. */
export function remembered<T>(key: string): { readonly row: T | undefined } | undefined {
  const rows = current.getStore()?.rows;
  return rows?.has(key) ? { row: rows.get(key) as T | undefined } : undefined;
}

/** Drops what was kept under the keys `prefix` starts: the rows were written since. */
export function forget(prefix: string): void {
  const rows = current.getStore()?.rows;
  for (const key of rows?.keys() ?? []) if (key.startsWith(prefix)) rows!.delete(key);
}

/**
 * Queues an INSERT whose answer nobody waits for, when this transaction batches its writes;
 * returns false when it does not (the caller executes it). A queued write's failure fails the
 * statement that sends it, and with it the transaction.
 */
export function queueWrite(query: Compilable): boolean {
  const writes = current.getStore()?.writes;
  if (writes === undefined) return false;
  const compiled = query.compile();
  if (compiled.query.kind !== 'InsertQueryNode') throw new Error('only inserts are queued');
  writes.push(compiled);
  return true;
}

/** Takes the writes queued in this transaction, for the driver to send before any other statement. */
export function takeQueuedWrites(): CompiledQuery[] {
  const scope = current.getStore();
  if (!scope?.writes?.length) return [];
  const writes = scope.writes;
  scope.writes = [];
  return writes;
}

async function sendQueuedWrites(trx: Transaction<Database>): Promise<void> {
  for (const statement of combinedWrites(takeQueuedWrites())) await trx.executeQuery(statement);
}

const tableOf = (write: CompiledQuery): string => {
  const node = write.query as { into?: { table?: { identifier?: { name?: string } } } };
  return node.into?.table?.identifier?.name ?? '';
};

/**
 * PostgreSQL statements that make the queued inserts, in order: consecutive inserts into different
 * tables become one statement (`WITH w1 AS (INSERT …), w2 AS (INSERT …) INSERT …`, every part runs
 * whether referenced or not). Two into one table stay apart: the parts of one statement see the
 * same snapshot, so a second upsert of the same row would fail there.
 */
export function combinedWrites(writes: readonly CompiledQuery[]): CompiledQuery[] {
  const groups: CompiledQuery[][] = [];
  for (const write of writes) {
    const group = groups.at(-1);
    if (group && !group.some((other) => tableOf(other) === tableOf(write))) group.push(write);
    else groups.push([write]);
  }
  return groups.map((group) => (group.length === 1 ? group[0]! : oneStatement(group)));
}

function oneStatement(group: readonly CompiledQuery[]): CompiledQuery {
  const parameters: unknown[] = [];
  const parts = group.map((write) => {
    const offset = parameters.length;
    parameters.push(...write.parameters);
    // Kysely's PostgreSQL compiler writes every value as a numbered placeholder, never inline.
    return write.sql.replace(/\$(\d+)/g, (_, n: string) => `$${Number(n) + offset}`);
  });
  const last = parts.pop()!;
  const sql = `with ${parts.map((part, i) => `w${i + 1} as (${part})`).join(', ')} ${last}`;
  return CompiledQuery.raw(sql, parameters);
}
