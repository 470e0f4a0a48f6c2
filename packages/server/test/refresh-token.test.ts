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
import { ITEMS_API, seedDemo, startInProcess, tokenRequest, type DemoSeed } from '@gatehouse/test-support/gatehouse';

async function setup(t: test.TestContext, graceSeconds: string) {
  const gh = await startInProcess(t, { GATEHOUSE_DEFAULT_API: ITEMS_API, GATEHOUSE_REFRESH_TOKEN_REUSE_GRACE: graceSeconds });
  const seed = await seedDemo(gh.db);
  return { ...gh, seed };
}

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
  const first = await refresh(issuer, seed, refresh_token);
  assert.equal(first.status, 200);
  assert.notEqual(first.body.refresh_token, refresh_token, 'rotated');
  const second = await refresh(issuer, seed, refresh_token);
  assert.equal(second.status, 200);
  assert.equal(second.body.refresh_token, first.body.refresh_token, 'same successor');
  assert.equal(second.body.access_token, first.body.access_token);
  assert.ok(second.body.expires_in <= first.body.expires_in);
  // The successor still works: the grant was not revoked.
  const next = await refresh(issuer, seed, first.body.refresh_token);
  assert.equal(next.status, 200);
});

test('concurrent refreshes of one token all succeed with one successor (grace window on)', async (t) => {
  const { issuer, seed } = await setup(t, '30');
  const { refresh_token } = await passwordTokens(issuer, seed);
  const results = await Promise.all(Array.from({ length: 6 }, () => refresh(issuer, seed, refresh_token)));
  assert.deepEqual(results.map((r) => r.status), Array(6).fill(200));
  assert.equal(new Set(results.map((r) => r.body.refresh_token)).size, 1, 'exactly one successor');
  const next = await refresh(issuer, seed, results[0]!.body.refresh_token);
  assert.equal(next.status, 200, 'and it is valid');
});

test('without a grace window, concurrent refreshes give one success, never a 5xx, and no second valid successor', async (t) => {
  const { issuer, seed } = await setup(t, '0');
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

test('after the grace window a reuse revokes the whole grant', async (t) => {
  const { issuer, seed } = await setup(t, '1');
  const { refresh_token } = await passwordTokens(issuer, seed);
  const first = await refresh(issuer, seed, refresh_token);
  assert.equal(first.status, 200);
  await new Promise((resolve) => setTimeout(resolve, 1200));
  const reuse = await refresh(issuer, seed, refresh_token);
  assert.equal(reuse.status, 400);
  assert.equal(reuse.body.error, 'invalid_grant');
  const successor = await refresh(issuer, seed, first.body.refresh_token);
  assert.equal(successor.status, 400, 'the successor went with the grant');
});

test('a disabled user gets no new tokens from a refresh token', async (t) => {
  const { issuer, seed, db } = await setup(t, '5');
  const { refresh_token } = await passwordTokens(issuer, seed);
  await users.setUserDisabled(db, 'johndoe', true);
  const response = await refresh(issuer, seed, refresh_token);
  assert.equal(response.status, 400);
  assert.equal(response.body.error, 'invalid_grant');
});

test('a refresh drops the scopes the user\'s roles no longer grant', async (t) => {
  const { issuer, seed, db } = await setup(t, '5');
  const tokens = await passwordTokens(issuer, seed);
  assert.equal(tokens.scope, 'me items');
  // Take `items` away from the role johndoe holds.
  await db.deleteFrom('role_scopes').where('scope', '=', 'items').execute();
  const response = await refresh(issuer, seed, tokens.refresh_token);
  assert.equal(response.status, 200);
  assert.equal(decodeJwt(response.body.access_token).scope, 'me');
  assert.equal(response.body.scope, 'me');
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
  const expiry = async (token: string) => {
    const row = await db.selectFrom('oidc_payloads').select('payload').where('model', '=', 'RefreshToken').where('id', '=', sha256(token)).executeTakeFirstOrThrow();
    return (JSON.parse(row.payload) as { exp: number }).exp;
  };
  await new Promise((resolve) => setTimeout(resolve, 1100));
  const second = (await tokenRequest(issuer, { grant_type: 'refresh_token', client_id: 'web', refresh_token: first.refresh_token })).body;
  assert.ok(second.refresh_token);
  assert.equal(await expiry(second.refresh_token), await expiry(first.refresh_token), 'same absolute expiry');
  // A confidential client's rotated token gets a fresh lifetime.
  const cli1 = (await tokenRequest(issuer, { grant_type: 'password', username: 'johndoe', password: 'correct horse' }, seed.passwordClient)).body;
  await new Promise((resolve) => setTimeout(resolve, 1100));
  const cli2 = (await tokenRequest(issuer, { grant_type: 'refresh_token', refresh_token: cli1.refresh_token }, seed.passwordClient)).body;
  assert.ok((await expiry(cli2.refresh_token)) > (await expiry(cli1.refresh_token)));
});
