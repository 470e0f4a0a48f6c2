// Load across two instances through an operator's bad day (issues #5 and #11). Clients log in
// (password grant), refresh their tokens and get client-credentials tokens on both instances,
// while, one after the other: PostgreSQL is stopped and started again, PostgreSQL is frozen and
// resumed, Redis is killed (an admin change is made meanwhile) and restarted, and instance A is
// killed with SIGKILL (a client whose instance dies retries on the other). Every step waits for a
// condition (answers seen, recovery seen), never for a fixed time.
//
// Afterwards: no instance crashed (A died only by our hand), no 500 at any time, 503 only while a
// dependency was down and none after recovery, no session lost (every chain still refreshes) or
// duplicated (one live refresh token per grant), nothing half-written (every grant has its
// refresh token), and the change made while Redis was down was answered as the success it was.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { openStorage } from '@gatehouse/server';
import { migrate } from '@gatehouse/server/internal/storage/database';
import * as apis from '@gatehouse/server/internal/storage/apis';
import * as clients from '@gatehouse/server/internal/storage/clients';
import * as roles from '@gatehouse/server/internal/storage/roles';
import * as users from '@gatehouse/server/internal/storage/users';
import { sha256 } from '@gatehouse/server/internal/secrets';
import { withPasswordHash } from '@gatehouse/server/internal/passwords/user-passwords';
import { cliAsync, startProcess, tokenRequest, type ServerProcess } from '@gatehouse/test-support/gatehouse';
import { startPrivatePostgres } from '@gatehouse/test-support/private-postgres';
import { startPrivateRedis } from '@gatehouse/test-support/private-redis';

const API = 'https://items.example';
const USERS = 4;

interface Chain {
  readonly user: string;
  refreshToken: string;
  refreshes: number;
  lost?: string;
  /** Refresh requests sent and not yet answered, by the token they carry. */
  readonly inFlight: Map<string, number>;
}

interface Answer {
  readonly instance: 'a' | 'b';
  readonly status: number;
  /** The outage in progress when the request was sent, if any ('' once everything is back). */
  readonly outage: string;
  readonly grant: string;
}

test('two instances under load through PostgreSQL stopped and frozen, Redis killed and an instance killed: no crash, no 500, nothing lost', { timeout: 400_000 }, async (t) => {
  const pg = await startPrivatePostgres(t);
  const redis = await startPrivateRedis(t);
  const env = {
    GATEHOUSE_DATABASE_URL: pg.url,
    GATEHOUSE_REDIS_URL: redis.url,
    GATEHOUSE_REDIS_PREFIX: `gh-load-${randomBytes(6).toString('hex')}`,
    GATEHOUSE_DEFAULT_API: API,
    GATEHOUSE_LOGIN_MAX_FAILURES_PER_ACCOUNT: '1000',
    // A frozen database shows as 503s within a few seconds (the defaults are 3, 5 and 6 s).
    GATEHOUSE_DATABASE_CONNECT_TIMEOUT: '2',
    GATEHOUSE_DATABASE_STATEMENT_TIMEOUT: '2',
    GATEHOUSE_DATABASE_QUERY_TIMEOUT: '3',
    GATEHOUSE_LOG_LEVEL: process.env.GATEHOUSE_LOAD_TEST_LOG ?? 'info',
  };

  // The data, written directly (the CLI would take a process start per row).
  const seeding = openStorage(pg.url);
  await migrate(seeding.db);
  await apis.createApi(seeding.db, { identifier: API, name: 'Items', scopes: 'items accounts:read' });
  await roles.createRole(seeding.db, { name: 'user', scopes: 'items' });
  for (let i = 0; i < USERS; i++) await users.createUser(seeding.db, await withPasswordHash({ username: `user${i}`, password: `password of user ${i}`, roles: ['user'] }));
  await users.createUser(seeding.db, await withPasswordHash({ username: 'spare', password: 'password of spare', roles: ['user'] }));
  const service = await clients.createClient(seeding.db, { clientId: 'service', name: 'Service', grantTypes: 'client_credentials', scopes: 'accounts:read', apis: [API] });
  const app = await clients.createClient(seeding.db, { clientId: 'app', name: 'App', grantTypes: 'password refresh_token', scopes: 'items', apis: [API] });
  await clients.createClient(seeding.db, { clientId: 'partner', name: 'Partner', grantTypes: 'client_credentials', scopes: 'accounts:read', apis: [API] });
  // Granted instance B's admin API once B has registered it (below).
  const ops = await clients.createClient(seeding.db, { clientId: 'ops', name: 'Ops', grantTypes: 'client_credentials', scopes: 'admin:clients:write' });
  await seeding.close();
  const basic = (c: { client: { clientId: string }; clientSecret?: string }) => `Basic ${Buffer.from(`${c.client.clientId}:${c.clientSecret}`).toString('base64')}`;

  const a = await startProcess(t, env);
  const b = await startProcess(t, env);
  let aDead = false;
  let outage = '';
  const answers: Answer[] = [];
  let connectionErrors = 0;

  /** Sends a token request to an instance; on a dead instance (connection refused or reset) tries the other. */
  async function token(form: Record<string, string>, auth: string, turn: number): Promise<{ status: number; body: any }> {
    const order: ServerProcess[] = turn % 2 === 0 ? [a, b] : [b, a];
    for (const instance of order) {
      if (instance === a && aDead) continue;
      const during = outage;
      try {
        const response = await fetch(`${instance.issuer}/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: auth },
          body: new URLSearchParams(form).toString(),
          signal: AbortSignal.timeout(30_000),
        });
        const body = await response.json();
        answers.push({ instance: instance === a ? 'a' : 'b', status: response.status, outage: during || outage, grant: form.grant_type! });
        return { status: response.status, body };
      } catch {
        connectionErrors++;
        // The request may or may not have been processed: retry the same request elsewhere.
      }
    }
    return { status: 0, body: undefined };
  }

  const chains: Chain[] = [];
  let running = true;
  let turn = 0;
  const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  const login = async () => {
    while (running) {
      const i = turn % USERS;
      const { status, body } = await token({ grant_type: 'password', username: `user${i}`, password: `password of user ${i}`, scope: 'items' }, basic(app), turn++);
      if (status === 200) chains.push({ user: `user${i}`, refreshToken: body.refresh_token, refreshes: 0, inFlight: new Map() });
      await pause(400);
    }
  };
  const refresh = async () => {
    while (running) {
      // Two refreshes of one token at once are fine (both get its successor). A refresh with the
      // successor while the older token's request is still on its way is not: should the older
      // one reach the server after the successor was used, it is reuse (RFC 9700 §4.14.2) and
      // the grant is revoked, as it must be; no client sends that, and the test must not either.
      const live = chains.filter((c) => !c.lost && [...c.inFlight.keys()].every((sentToken) => sentToken === c.refreshToken));
      const chain = live[Math.floor(Math.random() * live.length)];
      if (!chain) {
        await pause(50);
        continue;
      }
      const sent = chain.refreshToken;
      chain.inFlight.set(sent, (chain.inFlight.get(sent) ?? 0) + 1);
      const { status, body } = await token({ grant_type: 'refresh_token', refresh_token: sent }, basic(app), turn++).finally(() => {
        const left = chain.inFlight.get(sent)! - 1;
        if (left === 0) chain.inFlight.delete(sent);
        else chain.inFlight.set(sent, left);
      });
      if (status === 200) {
        // Keep the newest token: a late answer to an older one (two refreshes of one token at
        // once get the same successor) must not replace what a later refresh brought.
        if (chain.refreshToken === sent) chain.refreshToken = body.refresh_token;
        chain.refreshes++;
      } else if (status === 400 || status === 401) {
        chain.lost = `${status} ${JSON.stringify(body)} during "${outage}"`;
      } else {
        // 503 (or no instance answered): Gatehouse could not answer; the client tries again later.
        await pause(100);
      }
    }
  };
  const clientCredentials = async () => {
    while (running) {
      await token({ grant_type: 'client_credentials' }, basic(service), turn++);
      await pause(20);
    }
  };
  const load = Promise.all([login(), refresh(), refresh(), refresh(), clientCredentials(), clientCredentials()]);
  t.after(async () => {
    running = false;
    await load;
  });

  const count = (predicate: (answer: Answer) => boolean, from = 0) => answers.slice(from).filter(predicate).length;
  async function waitFor(what: string, condition: () => boolean) {
    const deadline = Date.now() + 90_000;
    while (!condition()) {
      for (const [name, instance] of [['A', a], ['B', b]] as const) {
        if (!(name === 'A' && aDead) && instance.child.exitCode !== null) assert.fail(`instance ${name} exited while waiting for ${what}:\n${instance.output().slice(-3000)}`);
      }
      if (Date.now() > deadline) assert.fail(`timed out waiting for ${what} (answers so far: ${answers.length})`);
      await pause(50);
    }
  }
  const refreshed = (from: number) => () => count((x) => x.grant === 'refresh_token' && x.status === 200, from) >= 20;
  const servedByBoth = (from: number) => () => count((x) => x.instance === 'a' && x.status === 200, from) >= 20 && count((x) => x.instance === 'b' && x.status === 200, from) >= 20;

  // 1. Both instances serve.
  await waitFor('both instances to serve', () => servedByBoth(0)() && chains.length >= 8);

  // 2. PostgreSQL stopped (sessions get 57P01), then started again.
  outage = 'postgres stopped';
  let mark = answers.length;
  await pg.stop('fast');
  await waitFor('503s while PostgreSQL is stopped', () => count((x) => x.status === 503, mark) >= 10);
  await pg.start();
  mark = answers.length;
  await waitFor('recovery after the restart', servedByBoth(mark));
  outage = '';

  // 3. PostgreSQL frozen (nothing answers), then resumed.
  outage = 'postgres frozen';
  mark = answers.length;
  pg.freeze();
  await waitFor('503s while PostgreSQL is frozen', () => count((x) => x.status === 503, mark) >= 10);
  pg.resume();
  mark = answers.length;
  await waitFor('recovery after the freeze', servedByBoth(mark));
  outage = '';

  // 4. Redis killed: logins answer 503 (throttling fails closed), the rest is served; a change
  // made meanwhile is answered as the success it is, through the admin API and the CLI.
  outage = 'redis killed';
  mark = answers.length;
  await redis.stop();
  await waitFor('logins answering 503 without Redis', () => count((x) => x.grant === 'password' && x.status === 503, mark) >= 2);
  await waitFor('refreshes without Redis', refreshed(mark));
  const granting = openStorage(pg.url);
  await clients.updateClient(granting.db, 'ops', { apis: [`${b.issuer}/admin/api`] });
  await granting.close();
  const adminToken = await tokenRequest(b.issuer, { grant_type: 'client_credentials', resource: `${b.issuer}/admin/api`, scope: 'admin:clients:write' }, { clientId: 'ops', clientSecret: ops.clientSecret! });
  assert.equal(adminToken.status, 200, JSON.stringify(adminToken.body));
  const rotation = await fetch(`${b.issuer}/admin/api/clients/partner/secret`, { method: 'POST', headers: { authorization: `Bearer ${adminToken.body.access_token}` } });
  assert.equal(rotation.status, 200, `a stored change answered ${rotation.status}: ${await rotation.clone().text()}`);
  const newSecret = (await rotation.json()).client_secret as string;
  const withNew = await tokenRequest(b.issuer, { grant_type: 'client_credentials' }, { clientId: 'partner', clientSecret: newSecret });
  assert.equal(withNew.status, 200, 'the secret shown is the one that works');
  const disable = await cliAsync(env, ['users', 'disable', 'spare', '--json'], { timeoutMs: 60_000 });
  assert.equal(disable.timedOut, false, 'the CLI exits without Redis');
  assert.equal(disable.code, 0, disable.stderr);
  await redis.start();
  mark = answers.length;
  await waitFor('logins after Redis is back', () => count((x) => x.grant === 'password' && x.status === 200, mark) >= 4);
  outage = '';

  // 5. Instance A killed: B carries on.
  mark = answers.length;
  aDead = true;
  await a.stop('SIGKILL');
  await waitFor('B serving alone', () => count((x) => x.instance === 'b' && x.grant === 'refresh_token' && x.status === 200, mark) >= 30);
  running = false;
  await load;

  // No crash: B is alive, A died by our hand only.
  assert.equal(b.child.exitCode, null, 'instance B is still running');
  // Never a 500; 503 only while a dependency was down (or recovering from it), with none after.
  assert.deepEqual(answers.filter((x) => x.status >= 500 && x.status !== 503), [], 'no 5xx other than 503');
  assert.deepEqual(answers.filter((x) => x.status === 503 && x.outage === ''), [], 'no 503 outside an outage');
  const refreshes = chains.reduce((n, c) => n + c.refreshes, 0);

  // No refresh token lost: every chain refreshes once more, on the survivor.
  const lost = chains.filter((c) => c.lost);
  if (lost.length > 0 && process.env.GATEHOUSE_LOAD_TEST_LOG) {
    for (const line of [...a.output().split('\n'), ...b.output().split('\n')]) if (line.includes('refused')) process.stderr.write(`${line.slice(0, 300)}\n`);
  }
  assert.deepEqual(lost.map((c) => c.lost), [], 'no chain lost during the run');
  for (const chain of chains) {
    const after = await token({ grant_type: 'refresh_token', refresh_token: chain.refreshToken }, basic(app), 1);
    assert.equal(after.status, 200, `chain of ${chain.user} after the run: ${JSON.stringify(after.body)}`);
    chain.refreshToken = after.body.refresh_token;
  }

  // Not duplicated, nothing half-written: exactly one live refresh token per grant — the one the
  // client holds — and every grant has its refresh token.
  const storage = openStorage(pg.url);
  t.after(() => storage.close());
  const now = Date.now();
  const grants = await storage.db.selectFrom('oidc_payloads').select('grant_id').where('model', '=', 'Grant').execute();
  const liveTokens = await storage.db
    .selectFrom('oidc_payloads')
    .select(['grant_id', 'id'])
    .where('model', '=', 'RefreshToken')
    .where('consumed_at', 'is', null)
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
    .execute();
  const perGrant = new Map<string, number>();
  for (const row of liveTokens) perGrant.set(row.grant_id!, (perGrant.get(row.grant_id!) ?? 0) + 1);
  assert.equal(grants.length, chains.length, 'one grant per login, no orphan');
  for (const grant of grants) assert.equal(perGrant.get(grant.grant_id!), 1, `grant ${grant.grant_id}: live refresh tokens`);
  const held = new Set(chains.map((c) => sha256(c.refreshToken)));
  for (const row of liveTokens) assert.ok(held.has(row.id), 'every live refresh token is one a client holds');

  const by = (instance: 'a' | 'b') => count((x) => x.instance === instance);
  t.diagnostic(
    `logins ${chains.length}, refreshes ${refreshes}, answers a ${by('a')} b ${by('b')}, 503s ${count((x) => x.status === 503)}, connection errors (dead instance) ${connectionErrors}`,
  );
});
