// How many times one refresh-token grant waits on the database (issue 14: at most 5 on
// PostgreSQL). Counted, not timed: the driver is wrapped, and every statement sent on behalf of
// the refresh request (BEGIN and COMMIT included) is one round trip — node-pg sends one query
// and waits for its answer before the next, and the extended protocol's parse/bind/execute of
// one query travel together.
//
// Only the request's own statements count: the request runs through fastify.inject inside an
// AsyncLocalStorage scope, and the wrapped driver counts a statement only when it is sent from
// that scope (background jobs — the purge, key maintenance — are not the refresh's cost).
import assert from 'node:assert/strict';
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import { test, type TestContext } from 'node:test';
import pg from 'pg';
import { ITEMS_API, seedDemo, startInProcess, type DemoSeed, type Env, type InProcessServer } from '@gatehouse/test-support/gatehouse';
import { tempPostgres } from '@gatehouse/test-support/postgres';
import { NodeSqliteDatabase } from '../src/storage/sqlite-driver.ts';

/** The statements sent from inside `counted(...)`, in order. */
const scope = new AsyncLocalStorage<string[]>();

/** Runs `fn` and returns what it returned with every statement the driver sent meanwhile for it. */
async function counted<T>(fn: () => Promise<T>): Promise<{ result: T; statements: string[] }> {
  const statements: string[] = [];
  const result = await scope.run(statements, fn);
  return { result, statements };
}

/** Wraps `object[method]` so every call from inside `counted` records its SQL; undone after the test. */
function countCalls(t: TestContext, object: object, method: string, sqlOf: (args: unknown[]) => unknown): void {
  const target = object as Record<string, (...args: unknown[]) => unknown>;
  const original = target[method]!;
  target[method] = function (this: unknown, ...args: unknown[]) {
    const sql = sqlOf(args);
    scope.getStore()?.push(typeof sql === 'string' ? sql : JSON.stringify(sql));
    return original.apply(this, args);
  };
  t.after(() => {
    target[method] = original;
  });
}

/** pg's Client.query(text | config, values?, callback?): each call is one request and its answer. */
const pgSql = (args: unknown[]) => (typeof args[0] === 'string' ? args[0] : (args[0] as { text?: string } | undefined)?.text);

async function refreshServer(t: TestContext, env: Env): Promise<{ gh: InProcessServer; seed: DemoSeed }> {
  const gh = await startInProcess(t, { GATEHOUSE_DEFAULT_API: ITEMS_API, ...env });
  return { gh, seed: await seedDemo(gh.db) };
}

/** POSTs a form to the token endpoint through fastify.inject, so it runs in the caller's async scope. */
async function token(gh: InProcessServer, seed: DemoSeed, form: Record<string, string>): Promise<Record<string, any>> {
  const { clientId, clientSecret } = seed.passwordClient;
  const response = await gh.server.app.inject({
    method: 'POST',
    url: '/token',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
      authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`,
    },
    payload: new URLSearchParams(form).toString(),
  });
  assert.equal(response.statusCode, 200, response.body);
  return response.json();
}

/**
 * The statements of one refresh, after a first refresh has warmed what a running server has warm
 * (client metadata, the signing key, the resource server's settings): the steady state.
 */
async function statementsOfOneRefresh(gh: InProcessServer, seed: DemoSeed): Promise<string[]> {
  const issued = await token(gh, seed, { grant_type: 'password', username: 'johndoe', password: 'correct horse', scope: 'me items' });
  const warm = await token(gh, seed, { grant_type: 'refresh_token', refresh_token: issued.refresh_token });
  const { result, statements } = await counted(() => token(gh, seed, { grant_type: 'refresh_token', refresh_token: warm.refresh_token }));
  assert.equal(typeof result.access_token, 'string');
  assert.notEqual(result.refresh_token, warm.refresh_token, 'the refresh token was rotated');
  // The successor works: the counted refresh did everything a refresh does.
  await token(gh, seed, { grant_type: 'refresh_token', refresh_token: result.refresh_token });
  return statements;
}

const listed = (statements: string[]) => statements.map((sql, i) => `${i + 1}. ${sql}`).join('\n');

test('a refresh on PostgreSQL makes at most 5 round trips', async (t) => {
  countCalls(t, pg.Client.prototype, 'query', pgSql);
  const { gh, seed } = await refreshServer(t, { GATEHOUSE_DATABASE_URL: await tempPostgres(t) });
  const statements = await statementsOfOneRefresh(gh, seed);
  t.diagnostic(`PostgreSQL round trips per refresh: ${statements.length}\n${listed(statements)}`);
  assert.ok(statements.length > 0, 'the driver was wrapped: a refresh reads the database');
  assert.ok(statements.length <= 5, `${statements.length} round trips:\n${listed(statements)}`);
});

// SQLite runs in the process: a statement is a function call, not a round trip, so its writes are
// not batched into one. It still reads each row once: 7 statements (they were 12).
test('a refresh on SQLite makes at most 7 statements (each row read once)', async (t) => {
  countCalls(t, NodeSqliteDatabase.prototype, 'prepare', (args) => args[0]);
  const { gh, seed } = await refreshServer(t, {});
  const statements = await statementsOfOneRefresh(gh, seed);
  t.diagnostic(`SQLite statements per refresh: ${statements.length}\n${listed(statements)}`);
  assert.ok(statements.length > 0, 'the driver was wrapped: a refresh reads the database');
  assert.ok(statements.length <= 7, `${statements.length} statements:\n${listed(statements)}`);
});

// An unknown refresh token: the read-ahead finds no row and remembers that, so oidc-provider's own
// lookup of the token is answered from memory instead of reading the same row again.
test('an unknown refresh token is looked up once, and refused as invalid_grant', async (t) => {
  countCalls(t, NodeSqliteDatabase.prototype, 'prepare', (args) => args[0]);
  const { gh, seed } = await refreshServer(t, {});
  const issued = await token(gh, seed, { grant_type: 'password', username: 'johndoe', password: 'correct horse', scope: 'me items' });
  await token(gh, seed, { grant_type: 'refresh_token', refresh_token: issued.refresh_token }); // warm, as above
  const { clientId, clientSecret } = seed.passwordClient;
  // Awaited inside: inject's answer is a thenable that starts the request when awaited.
  const { result: response, statements } = await counted(async () =>
    await gh.server.app.inject({
      method: 'POST',
      url: '/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}` },
      payload: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: randomBytes(32).toString('base64url') }).toString(),
    }),
  );
  assert.equal(response.statusCode, 400, response.body);
  assert.equal(response.json().error, 'invalid_grant');
  const tokenReads = statements.filter((sql) => /from "oidc_payloads"/.test(sql));
  assert.equal(tokenReads.length, 1, `the token's row read once:\n${listed(statements)}`);
});
