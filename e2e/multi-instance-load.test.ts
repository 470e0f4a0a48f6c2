// Load across two instances, one killed with SIGKILL in the middle (issue #5). For a bit over a
// minute, clients log in (password grant), refresh their tokens and get client-credentials tokens
// on both instances; a client whose instance dies retries on the other. Afterwards: no 5xx from
// the surviving instance, no refresh token lost (every chain still refreshes) or duplicated (one
// live refresh token per grant), and no half-written rows (every grant has its refresh token).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { openStorage } from '@gatehouse/server';
import { sha256 } from '../packages/server/src/secrets.ts';
import { cli, startProcess, type ServerProcess } from '@gatehouse/test-support/gatehouse';
import { tempPostgres } from '@gatehouse/test-support/postgres';

const API = 'https://items.example';
const RUN_MS = Number(process.env.GATEHOUSE_LOAD_TEST_MS ?? 62_000);
const USERS = 4;

interface Chain {
  readonly user: string;
  refreshToken: string;
  refreshes: number;
  lost?: string;
}

test('a minute of load across two instances, one killed mid-way: no 5xx, nothing lost, nothing half-written', { timeout: 200_000 }, async (t) => {
  const databaseUrl = await tempPostgres(t);
  const env = {
    GATEHOUSE_DATABASE_URL: databaseUrl,
    GATEHOUSE_REDIS_URL: 'redis://127.0.0.1:6379',
    GATEHOUSE_REDIS_PREFIX: `gh-load-${randomBytes(6).toString('hex')}`,
    GATEHOUSE_DEFAULT_API: API,
    GATEHOUSE_LOGIN_MAX_FAILURES_PER_ACCOUNT: '1000',
    GATEHOUSE_LOG_LEVEL: process.env.GATEHOUSE_LOAD_TEST_LOG ?? 'info',
  };
  const run = (...args: string[]) => {
    const result = cli(env, [...args, '--json']);
    assert.equal(result.code, 0, `${args.join(' ')}: ${result.stderr}`);
    return result.json;
  };
  run('migrate');
  run('apis', 'create', '--identifier', API, '--name', 'Items', '--scopes', 'items accounts:read');
  run('roles', 'create', '--name', 'user', '--scopes', 'items');
  for (let i = 0; i < USERS; i++) run('users', 'create', '--username', `user${i}`, '--password', `password of user ${i}`, '--roles', 'user');
  const service = run('clients', 'create', '--api', API, '--name', 'Service', '--grants', 'client_credentials', '--scopes', 'accounts:read');
  const app = run('clients', 'create', '--api', API, '--name', 'App', '--grants', 'password,refresh_token', '--scopes', 'items');
  const basic = (c: { client: { clientId: string }; clientSecret: string }) => `Basic ${Buffer.from(`${c.client.clientId}:${c.clientSecret}`).toString('base64')}`;

  const a = await startProcess(t, env);
  const b = await startProcess(t, env);
  let aDead = false;
  const statuses = { a: new Map<number, number>(), b: new Map<number, number>() };
  let connectionErrors = 0;

  /** Sends a token request to an instance; on a dead instance (connection refused or reset) tries the other. */
  async function token(form: Record<string, string>, auth: string, turn: number): Promise<{ status: number; body: any }> {
    const order: ServerProcess[] = turn % 2 === 0 ? [a, b] : [b, a];
    for (const instance of order) {
      if (instance === a && aDead && order[0] === a) continue;
      try {
        const response = await fetch(`${instance.issuer}/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: auth },
          body: new URLSearchParams(form).toString(),
          signal: AbortSignal.timeout(20_000),
        });
        const body = await response.json();
        const counter = instance === a ? statuses.a : statuses.b;
        counter.set(response.status, (counter.get(response.status) ?? 0) + 1);
        return { status: response.status, body };
      } catch {
        connectionErrors++;
        // The request may or may not have been processed: retry the same request elsewhere.
      }
    }
    throw new Error('no instance answered');
  }

  const chains: Chain[] = [];
  const started = Date.now();
  const running = () => Date.now() - started < RUN_MS;
  let turn = 0;

  const login = async () => {
    while (running()) {
      const i = turn % USERS;
      const { status, body } = await token({ grant_type: 'password', username: `user${i}`, password: `password of user ${i}`, scope: 'items' }, basic(app), turn++);
      if (status === 200) chains.push({ user: `user${i}`, refreshToken: body.refresh_token, refreshes: 0 });
      await new Promise((resolve) => setTimeout(resolve, 400));
    }
  };
  const refresh = async () => {
    while (running()) {
      const live = chains.filter((c) => !c.lost);
      const chain = live[Math.floor(Math.random() * live.length)];
      if (!chain) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        continue;
      }
      const sent = chain.refreshToken;
      const { status, body } = await token({ grant_type: 'refresh_token', refresh_token: sent }, basic(app), turn++);
      if (status === 200) {
        // Keep the newest token: a late answer to an older one (two refreshes of one token at
        // once get the same successor) must not replace what a later refresh brought.
        if (chain.refreshToken === sent) chain.refreshToken = body.refresh_token;
        chain.refreshes++;
      } else {
        chain.lost = `${status} ${JSON.stringify(body)} at ${Date.now() - started} ms`;
      }
    }
  };
  const clientCredentials = async () => {
    while (running()) {
      await token({ grant_type: 'client_credentials' }, basic(service), turn++);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  const killer = (async () => {
    await new Promise((resolve) => setTimeout(resolve, RUN_MS / 2));
    aDead = true;
    await a.stop('SIGKILL');
  })();

  // Several refreshers share the chains, so one chain is sometimes refreshed twice at once too.
  await Promise.all([login(), refresh(), refresh(), refresh(), clientCredentials(), clientCredentials(), killer]);

  // No 5xx at all from the survivor (and none from A while it lived).
  const fiveHundreds = [...statuses.a, ...statuses.b].filter(([status]) => status >= 500);
  assert.deepEqual(fiveHundreds, [], `5xx answers: ${JSON.stringify([...statuses.b])}`);
  const served = (m: Map<number, number>) => [...m.values()].reduce((x, y) => x + y, 0);
  assert.ok(served(statuses.a) > 50 && served(statuses.b) > 100, `both instances served (a: ${served(statuses.a)}, b: ${served(statuses.b)})`);
  assert.ok(chains.length >= 20, `logins: ${chains.length}`);
  const refreshes = chains.reduce((n, c) => n + c.refreshes, 0);
  assert.ok(refreshes >= 100, `refreshes: ${refreshes}`);

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
  const storage = openStorage(databaseUrl);
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
  // Closed here, not in an after-hook: the temporary database is dropped by one registered earlier.
  await storage.close();

  t.diagnostic(`logins ${chains.length}, refreshes ${refreshes}, answers a ${served(statuses.a)} b ${served(statuses.b)}, connection errors (dead instance) ${connectionErrors}`);
  await killer;
});
