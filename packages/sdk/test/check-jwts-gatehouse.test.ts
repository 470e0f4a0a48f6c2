// introspection.checkJwts against a real Gatehouse server: its JWT access tokens are verified
// locally by the SDK, and Gatehouse's introspection answers active:false once the token's user is
// disabled, its client revoked or its grant revoked. With the option, the SDK refuses such a token
// once its cached answer is older than cacheTtl; without it, the token works until it expires —
// the trade-off the option exists for. The SDK's clock is moved by hand, so no assertion depends on
// how fast the test runs.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createAuthenticator, type Authenticator, type AuthOutcome } from '@gatehouse/sdk';
import * as clients from '@gatehouse/server/internal/storage/clients';
import * as users from '@gatehouse/server/internal/storage/users';
import { ITEMS_API, seedDemo, startInProcess, tokenRequest } from '@gatehouse/test-support/gatehouse';
import { bearer, countingFetch, manualClock, request } from './helpers.ts';

const CACHE_TTL = 1;

async function setup(t: test.TestContext) {
  const gh = await startInProcess(t, { GATEHOUSE_DEFAULT_API: ITEMS_API });
  const seed = await seedDemo(gh.db);
  // The API's own confidential client, for introspection (RFC 7662 §2.1).
  const api = await clients.createClient(gh.db, { clientId: 'items-api', name: 'Items API', grantTypes: 'client_credentials' });
  const clock = manualClock();
  const counter = countingFetch();
  const build = (checkJwts: boolean): Authenticator =>
    createAuthenticator({
      issuer: gh.issuer,
      audience: ITEMS_API,
      algorithms: ['ES256'],
      fetch: counter.fetch,
      now: clock.now,
      introspection: { clientId: 'items-api', clientSecret: api.clientSecret!, checkJwts, cacheTtl: CACHE_TTL, negativeCacheTtl: CACHE_TTL },
    });
  const userToken = async (): Promise<string> => {
    const answer = await tokenRequest(gh.issuer, { grant_type: 'password', username: 'johndoe', password: 'correct horse', scope: 'me items' }, seed.passwordClient);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    return answer.body.access_token as string;
  };
  return { ...gh, seed, clock, counter, checked: build(true), unchecked: build(false), userToken };
}

const check = (authenticator: Authenticator, token: string) => authenticator.authenticate(request(bearer(token)), { scopes: ['items'] });

function assertRevoked(outcome: AuthOutcome): void {
  assert.ok(!outcome.ok, 'refused');
  assert.equal(outcome.response.status, 401);
  assert.equal(outcome.error.code, 'invalid_token');
  assert.match(outcome.response.headers['www-authenticate'] ?? '', /^Bearer realm="[^"]+", error="invalid_token"/);
}

test('a JWT of a since-disabled user: refused within cacheTtl with checkJwts (for good), accepted until exp without', async (t) => {
  const { db, clock, counter, checked, unchecked, userToken } = await setup(t);
  const token = await userToken();
  assert.equal((await check(checked, token)).ok, true);
  assert.equal((await check(unchecked, token)).ok, true);
  const introspections = () => counter.count((url) => url.endsWith('/introspect'));
  assert.equal(introspections(), 1, 'only the authenticator with checkJwts asks Gatehouse');

  await users.setUserDisabled(db, 'johndoe', true);
  // Within cacheTtl the cached answer stands: this is how long a revoked JWT may keep working.
  assert.equal((await check(checked, token)).ok, true);
  clock.advance(CACHE_TTL + 0.001);
  assertRevoked(await check(checked, token));
  assert.equal(introspections(), 2);
  // Without the option the SDK never asks: the token works until its exp.
  assert.equal((await check(unchecked, token)).ok, true);
  assert.equal(introspections(), 2);

  // Enabled again, the account works, but what was issued before stays revoked (SECURITY.md:
  // disabling a user revokes what was issued under the old state).
  await users.setUserDisabled(db, 'johndoe', false);
  clock.advance(CACHE_TTL + 0.001);
  assertRevoked(await check(checked, token));
  assert.equal((await check(checked, await userToken())).ok, true, 'a new token works');
});

test('a JWT of a since-revoked client, or of a revoked grant, is refused with checkJwts', async (t) => {
  const { issuer, server, db, seed, clock, checked, unchecked, userToken } = await setup(t);
  const granted = await tokenRequest(issuer, { grant_type: 'password', username: 'johndoe', password: 'correct horse', scope: 'me items' }, seed.passwordClient);
  const grantToken = granted.body.access_token as string;
  const clientToken = await userToken();
  for (const token of [grantToken, clientToken]) assert.equal((await check(checked, token)).ok, true);

  // RFC 7009 on the refresh token revokes its grant, and Gatehouse's answer for the JWTs under it.
  const auth = `Basic ${Buffer.from(`${seed.passwordClient.clientId}:${seed.passwordClient.clientSecret}`).toString('base64')}`;
  const revoked = await fetch(`${issuer}/revoke`, {
    method: 'POST',
    headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token: granted.body.refresh_token as string, token_type_hint: 'refresh_token' }).toString(),
  });
  assert.equal(revoked.status, 200);
  clock.advance(CACHE_TTL + 0.001);
  assertRevoked(await check(checked, grantToken));
  assert.equal((await check(checked, clientToken)).ok, true, 'another grant of the same user and client is untouched');

  await clients.revokeClient(db, seed.passwordClient.clientId);
  server.engine.invalidateCaches();
  clock.advance(CACHE_TTL + 0.001);
  assertRevoked(await check(checked, clientToken));
  assert.equal((await check(unchecked, clientToken)).ok, true, 'without checkJwts: accepted until exp');
});
