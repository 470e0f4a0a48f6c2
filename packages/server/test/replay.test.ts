// Replayed authorization codes and reused refresh tokens (issue 10, items 20 and 24): refused,
// what the first use issued is revoked (RFC 6749 §4.1.2, RFC 9700 §4.14.2), however long after the
// code's own lifetime the replay comes, and each is a security event in the audit log. On SQLite
// and PostgreSQL: consumed codes must outlive their lifetime in storage for this to work.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import * as client from 'openid-client';
import { createBrowser, loginThroughForm } from '@gatehouse/test-support/browser';
import { tempDir } from '@gatehouse/test-support/files';
import { tempPostgres } from '@gatehouse/test-support/postgres';
import { ITEMS_API, seedDemo, startInProcess, tokenRequest, type DemoSeed, type InProcessServer } from '@gatehouse/test-support/gatehouse';
import * as clients from '../src/storage/clients.ts';
import { openStorage, type Db, type Storage } from '../src/storage/database.ts';
import * as users from '../src/storage/users.ts';
import { sha256 } from '../src/secrets.ts';

const JOHN = { username: 'johndoe', password: 'correct horse' };
const CODE_TTL = 30;

interface Fixture extends InProcessServer {
  readonly seed: DemoSeed;
  /** A confidential client allowed to introspect. */
  introspect(token: string): Promise<{ active: boolean }>;
}

/**
 * The database as the server sees it, except that consuming a code or a refresh token waits until
 * `parties` requests are about to consume it: every one of them has read it unconsumed by then, so
 * all but one lose the consume race itself (the adapter's atomic update), deterministically.
 */
function consumeBarrier(db: Db, parties: number): Db {
  const waiting: (() => void)[] = [];
  const arrive = () =>
    new Promise<void>((resolve) => {
      waiting.push(resolve);
      // Never a hang: past the deadline, go on (the test then fails on its own assertions).
      const timer = setTimeout(() => waiting.splice(0).forEach((go) => go()), 5000);
      if (waiting.length >= parties) {
        clearTimeout(timer);
        waiting.splice(0).forEach((go) => go());
      }
    });
  // Builders are immutable chains: wrap each link, and gate the execution of a consume.
  const gate = <T extends object>(builder: T, consuming: boolean): T =>
    new Proxy(builder, {
      get(target, property) {
        const value = Reflect.get(target, property, target) as unknown;
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          const isConsume = consuming || (property === 'set' && typeof args[0] === 'object' && args[0] !== null && 'consumed_at' in args[0]);
          if (property === 'executeTakeFirst' && isConsume) return arrive().then(() => (value as (...a: unknown[]) => unknown).apply(target, args));
          const result = (value as (...a: unknown[]) => unknown).apply(target, args);
          return result !== null && typeof result === 'object' && 'executeTakeFirst' in result ? gate(result, isConsume) : result;
        };
      },
    });
  return new Proxy(db, {
    get(target, property) {
      const value = Reflect.get(target, property, target) as unknown;
      if (property === 'updateTable') return (table: 'oidc_payloads') => gate(target.updateTable(table), false);
      return value;
    },
  });
}

async function setup(t: TestContext, database: 'SQLite' | 'PostgreSQL', env: Record<string, string> = {}, options: { consumeParties?: number } = {}): Promise<Fixture> {
  const drops: (() => Promise<void>)[] = [];
  const databaseUrl =
    database === 'PostgreSQL' ? await tempPostgres({ after: (drop) => void drops.push(drop as () => Promise<void>) }) : `sqlite:${join(tempDir(t), 'gatehouse.db')}`;
  let storage: Storage | undefined;
  if (options.consumeParties !== undefined) {
    const opened = openStorage(databaseUrl);
    storage = { ...opened, db: consumeBarrier(opened.db, options.consumeParties) };
    drops.unshift(() => opened.close());
  }
  const gh = await startInProcess(
    t,
    { GATEHOUSE_DEFAULT_API: ITEMS_API, GATEHOUSE_AUTHORIZATION_CODE_TTL: String(CODE_TTL), GATEHOUSE_DATABASE_URL: databaseUrl, ...env },
    storage ? { storage } : {},
  );
  // The server closes before its database is dropped.
  t.after(async () => {
    await gh.close();
    for (const drop of drops) await drop();
  });
  const seed = await seedDemo(gh.db);
  const rs = await clients.createClient(gh.db, { clientId: 'rs', name: 'Resource server', grantTypes: 'client_credentials' });
  const introspect = async (token: string) => {
    const response = await fetch(`${gh.issuer}/introspect`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`rs:${rs.clientSecret}`).toString('base64')}` },
      body: new URLSearchParams({ token }).toString(),
    });
    return (await response.json()) as { active: boolean };
  };
  return { ...gh, seed, introspect };
}

/** A fresh code for the public `web` client, and the token request that redeems it. */
async function freshCode(gh: Fixture) {
  const verifier = client.randomPKCECodeVerifier();
  const url = new URL(`${gh.issuer}/authorize`);
  const params = {
    client_id: 'web',
    response_type: 'code',
    redirect_uri: gh.seed.webRedirectUri,
    // Plain OAuth 2.0 (no openid): a refresh token comes with the code.
    scope: 'items',
    state: 'st',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
  };
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  const { callback } = await loginThroughForm(createBrowser(), url, JOHN, gh.seed.webRedirectUri);
  const code = callback.searchParams.get('code');
  assert.ok(code, `a code: ${callback}`);
  return { code, form: { grant_type: 'authorization_code', client_id: 'web', code, redirect_uri: gh.seed.webRedirectUri, code_verifier: verifier } };
}

/** What the first redemption issued no longer works: the refresh token, and the JWT at introspection. */
async function assertRevoked(gh: Fixture, issued: { access_token: string; refresh_token: string }, why: string): Promise<void> {
  const refreshed = await tokenRequest(gh.issuer, { grant_type: 'refresh_token', client_id: 'web', refresh_token: issued.refresh_token });
  assert.equal(refreshed.status, 400, `${why}: the refresh token was revoked`);
  assert.equal(refreshed.body.error, 'invalid_grant');
  assert.deepEqual(await gh.introspect(issued.access_token), { active: false }, `${why}: the access token is inactive`);
}

async function auditEvents(gh: Fixture, type: string) {
  const rows = await gh.db.selectFrom('audit_events').selectAll().where('type', '=', type).execute();
  return rows.map((row) => ({ ...row, details: JSON.parse(row.details) as Record<string, unknown> }));
}

async function assertAudited(gh: Fixture, type: string, grantType: string, clientId: string): Promise<void> {
  const john = (await users.findUser(gh.db, 'johndoe'))!;
  const events = await auditEvents(gh, type);
  assert.equal(events.length, 1, `one ${type} event: ${JSON.stringify(events)}`);
  const [event] = events;
  assert.equal(event!.outcome, 'failure');
  assert.deepEqual([event!.actor_kind, event!.actor_id], ['client', clientId], 'the client that presented it');
  assert.deepEqual([event!.target_kind, event!.target_id], ['user', john.id], 'the user whose grant it was');
  assert.equal(event!.details.grant_type, grantType);
  assert.equal(event!.details.client_id, clientId);
  assert.equal(typeof event!.details.grant_id, 'string', 'the grant that was revoked');
  assert.equal(event!.details.revoked, true);
  assert.ok(!JSON.stringify(events).includes(JOHN.password));
}

for (const database of ['SQLite', 'PostgreSQL'] as const) {
  describe(`replays on ${database}`, { concurrency: 2 }, () => {
    test('a code refused for another reason (a wrong code_verifier) is not a replay: nothing audited, and the code still works', async (t) => {
      const gh = await setup(t, database);
      const { form } = await freshCode(gh);
      const wrong = await tokenRequest(gh.issuer, { ...form, code_verifier: client.randomPKCECodeVerifier() });
      assert.deepEqual([wrong.status, wrong.body.error], [400, 'invalid_grant']);
      assert.deepEqual(await auditEvents(gh, 'authorization_code.replayed'), []);
      const redeemed = await tokenRequest(gh.issuer, form);
      assert.equal(redeemed.status, 200, 'the right verifier still redeems the code');
    });

    test('a code refused for an API it was not issued for (invalid_target) is not consumed: its corrected request is no replay', async (t) => {
      // oidc-provider consumes the code before it checks the resource; that used to stay, so the
      // client's corrected request was audited as a replay and the user's grant revoked.
      const gh = await setup(t, database);
      const { form } = await freshCode(gh);
      const wrong = await tokenRequest(gh.issuer, { ...form, resource: 'https://nowhere.example' });
      assert.deepEqual([wrong.status, wrong.body.error], [400, 'invalid_target']);
      const redeemed = await tokenRequest(gh.issuer, form);
      assert.equal(redeemed.status, 200, JSON.stringify(redeemed.body));
      assert.deepEqual(await auditEvents(gh, 'authorization_code.replayed'), []);
      assert.equal((await gh.introspect(redeemed.body.access_token)).active, true);
      // Still single-use: a second redemption is the replay it always was.
      assert.deepEqual((await tokenRequest(gh.issuer, form)).body.error, 'invalid_grant');
      await assertRevoked(gh, redeemed.body, 'replay after a refusal');
    });

    test('a code replayed within its lifetime: invalid_grant, what the first use issued is revoked, and it is audited', async (t) => {
      const gh = await setup(t, database);
      const { form } = await freshCode(gh);
      const first = await tokenRequest(gh.issuer, form);
      assert.equal(first.status, 200, JSON.stringify(first.body));
      const replay = await tokenRequest(gh.issuer, form);
      assert.deepEqual([replay.status, replay.body.error], [400, 'invalid_grant']);
      await assertRevoked(gh, first.body, 'replay within the lifetime');
      await assertAudited(gh, 'authorization_code.replayed', 'authorization_code', 'web');
    });

    test('a code replayed after its lifetime still revokes what the first use issued (consumed codes are kept)', async (t) => {
      const gh = await setup(t, database);
      const { code, form } = await freshCode(gh);
      const first = await tokenRequest(gh.issuer, form);
      assert.equal(first.status, 200, JSON.stringify(first.body));
      // The code's lifetime passes: its stored expiry, and the one in its payload, move back by
      // more than the lifetime (as the clock moving forward would look to the server).
      const row = await gh.db.selectFrom('oidc_payloads').select(['payload', 'expires_at']).where('model', '=', 'AuthorizationCode').where('id', '=', sha256(code)).executeTakeFirst();
      assert.ok(row, 'the consumed code is still stored');
      const shift = CODE_TTL + 1;
      const payload = JSON.parse(row.payload) as { exp: number };
      await gh.db
        .updateTable('oidc_payloads')
        .set({ payload: JSON.stringify({ ...payload, exp: payload.exp - shift }), expires_at: row.expires_at! - shift * 1000 })
        .where('model', '=', 'AuthorizationCode')
        .where('id', '=', sha256(code))
        .execute();

      const replay = await tokenRequest(gh.issuer, form);
      assert.deepEqual([replay.status, replay.body.error], [400, 'invalid_grant']);
      await assertRevoked(gh, first.body, 'replay after the lifetime');
      await assertAudited(gh, 'authorization_code.replayed', 'authorization_code', 'web');
    });

    test('concurrent redemptions of one code: exactly one wins, and what it got is revoked once the race is seen', async (t) => {
      // Every request reads the code unconsumed, then they consume it at the same moment: the
      // losers learn of the winner only from the consume itself, and must still revoke its grant.
      const gh = await setup(t, database, {}, { consumeParties: 6 });
      const { form } = await freshCode(gh);
      const results = await Promise.all(Array.from({ length: 6 }, () => tokenRequest(gh.issuer, form)));
      const statuses = results.map((r) => r.status);
      assert.equal(statuses.filter((s) => s === 200).length, 1, `statuses: ${statuses}`);
      for (const loser of results.filter((r) => r.status !== 200)) assert.deepEqual([loser.status, loser.body.error], [400, 'invalid_grant']);
      const winner = results.find((r) => r.status === 200)!;
      await assertRevoked(gh, winner.body, 'after the race');
      assert.ok((await auditEvents(gh, 'authorization_code.replayed')).length >= 1, 'the race is a security event');
    });

    test('a reused refresh token (no grace window) revokes the grant and is audited', async (t) => {
      const gh = await setup(t, database, { GATEHOUSE_REFRESH_TOKEN_REUSE_GRACE: '0', GATEHOUSE_REFRESH_TOKEN_RETRY_WINDOW: '0' });
      const tokens = (await tokenRequest(gh.issuer, { grant_type: 'password', ...JOHN }, gh.seed.passwordClient)).body;
      const rotated = await tokenRequest(gh.issuer, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token }, gh.seed.passwordClient);
      assert.equal(rotated.status, 200);
      const reuse = await tokenRequest(gh.issuer, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token }, gh.seed.passwordClient);
      assert.deepEqual([reuse.status, reuse.body.error], [400, 'invalid_grant']);
      const successor = await tokenRequest(gh.issuer, { grant_type: 'refresh_token', refresh_token: rotated.body.refresh_token }, gh.seed.passwordClient);
      assert.equal(successor.status, 400, 'the whole grant is revoked');
      await assertAudited(gh, 'refresh_token.reused', 'refresh_token', gh.seed.passwordClient.clientId);
    });

    test('concurrent refreshes with no grace window: the losers are reuse, and audited', async (t) => {
      const gh = await setup(t, database, { GATEHOUSE_REFRESH_TOKEN_REUSE_GRACE: '0', GATEHOUSE_REFRESH_TOKEN_RETRY_WINDOW: '0' });
      const tokens = (await tokenRequest(gh.issuer, { grant_type: 'password', ...JOHN }, gh.seed.passwordClient)).body;
      const results = await Promise.all(Array.from({ length: 4 }, () => tokenRequest(gh.issuer, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token }, gh.seed.passwordClient)));
      const refused = results.filter((r) => r.status === 400);
      assert.ok(refused.length >= 1, `statuses: ${results.map((r) => r.status)}`);
      const events = await auditEvents(gh, 'refresh_token.reused');
      assert.ok(events.length >= 1, 'at least one reuse event');
      assert.ok(events.every((e) => e.actor_id === gh.seed.passwordClient.clientId && e.details.grant_type === 'refresh_token'));
    });
  });
}
