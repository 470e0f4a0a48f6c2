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
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Kysely, Transaction } from 'kysely';
import type { Database } from './tables.ts';

const current = new AsyncLocalStorage<Transaction<Database>>();

/** The handle everything uses: the transaction in scope, if any, else the database. */
export function scoped(db: Kysely<Database>): Kysely<Database> {
  return new Proxy(db, {
    get(target, property) {
      const trx = current.getStore();
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

/** Runs `fn` in one transaction (or in the one already in scope). */
export function atomically<T>(db: Kysely<Database>, fn: () => Promise<T>): Promise<T> {
  if (current.getStore()) return fn();
  return db.transaction().execute((trx) => current.run(trx, fn));
}
