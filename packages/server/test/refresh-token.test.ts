// Refresh tokens: rotation, reuse detection, the reuse grace window, concurrency, and the
// account and role checks every refresh repeats.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeJwt } from 'jose';
import * as client from 'openid-client';
import * as apis from '../src/storage/apis.ts';
import * as clients from '../src/storage/clients.ts';
import * as users from '../src/storage/users.ts';
import { createBrowser, loginThroughForm } from '@gatehouse/test-support/browser';
import { sha256 } from '../src/secrets.ts';
import { ITEMS_API, seedDemo, startInProcess, tokenRequest, type DemoSeed, type Env } from '@gatehouse/test-support/gatehouse';
import { tempPostgres } from '@gatehouse/test-support/postgres';
import { secondPassed, waitFor } from '@gatehouse/test-support/wait';
import pg from 'pg';

async function setup(t: test.TestContext, graceSeconds: string, env: Env = {}) {
  const gh = await startInProcess(t, { GATEHOUSE_DEFAULT_API: ITEMS_API, GATEHOUSE_REFRESH_TOKEN_REUSE_GRACE: graceSeconds, ...env });
  const seed = await seedDemo(gh.db);
  return { ...gh, seed };
}

/** Tokens for the public browser client `web` (authorization code + PKCE through the login page). */
async function browserTokens(issuer: string, seed: DemoSeed): Promise<{ access_token: string; refresh_token: string }> {
  const verifier = client.randomPKCECodeVerifier();
  const url = new URL(`${issuer}/authorize`);
  for (const [k, v] of Object.entries({ client_id: 'web', response_type: 'code', redirect_uri: seed.webRedirectUri, scope: 'items', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' })) url.searchParams.set(k, v);
  const { callback } = await loginThroughForm(createBrowser(), url, { username: 'johndoe', password: 'correct horse' }, seed.webRedirectUri);
  const answer = await tokenRequest(issuer, { grant_type: 'authorization_code', client_id: 'web', code: callback.searchParams.get('code')!, redirect_uri: seed.webRedirectUri, code_verifier: verifier });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return answer.body;
}

/** Waits (no fixed sleep) until a rotated refresh token's grace window has passed. */
async function afterGrace(db: InProcessDb, token: string, graceSeconds: number): Promise<void> {
  const row = await db.selectFrom('oidc_payloads').select('consumed_at').where('model', '=', 'RefreshToken').where('id', '=', sha256(token)).executeTakeFirstOrThrow();
  assert.ok(row.consumed_at !== null, 'the token was rotated');
  const ends = row.consumed_at + graceSeconds * 1000;
  await waitFor(() => Date.now() > ends + 50, { message: 'the grace window to pass' });
}
type InProcessDb = Awaited<ReturnType<typeof startInProcess>>['db'];

async function passwordTokens(issuer: string, seed: DemoSeed, username = 'johndoe', password = 'correct horse') {
  const response = await tokenRequest(issuer, { grant_type: 'password', username, password, scope: 'me items' }, seed.passwordClient);
  assert.equal(response.status, 200, JSON.stringify(response.body));
  return response.body as { access_token: string; refresh_token: string; scope: string };
}

const refresh = (issuer: string, seed: DemoSeed, token: string) =>
  tokenRequest(issuer, { grant_type: 'refresh_token', refresh_token: token }, seed.passwordClient);

test('inside the grace window a second use of a rotated refresh token gets the same successor', async (t) => {
  const { issuer, seed } = await setup(t, '30');
  const { refresh_token } = await passwordTokens(issuer, seed);
  const firstAt = Date.now();
  const first = await refresh(issuer, seed, refresh_token);
  assert.equal(first.status, 200);
  assert.notEqual(first.body.refresh_token, refresh_token, 'rotated');
  // A full second later, so the replayed answer's clock has moved.
  const firstDone = Date.now();
  await waitFor(() => Date.now() - firstDone >= 1_100, { interval: 20, message: 'a second after the first refresh' });
  const second = await refresh(issuer, seed, refresh_token);
  assert.equal(second.status, 200);
  assert.equal(second.body.refresh_token, first.body.refresh_token, 'same successor');
  assert.equal(second.body.access_token, first.body.access_token);
  // The same access token, so what it has left: less than then (a second passed), and not nothing
  // (seconds passed, not its lifetime). Measured against the clock of this test.
  const elapsed = Math.ceil((Date.now() - firstAt) / 1000);
  assert.ok(second.body.expires_in < first.body.expires_in, `${second.body.expires_in} < ${first.body.expires_in}`);
  assert.ok(second.body.expires_in >= first.body.expires_in - elapsed - 1, `${second.body.expires_in} >= ${first.body.expires_in} - ${elapsed} - 1`);
  // The successor still works: the grant was not revoked.
  const next = await refresh(issuer, seed, first.body.refresh_token);
  assert.equal(next.status, 200);
});

// On SQLite the transactions take turns, so a loser reads the token already rotated; on PostgreSQL
// they overlap, and a loser learns it lost at the consume (AlreadyConsumedError): both must answer
// the winner's successor and leave the grant alone.
for (const database of ['sqlite', 'postgres'] as const) {
  test(`[${database}] concurrent refreshes of one token all succeed with one successor (grace window on)`, async (t) => {
    const { issuer, seed } = await setup(t, '30', database === 'postgres' ? { GATEHOUSE_DATABASE_URL: await tempPostgres(t) } : {});
    let { refresh_token } = await passwordTokens(issuer, seed);
    // Several rounds along one chain: each is a race, and on PostgreSQL not every round overlaps.
    for (let round = 0; round < 4; round += 1) {
      const results = await Promise.all(Array.from({ length: 6 }, () => refresh(issuer, seed, refresh_token)));
      assert.deepEqual(results.map((r) => r.status), Array(6).fill(200), `round ${round}: ${JSON.stringify(results.map((r) => r.body))}`);
      assert.equal(new Set(results.map((r) => r.body.refresh_token)).size, 1, `round ${round}: exactly one successor`);
      refresh_token = results[0]!.body.refresh_token;
    }
    const next = await refresh(issuer, seed, refresh_token);
    assert.equal(next.status, 200, 'and the last successor is valid');
  });
}

test('without a grace or retry window, concurrent refreshes give one success, never a 5xx, and no second valid successor', async (t) => {
  const { issuer, seed } = await setup(t, '0', { GATEHOUSE_REFRESH_TOKEN_RETRY_WINDOW: '0' });
  const { refresh_token } = await passwordTokens(issuer, seed);
  const results = await Promise.all(Array.from({ length: 6 }, () => refresh(issuer, seed, refresh_token)));
  const statuses = results.map((r) => r.status);
  assert.ok(statuses.every((s) => s === 200 || s === 400), `statuses: ${statuses}`);
  const successors = results.filter((r) => r.status === 200).map((r) => r.body.refresh_token as string);
  assert.ok(successors.length >= 1);
  for (const r of results.filter((r) => r.status === 400)) assert.equal(r.body.error, 'invalid_grant');
  // A reuse was detected, so the grant is revoked: no successor may still work.
  for (const successor of new Set(successors)) {
    const after = await refresh(issuer, seed, successor);
    assert.equal(after.status, 400);
  }
});

test('the request that loses a refresh race revokes the grant, successor included (PostgreSQL: both read the token before either consumes it)', async (t) => {
  const databaseUrl = await tempPostgres(t);
  const { issuer, seed } = await setup(t, '0', { GATEHOUSE_DATABASE_URL: databaseUrl, GATEHOUSE_REFRESH_TOKEN_RETRY_WINDOW: '0' });
  const { refresh_token } = await passwordTokens(issuer, seed);

  // Hold the token's row lock from outside: both refreshes read the token (as not consumed), and
  // both then wait at the atomic consume. Released, one consumes it; the other's conditional
  // UPDATE finds it consumed: it lost the race, which only the loser can see.
  const [holder, observer] = [new pg.Client({ connectionString: databaseUrl }), new pg.Client({ connectionString: databaseUrl })];
  for (const client of [holder, observer]) {
    client.on('error', () => {});
    await client.connect();
    t.after(() => client.end());
  }
  await holder.query('BEGIN');
  await holder.query("SELECT 1 FROM oidc_payloads WHERE model = 'RefreshToken' AND id = $1 FOR UPDATE", [sha256(refresh_token)]);
  const racing = [refresh(issuer, seed, refresh_token), refresh(issuer, seed, refresh_token)];
  await waitFor(
    async () => {
      const { rows } = await observer.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'");
      return rows[0].n >= 2;
    },
    { message: 'both refreshes waiting at the consume' },
  );
  await holder.query('ROLLBACK');
  const results = await Promise.all(racing);

  assert.deepEqual(results.map((r) => r.status).sort(), [200, 400]);
  const winner = results.find((r) => r.status === 200)!;
  const loser = results.find((r) => r.status === 400)!;
  assert.equal(loser.body.error, 'invalid_grant');
  // A reuse was detected (RFC 9700 §4.14.2), by the loser: the winner's successor went with the grant.
  const successor = await refresh(issuer, seed, winner.body.refresh_token);
  assert.equal(successor.status, 400, 'the grant was revoked');
  assert.equal(successor.body.error, 'invalid_grant');
});

test('a rotated refresh token is reported as consumed: introspection says inactive (no grace window)', async (t) => {
  const { issuer, seed } = await setup(t, '0', { GATEHOUSE_REFRESH_TOKEN_RETRY_WINDOW: '0' });
  const { refresh_token } = await passwordTokens(issuer, seed);
  const rotated = await refresh(issuer, seed, refresh_token);
  assert.equal(rotated.status, 200);
  const introspect = async (token: string) => {
    const { clientId, clientSecret } = seed.passwordClient;
    const response = await fetch(`${issuer}/introspect`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}` },
      body: new URLSearchParams({ token, token_type_hint: 'refresh_token' }).toString(),
    });
    assert.equal(response.status, 200);
    return (await response.json()) as Record<string, unknown>;
  };
  assert.deepEqual(await introspect(refresh_token), { active: false }, 'the rotated token');
  assert.equal((await introspect(rotated.body.refresh_token)).active, true, 'its successor');
});

// On PostgreSQL a refresh reads ahead and batches its writes (engine/refresh-read-ahead.ts,
// storage/scope.ts): reuse detection, the account check and the role check run on both databases.
for (const database of ['sqlite', 'postgres'] as const) {
  const databaseEnv = async (t: test.TestContext): Promise<Env> => (database === 'postgres' ? { GATEHOUSE_DATABASE_URL: await tempPostgres(t) } : {});

  test(`after the grace window (and no retry window) a reuse revokes the whole grant (${database})`, async (t) => {
    const { issuer, seed, db } = await setup(t, '1', { GATEHOUSE_REFRESH_TOKEN_RETRY_WINDOW: '0', ...(await databaseEnv(t)) });
    const { refresh_token } = await passwordTokens(issuer, seed);
    const first = await refresh(issuer, seed, refresh_token);
    assert.equal(first.status, 200);
    await afterGrace(db, refresh_token, 1);
    const reuse = await refresh(issuer, seed, refresh_token);
    assert.equal(reuse.status, 400);
    assert.equal(reuse.body.error, 'invalid_grant');
    const successor = await refresh(issuer, seed, first.body.refresh_token);
    assert.equal(successor.status, 400, 'the successor went with the grant');
  });

  // oidc-provider consumes the presented token and saves its successor before it checks the
  // resource; a refusal there used to commit that, so the client's next refresh was "reuse" and
  // its whole grant was revoked — one request for the wrong API logged the user out.
  test(`a refresh refused for an API the client may not reach (invalid_target) leaves the token as it was: the next refresh works (${database})`, async (t) => {
    const { issuer, seed, db } = await setup(t, '0', { GATEHOUSE_REFRESH_TOKEN_RETRY_WINDOW: '0', ...(await databaseEnv(t)) });
    await apis.createApi(db, { identifier: 'https://other.example', name: 'Other', scopes: 'other' });
    const { refresh_token } = await passwordTokens(issuer, seed);
    for (const resource of ['https://other.example', 'https://nowhere.example']) {
      const refused = await tokenRequest(issuer, { grant_type: 'refresh_token', refresh_token, resource }, seed.passwordClient);
      assert.equal(refused.status, 400, resource);
      assert.equal(refused.body.error, 'invalid_target', resource);
    }
    const row = await db.selectFrom('oidc_payloads').select('consumed_at').where('model', '=', 'RefreshToken').where('id', '=', sha256(refresh_token)).executeTakeFirstOrThrow();
    assert.equal(row.consumed_at, null, 'not consumed by the refusals');
    const next = await refresh(issuer, seed, refresh_token);
    assert.equal(next.status, 200, JSON.stringify(next.body));
    assert.equal((await refresh(issuer, seed, next.body.refresh_token)).status, 200, 'the grant lives on');
  });

  test(`a disabled user gets no new tokens from a refresh token (${database})`, async (t) => {
    const { issuer, seed, db } = await setup(t, '5', await databaseEnv(t));
    const { refresh_token } = await passwordTokens(issuer, seed);
    await users.setUserDisabled(db, 'johndoe', true);
    const response = await refresh(issuer, seed, refresh_token);
    assert.equal(response.status, 400);
    assert.equal(response.body.error, 'invalid_grant');
  });

  test(`a refresh drops the scopes the user's roles no longer grant (${database})`, async (t) => {
    const { issuer, seed, db } = await setup(t, '5', await databaseEnv(t));
    const tokens = await passwordTokens(issuer, seed);
    assert.equal(tokens.scope, 'me items');
    // Take `items` away from the role johndoe holds.
    await db.deleteFrom('role_scopes').where('scope', '=', 'items').execute();
    const response = await refresh(issuer, seed, tokens.refresh_token);
    assert.equal(response.status, 200);
    assert.equal(decodeJwt(response.body.access_token).scope, 'me');
    assert.equal(response.body.scope, 'me');
    // The grant itself lost the scope: given back to the role, it does not come back by refresh.
    await db.insertInto('role_scopes').values({ role_id: (await db.selectFrom('roles').select('id').where('name', '=', 'user').executeTakeFirstOrThrow()).id, scope: 'items' }).execute();
    const next = await refresh(issuer, seed, response.body.refresh_token);
    assert.equal(next.status, 200, JSON.stringify(next.body));
    assert.equal(next.body.scope, 'me');
  });
}

// Security item 10.19: the grace window replayed the answer for ANY recently rotated token, so a
// thief holding RT0 could, within its window, get RT1 again after the owner had already moved on
// to RT2 — and RT2 stayed valid. The window covers only the latest rotation; anything older is
// reuse, and reuse revokes the grant (RFC 9700 §4.14.2).
for (const database of ['sqlite', 'postgres'] as const) {
  test(`grace window, ${database}: a token older than the latest rotation is reuse, even inside its window: the grant is revoked`, async (t) => {
    const env: Env = database === 'postgres' ? { GATEHOUSE_DATABASE_URL: await tempPostgres(t) } : {};
    const { issuer, seed } = await setup(t, '30', env);
    const rt0 = (await passwordTokens(issuer, seed)).refresh_token;
    const rt1 = (await refresh(issuer, seed, rt0)).body.refresh_token as string;
    const second = await refresh(issuer, seed, rt1);
    assert.equal(second.status, 200);
    const rt2 = second.body.refresh_token as string;

    const replay = await refresh(issuer, seed, rt0);
    assert.equal(replay.status, 400, `RT0 replayed after RT1 was used: ${JSON.stringify(replay.body)}`);
    assert.equal(replay.body.error, 'invalid_grant');
    assert.equal(replay.body.refresh_token, undefined, 'no token handed out');
    const after = await refresh(issuer, seed, rt2);
    assert.equal(after.status, 400, 'the grant was revoked: the latest token is dead too');
    assert.equal(after.body.error, 'invalid_grant');
  });
}

test('grace window, public client: a token older than the latest rotation is reuse too', async (t) => {
  const { issuer, seed } = await setup(t, '30');
  const web = (token: string) => tokenRequest(issuer, { grant_type: 'refresh_token', client_id: 'web', refresh_token: token });
  const rt0 = (await browserTokens(issuer, seed)).refresh_token;
  const rt1 = (await web(rt0)).body.refresh_token as string;
  const rt2 = (await web(rt1)).body.refresh_token as string;
  assert.ok(rt2);
  assert.equal((await web(rt0)).status, 400);
  assert.equal((await web(rt2)).status, 400, 'the grant was revoked');
});

// A client that lost the answer to a refresh (the instance died after committing, the network
// dropped the response) still holds only the old token. It retries with it (docs/adr/0007).
test('lost answer, confidential client: a retry after the grace window gets the same successor while that successor was never used', async (t) => {
  const { issuer, seed, db } = await setup(t, '1', { GATEHOUSE_REFRESH_TOKEN_RETRY_WINDOW: '300' });
  const rt0 = (await passwordTokens(issuer, seed)).refresh_token;
  const lost = await refresh(issuer, seed, rt0); // the answer the client never saw
  assert.equal(lost.status, 200);
  await afterGrace(db, rt0, 1);

  const retry = await refresh(issuer, seed, rt0);
  assert.equal(retry.status, 200, JSON.stringify(retry.body));
  assert.equal(retry.body.refresh_token, lost.body.refresh_token, 'the same successor: no second chain');
  assert.equal(retry.body.access_token, lost.body.access_token);
  const again = await refresh(issuer, seed, rt0);
  assert.equal(again.body.refresh_token, lost.body.refresh_token, 'and again, while it is unused');

  // Once the successor is used, the old token is only a reuse: the grant goes.
  const next = await refresh(issuer, seed, retry.body.refresh_token);
  assert.equal(next.status, 200);
  const reuse = await refresh(issuer, seed, rt0);
  assert.equal(reuse.status, 400);
  assert.equal(reuse.body.error, 'invalid_grant');
  assert.equal((await refresh(issuer, seed, next.body.refresh_token)).status, 400, 'the grant was revoked');
});

test('lost answer, public client: no retry window (its token alone is the credential): after the grace window a reuse revokes the grant', async (t) => {
  const { issuer, seed, db } = await setup(t, '1', { GATEHOUSE_REFRESH_TOKEN_RETRY_WINDOW: '300' });
  const web = (token: string) => tokenRequest(issuer, { grant_type: 'refresh_token', client_id: 'web', refresh_token: token });
  const rt0 = (await browserTokens(issuer, seed)).refresh_token;
  const lost = await web(rt0);
  assert.equal(lost.status, 200);
  await afterGrace(db, rt0, 1);
  const retry = await web(rt0);
  assert.equal(retry.status, 400);
  assert.equal(retry.body.error, 'invalid_grant');
  assert.equal((await web(lost.body.refresh_token)).status, 400, 'the grant was revoked');
});

test('a refresh token only works for the client it was issued to', async (t) => {
  const { issuer, seed } = await setup(t, '5');
  const { refresh_token } = await passwordTokens(issuer, seed);
  const response = await tokenRequest(issuer, { grant_type: 'refresh_token', refresh_token }, seed.service);
  assert.equal(response.status, 400);
  assert.ok(['invalid_grant', 'unauthorized_client', 'invalid_request'].includes(response.body.error), response.body.error);
  const web = await tokenRequest(issuer, { grant_type: 'refresh_token', client_id: 'web', refresh_token });
  assert.equal(web.status, 400);
  assert.equal(web.body.error, 'invalid_grant');
});

test("an API's own access-token lifetime wins over the server default", async (t) => {
  const { issuer, seed, db, server } = await setup(t, '5');
  await apis.createApi(db, { identifier: 'https://short.example', name: 'Short-lived', scopes: 'items', accessTokenTtl: 60 });
  await clients.updateClient(db, seed.passwordClient.clientId, { apis: [ITEMS_API, 'https://short.example'] });
  await server.changed('clients');
  const cc = await tokenRequest(issuer, { grant_type: 'client_credentials', resource: ITEMS_API }, seed.service);
  const claims = decodeJwt(cc.body.access_token);
  assert.equal(claims.exp! - claims.iat!, 900, 'the server default');
  await clients.createClient(db, { clientId: 'short-svc', name: 'S', grantTypes: 'client_credentials', scopes: 'items', apis: ['https://short.example'] }).then(async ({ clientSecret }) => {
    const short = await tokenRequest(issuer, { grant_type: 'client_credentials', resource: 'https://short.example' }, { clientId: 'short-svc', clientSecret: clientSecret! });
    const shortClaims = decodeJwt(short.body.access_token);
    assert.equal(shortClaims.exp! - shortClaims.iat!, 60);
    assert.equal(short.body.expires_in, 60);
  });
  const user = await tokenRequest(issuer, { grant_type: 'password', username: 'johndoe', password: 'correct horse', resource: 'https://short.example' }, seed.passwordClient);
  assert.equal(user.body.expires_in, 60, 'user tokens too');
});

test('a public browser client refreshes without extending its refresh token expiry', async (t) => {
  const { issuer, db, seed } = await setup(t, '5');
  const browserTokens = async () => {
    const verifier = client.randomPKCECodeVerifier();
    const url = new URL(`${issuer}/authorize`);
    for (const [k, v] of Object.entries({ client_id: 'web', response_type: 'code', redirect_uri: seed.webRedirectUri, scope: 'items', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' })) url.searchParams.set(k, v);
    const { callback } = await loginThroughForm(createBrowser(), url, { username: 'johndoe', password: 'correct horse' }, seed.webRedirectUri);
    return (await tokenRequest(issuer, { grant_type: 'authorization_code', client_id: 'web', code: callback.searchParams.get('code')!, redirect_uri: seed.webRedirectUri, code_verifier: verifier })).body;
  };
  const first = await browserTokens();
  const stored = async (token: string) => {
    const row = await db.selectFrom('oidc_payloads').select('payload').where('model', '=', 'RefreshToken').where('id', '=', sha256(token)).executeTakeFirstOrThrow();
    return JSON.parse(row.payload) as { iat: number; exp: number };
  };
  const expiry = async (token: string) => (await stored(token)).exp;
  // A rotation in a later second than the first token's: a fresh lifetime would show.
  await secondPassed((await stored(first.refresh_token)).iat);
  const second = (await tokenRequest(issuer, { grant_type: 'refresh_token', client_id: 'web', refresh_token: first.refresh_token })).body;
  assert.ok(second.refresh_token);
  assert.equal(await expiry(second.refresh_token), await expiry(first.refresh_token), 'same absolute expiry');
  // A confidential client's rotated token gets a fresh lifetime.
  const cli1 = (await tokenRequest(issuer, { grant_type: 'password', username: 'johndoe', password: 'correct horse' }, seed.passwordClient)).body;
  await secondPassed((await stored(cli1.refresh_token)).iat);
  const cli2 = (await tokenRequest(issuer, { grant_type: 'refresh_token', refresh_token: cli1.refresh_token }, seed.passwordClient)).body;
  assert.ok((await expiry(cli2.refresh_token)) > (await expiry(cli1.refresh_token)));
});

test('an empty refresh_token is invalid_request, never a 500', async (t) => {
  const { issuer, seed } = await setup(t, '30');
  const empty = await tokenRequest(issuer, { grant_type: 'refresh_token', refresh_token: '' }, seed.passwordClient);
  assert.equal(empty.status, 400);
  assert.deepEqual(empty.body, { error: 'invalid_request', error_description: "missing required parameter 'refresh_token'" });
});

test('a kept answer that cannot be opened (altered in the database) is no answer: the replay is refused as reuse, never a 500', async (t) => {
  const { issuer, seed, db } = await setup(t, '30');
  const { refresh_token } = await passwordTokens(issuer, seed);
  const first = await refresh(issuer, seed, refresh_token);
  assert.equal(first.status, 200);
  // The answer is sealed with the token it answers: someone who altered the row (or a row sealed
  // under another token) gets nothing from it.
  const altered = await db.updateTable('refresh_reuses').set({ response: 'not-a-sealed-answer' }).where('token_hash', '=', sha256(refresh_token)).executeTakeFirst();
  assert.equal(Number(altered.numUpdatedRows), 1, 'the answer was kept');
  const replay = await refresh(issuer, seed, refresh_token);
  assert.deepEqual([replay.status, replay.body.error], [400, 'invalid_grant']);
});
