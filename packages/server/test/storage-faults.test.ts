// SQLite when the disk fills (issue #11, item 7). SQLite ends the transaction itself on
// SQLITE_FULL / SQLITE_IOERR; Kysely's ROLLBACK then failed with "cannot rollback - no transaction
// is active", and that was all anyone saw. The real error is shown, nothing half-written stays,
// and over HTTP it is a 503 with Retry-After.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { sql } from 'kysely';
import { migrate, openStorage } from '../src/storage/database.ts';
import { importUsers } from '../src/storage/users.ts';
import { DependencyUnavailable } from '../src/unavailable.ts';
import { tempDir } from '@gatehouse/test-support/files';
import { createBrowser, loginThroughForm } from '@gatehouse/test-support/browser';
import { GATEHOUSE_BIN, ITEMS_API, seedDemo, startInProcess, tokenRequest } from '@gatehouse/test-support/gatehouse';
import { createClient } from '../src/storage/clients.ts';
import { ALL_ADMIN_SCOPES, startAdmin } from './admin-support.ts';

const countUsers = async (db: ReturnType<typeof openStorage>['db']) =>
  Number((await db.selectFrom('users').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);

// A bcrypt hash (of "secret"), as an import file carries.
const HASH = '$2b$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy';
const records = (count: number) => Array.from({ length: count }, (_, i) => ({ username: `user${i}`, email: `user${i}@example.com`, password_hash: HASH }));

test('the CLI on a disk that fills shows the disk error, not "cannot rollback", and imports nothing', { timeout: 120_000 }, async (t) => {
  const dir = tempDir(t);
  const databaseUrl = `sqlite:${join(dir, 'gatehouse.db')}`;
  const storage = openStorage(databaseUrl);
  await migrate(storage.db);
  await storage.close();
  const file = join(dir, 'users.json');
  writeFileSync(file, JSON.stringify(records(3000)));

  // RLIMIT_FSIZE: no file of the process may grow past this, as on a full disk (the import needs
  // far more than the margin left).
  const limit = statSync(join(dir, 'gatehouse.db')).size + 100_001;
  const child = spawn('prlimit', [`--fsize=${limit}`, process.execPath, GATEHOUSE_BIN, 'users', 'import', file], {
    env: { ...process.env, GATEHOUSE_DATABASE_URL: databaseUrl, GATEHOUSE_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  const [code] = (await once(child, 'exit')) as [number | null];

  assert.equal(code, 1, stderr);
  assert.doesNotMatch(stderr, /cannot rollback/);
  assert.match(stderr, /^gatehouse: failed: the database is unavailable: (disk I\/O error|database or disk is full)\n$/, stderr);

  const after = openStorage(databaseUrl);
  t.after(() => after.close());
  assert.equal(await countUsers(after.db), 0, 'all or nothing');
});

test('SQLITE_FULL in a transaction surfaces as itself (DependencyUnavailable), and the admin API answers 503 with Retry-After', async (t) => {
  const admin = await startAdmin(t);
  const ops = await admin.machine('ops', ALL_ADMIN_SCOPES);
  const token = await admin.clientToken(ops, ALL_ADMIN_SCOPES);
  // The server's one SQLite connection may grow the file by a few pages at most: full.
  const { page_count: pages } = (await sql<{ page_count: number }>`pragma page_count`.execute(admin.db)).rows[0]!;
  await sql.raw(`pragma max_page_count = ${pages + 2}`).execute(admin.db);

  await assert.rejects(importUsers(admin.db, records(2000).map((r) => ({ username: r.username, email: r.email, passwordHash: r.password_hash }))), (error: unknown) => {
    assert.ok(error instanceof DependencyUnavailable, String(error));
    assert.match((error as Error).message, /database or disk is full/);
    return true;
  });
  assert.equal(await countUsers(admin.db), 0, 'nothing half-written');

  const answer = await admin.call('POST', '/admin/api/roles', { token }, { name: 'a'.repeat(90), scopes: Array.from({ length: 150 }, (_, i) => `scope-${i}-${'x'.repeat(60)}`) });
  assert.equal(answer.status, 503, answer.text);
  assert.equal(answer.body.error, 'service_unavailable');
  assert.ok(Number(answer.headers.get('retry-after')) > 0);
});

test('a database that cannot be written to in the middle of an oidc-provider action: 503 with Retry-After and the unavailable body, and the code still works after', async (t) => {
  // What the server logs: the outage, said once per failed request, with no secret of the request.
  const logs: string[] = [];
  const logger = { level: 'warn', stream: new Writable({ write: (chunk, _encoding, done) => (logs.push(String(chunk)), done()) }) };
  const gh = await startInProcess(t, { GATEHOUSE_DEFAULT_API: ITEMS_API }, { logger });
  await seedDemo(gh.db);
  const redirect = 'http://127.0.0.1:8999/callback';
  const { clientSecret } = await createClient(gh.db, { clientId: 'conf', name: 'Web app', grantTypes: 'authorization_code refresh_token', redirectUris: [redirect], scopes: 'items', apis: [ITEMS_API], firstParty: true });
  const authorize = new URL(`${gh.issuer}/authorize`);
  for (const [name, value] of Object.entries({ client_id: 'conf', response_type: 'code', redirect_uri: redirect, scope: 'openid items', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' })) {
    authorize.searchParams.set(name, value);
  }
  const { callback } = await loginThroughForm(createBrowser(), authorize, { username: 'johndoe', password: 'correct horse' }, redirect);
  const form = { grant_type: 'authorization_code', code: callback.searchParams.get('code')!, redirect_uri: redirect, code_verifier: 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk' };
  const auth = { clientId: 'conf', clientSecret: clientSecret! };

  // Reads still work; the code's consumption, inside oidc-provider's handler, cannot be written.
  await sql`pragma query_only = 1`.execute(gh.db);
  const refused = await tokenRequest(gh.issuer, form, auth);
  assert.equal(refused.status, 503, JSON.stringify(refused.body));
  assert.equal(refused.headers.get('retry-after'), '5');
  assert.equal(refused.headers.get('cache-control'), 'no-store');
  assert.deepEqual(refused.body, { error: 'server_error', error_description: 'temporarily unavailable; retry after 5 seconds' });
  const reported = logs.filter((line) => line.includes('protocol endpoint failed: a dependency is unavailable'));
  assert.equal(reported.length, 1, logs.join(''));
  assert.match(reported[0]!, /readonly/, 'the database\'s own words');
  for (const secret of [form.code, clientSecret!]) assert.ok(!logs.join('').includes(secret), 'no secret of the request in the log');

  await sql`pragma query_only = 0`.execute(gh.db);
  const redeemed = await tokenRequest(gh.issuer, form, auth);
  assert.equal(redeemed.status, 200, 'nothing was consumed by the failed attempt');
  assert.ok(redeemed.body.access_token);

  // The same for what Gatehouse answers beside oidc-provider: revoking its JWT access token
  // (a write of its own) while the database cannot be written is a 503, not a 500 and not the
  // 200 that would tell the client the token is gone; once it can, the revocation happens.
  const revoke = async () => {
    const response = await fetch(`${gh.issuer}/revoke`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`conf:${clientSecret}`).toString('base64')}` },
      body: new URLSearchParams({ token: redeemed.body.access_token }),
    });
    return { status: response.status, retryAfter: response.headers.get('retry-after'), text: await response.text() };
  };
  await sql`pragma query_only = 1`.execute(gh.db);
  const unavailable = await revoke();
  assert.equal(unavailable.status, 503, unavailable.text);
  assert.equal(unavailable.retryAfter, '5');
  assert.deepEqual(JSON.parse(unavailable.text), { error: 'server_error', error_description: 'temporarily unavailable; retry after 5 seconds' });
  await sql`pragma query_only = 0`.execute(gh.db);
  assert.equal((await revoke()).status, 200);
  const introspected = await fetch(`${gh.issuer}/introspect`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`conf:${clientSecret}`).toString('base64')}` },
    body: new URLSearchParams({ token: redeemed.body.access_token }),
  });
  assert.deepEqual(await introspected.json(), { active: false });
});
