// Signing keys: generated at first start, kept in storage, published without private parts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import * as apis from '../src/storage/apis.ts';
import * as clients from '../src/storage/clients.ts';
import * as signingKeys from '../src/storage/keys.ts';
import { ITEMS_API, seedDemo, startInProcess, tokenRequest } from '@gatehouse/test-support/gatehouse';
import { waitFor } from '@gatehouse/test-support/wait';

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'];

test('the JWKS publishes one ES256 and one RS256 public key, and nothing private', async (t) => {
  const { issuer } = await startInProcess(t);
  const jwks = (await (await fetch(`${issuer}/jwks`)).json()) as JSONWebKeySet;
  assert.deepEqual(jwks.keys.map((k) => k.alg).sort(), ['ES256', 'RS256']);
  for (const key of jwks.keys) {
    assert.ok(key.kid);
    for (const member of PRIVATE_MEMBERS) assert.equal((key as Record<string, unknown>)[member], undefined, `${member} published`);
  }
  const ec = jwks.keys.find((k) => k.alg === 'ES256')!;
  assert.equal(ec.crv, 'P-256');
});

// python-jose and others take the JWKS's first key when a token's kid is not looked up: it must be
// the key that signs by default (ES256), also after the RS256 key was rotated (newer keys list first in storage).
test('the JWKS lists the active key of the default algorithm (ES256) first, before and after an RS256 rotation', async (t) => {
  const gh = await startInProcess(t);
  const seed = await seedDemo(gh.db);
  const first = async () => ((await (await fetch(`${gh.issuer}/jwks`)).json()) as JSONWebKeySet).keys[0]!;
  const defaultToken = async () => (await tokenRequest(gh.issuer, { grant_type: 'client_credentials', resource: ITEMS_API }, seed.service)).body.access_token as string;

  assert.equal((await first()).alg, 'ES256');
  assert.equal((await first()).kid, decodeProtectedHeader(await defaultToken()).kid, 'the first key is the one default tokens name');

  const rotated = await signingKeys.scheduleKeyRotation(gh.db, 'RS256', Date.now() - 1);
  await gh.server.maintainKeys();
  const keys = ((await (await fetch(`${gh.issuer}/jwks`)).json()) as JSONWebKeySet).keys;
  assert.ok(keys.some((k) => k.kid === rotated.kid), 'the new RS256 key is published');
  assert.equal(keys[0]!.alg, 'ES256', 'still first');
  await jwtVerify(await defaultToken(), createLocalJWKSet({ keys: [keys[0]!] }), { issuer: gh.issuer });
});

test('discovery advertises no symmetric and no "none" algorithms', async (t) => {
  const { issuer } = await startInProcess(t);
  const metadata = await (await fetch(`${issuer}/.well-known/openid-configuration`)).json();
  for (const [name, value] of Object.entries(metadata)) {
    if (name.endsWith('_alg_values_supported') && Array.isArray(value)) {
      for (const alg of value as string[]) assert.doesNotMatch(alg, /^(HS\d+|none)$/i, `${name} lists ${alg}`);
    }
  }
  // The code flow only; `none` (a login session, no code or token) is the built-in account client's.
  assert.deepEqual(metadata.response_types_supported, ['code', 'none']);
  assert.ok(!metadata.grant_types_supported.includes('implicit'));
});

test('tokens are ES256 by default and RS256 for an API that asks for it; both verify against the JWKS', async (t) => {
  const { issuer, db } = await startInProcess(t);
  const seed = await seedDemo(db);
  await apis.createApi(db, { identifier: 'https://legacy.example', name: 'Legacy', scopes: 'read', signingAlg: 'RS256' });
  await clients.createClient(db, { clientId: 'legacy-svc', name: 'Legacy service', grantTypes: 'client_credentials', scopes: 'read accounts:read', apis: ['https://legacy.example'] }).then(async ({ clientSecret }) => {
    const jwks = createLocalJWKSet(await (await fetch(`${issuer}/jwks`)).json());
    const es = await tokenRequest(issuer, { grant_type: 'client_credentials', resource: ITEMS_API }, seed.service);
    assert.equal(decodeProtectedHeader(es.body.access_token).alg, 'ES256');
    const rs = await tokenRequest(issuer, { grant_type: 'client_credentials', resource: 'https://legacy.example' }, { clientId: 'legacy-svc', clientSecret: clientSecret! });
    assert.equal(decodeProtectedHeader(rs.body.access_token).alg, 'RS256');
    for (const token of [es.body.access_token, rs.body.access_token]) {
      const { payload, protectedHeader } = await jwtVerify(token, jwks, { issuer, typ: 'at+jwt' });
      assert.equal(protectedHeader.typ, 'at+jwt');
      assert.ok(payload.aud);
    }
  });
});

test('keys survive a restart: same kids, and tokens issued before still verify', async (t) => {
  const first = await startInProcess(t);
  const seed = await seedDemo(first.db);
  const before = await (await fetch(`${first.issuer}/jwks`)).json();
  const token = (await tokenRequest(first.issuer, { grant_type: 'client_credentials', resource: ITEMS_API }, seed.service)).body.access_token;
  await first.close();

  const second = await startInProcess(t, { GATEHOUSE_DATABASE_URL: first.databaseUrl, GATEHOUSE_PUBLIC_URL: first.issuer });
  const after = await (await fetch(`${second.issuer}/jwks`)).json();
  assert.deepEqual(after.keys.map((k: { kid: string }) => k.kid).sort(), before.keys.map((k: { kid: string }) => k.kid).sort());
  await jwtVerify(token, createLocalJWKSet(after), { issuer: first.issuer });
});

test('rotation lifecycle: published before signing, then active, retired while tokens may live, then dropped', async (t) => {
  const gh = await startInProcess(t);
  const seed = await seedDemo(gh.db);
  const jwks = async () => (await (await fetch(`${gh.issuer}/jwks`)).json()) as { keys: { kid: string; alg: string; key_ops?: string[] }[] };
  const kidOf = async () => decodeProtectedHeader((await tokenRequest(gh.issuer, { grant_type: 'client_credentials', resource: ITEMS_API }, seed.service)).body.access_token).kid;
  const oldKid = (await kidOf())!;

  // Nothing changed: the provider is kept, and no change is reported (or logged).
  const provider = gh.server.engine.provider;
  assert.equal(await gh.server.engine.reloadKeys(), false);
  assert.equal(gh.server.engine.provider, provider);

  const scheduled = await signingKeys.scheduleKeyRotation(gh.db, 'ES256', Date.now() + 3_600_000);
  assert.equal(await gh.server.engine.reloadKeys(), true, 'a published key was added');
  assert.notEqual(gh.server.engine.provider, provider);
  await gh.server.maintainKeys();
  assert.deepEqual((await jwks()).keys.find((k) => k.kid === scheduled.kid)?.key_ops, ['verify'], 'published first, for verification only');
  assert.equal(await kidOf(), oldKid, 'the old key still signs');

  await gh.db.updateTable('signing_keys').set({ activates_at: Date.now() - 1 }).where('kid', '=', scheduled.kid).execute();
  await gh.server.maintainKeys();
  assert.equal(await kidOf(), scheduled.kid, 'the new key signs');
  const retired = (await jwks()).keys.find((k) => k.kid === oldKid);
  assert.deepEqual(retired?.key_ops, ['verify'], 'the old key stays published, for verification only');
  assert.equal((await jwks()).keys.filter((k) => k.alg === 'ES256' && k.key_ops === undefined).length, 1, 'one signing key per algorithm');

  // Once nothing it signed can still be valid, the retired key goes.
  await gh.db.updateTable('signing_keys').set({ retired_at: Date.now() - 2 * 86_400_000 }).where('kid', '=', oldKid).execute();
  await gh.server.maintainKeys();
  assert.equal((await jwks()).keys.find((k) => k.kid === oldKid), undefined);
  assert.equal((await signingKeys.listSigningKeys(gh.db)).find((k) => k.kid === oldKid), undefined);
});

test("a retired key stays published as long as an API's own (longer) access-token lifetime, not the server default", async (t) => {
  const gh = await startInProcess(t);
  const seed = await seedDemo(gh.db);
  const DAY = 86_400;
  // Server defaults: access tokens 15 minutes, ID tokens an hour. This API's tokens live a day.
  await apis.createApi(gh.db, { identifier: 'https://long.example', name: 'Long-lived', scopes: 'read', accessTokenTtl: DAY });
  const { clientSecret } = await clients.createClient(gh.db, { clientId: 'long-svc', name: 'Long', grantTypes: 'client_credentials', scopes: 'read', apis: ['https://long.example'] });
  const token = (await tokenRequest(gh.issuer, { grant_type: 'client_credentials', resource: 'https://long.example' }, { clientId: 'long-svc', clientSecret: clientSecret! })).body.access_token as string;
  const { exp, iat } = decodeJwt(token);
  assert.equal(exp! - iat!, DAY);
  const oldKid = decodeProtectedHeader(token).kid!;

  // Rotate now: the key that signed the token is retired.
  const next = await signingKeys.scheduleKeyRotation(gh.db, 'ES256', Date.now() - 1);
  await gh.server.maintainKeys();
  assert.equal((await signingKeys.listSigningKeys(gh.db)).find((k) => k.kid === oldKid)?.state, 'retired');
  assert.equal((await signingKeys.listSigningKeys(gh.db)).find((k) => k.kid === next.kid)?.state, 'active');
  const retiredAgo = async (seconds: number) => {
    await gh.db.updateTable('signing_keys').set({ retired_at: Date.now() - seconds * 1000 }).where('kid', '=', oldKid).execute();
    await gh.server.maintainKeys();
    return (await (await fetch(`${gh.issuer}/jwks`)).json()) as JSONWebKeySet;
  };

  // Retired two hours ago: past every server default, but the API's token is still valid for
  // hours, and must still verify.
  const stillPublished = await retiredAgo(2 * 3600);
  assert.ok(stillPublished.keys.some((k) => k.kid === oldKid), 'still published');
  await jwtVerify(token, createLocalJWKSet(stillPublished), { issuer: gh.issuer, audience: 'https://long.example' });

  // Retired longer ago than the longest lifetime: gone, from the JWKS and from storage.
  const gone = await retiredAgo(DAY + 60);
  assert.equal(gone.keys.find((k) => k.kid === oldKid), undefined);
  assert.equal((await signingKeys.listSigningKeys(gh.db)).find((k) => k.kid === oldKid), undefined);
});

// The periodic check (GATEHOUSE_KEY_CHECK_INTERVAL) is the safety net; a scheduled rotation comes
// due on its own timer, armed at start and whenever the keys change, to the millisecond rather
// than at the next check. Here the check is an hour apart: only the timer can activate the keys.
test('a scheduled rotation activates on its own timer, armed at start and when the keys change', async (t) => {
  const env = { GATEHOUSE_KEY_CHECK_INTERVAL: '3600' };
  const first = await startInProcess(t, env);
  const seed = await seedDemo(first.db);
  const kidOf = async (issuer: string) =>
    decodeProtectedHeader((await tokenRequest(issuer, { grant_type: 'client_credentials', resource: ITEMS_API }, seed.service)).body.access_token).kid;
  const oldKid = await kidOf(first.issuer);

  // Armed when the keys change: a rotation scheduled a moment from now, announced.
  // Another rotation, much later, beside it: the timer is for the earliest.
  await signingKeys.scheduleKeyRotation(first.db, 'RS256', Date.now() + 3_600_000);
  const soon = await signingKeys.scheduleKeyRotation(first.db, 'ES256', Date.now() + 1_000);
  await first.server.changed('keys');
  await waitFor(async () => (await kidOf(first.issuer)) === soon.kid, { timeout: 20_000, message: 'the scheduled key signs, with no periodic check' });
  assert.notEqual(soon.kid, oldKid);

  // Armed at start: a rotation scheduled while no instance runs comes due in the next one.
  const due = Date.now() + 4_000;
  const later = await signingKeys.scheduleKeyRotation(first.db, 'ES256', due);
  await first.close();
  const second = await startInProcess(t, { ...env, GATEHOUSE_DATABASE_URL: first.databaseUrl });
  const signer = await kidOf(second.issuer);
  if (Date.now() < due) assert.equal(signer, soon.kid, 'not yet due');
  await waitFor(async () => (await kidOf(second.issuer)) === later.kid, { timeout: 20_000, message: 'the key scheduled before start signs' });
});
