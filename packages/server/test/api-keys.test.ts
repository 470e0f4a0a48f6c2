// API keys: the recognisable format, hashed storage, scopes never beyond the owner's, and
// introspection's answers for every state a key can be in.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openStorage } from '../src/storage/database.ts';
import * as apiKeys from '../src/storage/api-keys.ts';
import * as clients from '../src/storage/clients.ts';
import { withPasswordHash } from '../src/passwords/user-passwords.ts';
import * as users from '../src/storage/users.ts';
import { ITEMS_API, seedDemo, startInProcess } from '@gatehouse/test-support/gatehouse';

async function setup(t: test.TestContext) {
  const gh = await startInProcess(t, { GATEHOUSE_DEFAULT_API: ITEMS_API });
  const seed = await seedDemo(gh.db);
  const introspect = async (token: string, auth = seed.service) => {
    const response = await fetch(`${gh.issuer}/introspect`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${auth.clientId}:${auth.clientSecret}`).toString('base64')}`,
      },
      body: new URLSearchParams({ token }).toString(),
    });
    return { status: response.status, body: await response.json() };
  };
  return { ...gh, seed, introspect };
}

test('a key is shown once, recognisable, and stored only as a hash', async (t) => {
  const { db } = await setup(t);
  const { apiKey, key } = await apiKeys.createApiKey(db, { owner: { kind: 'user', id: 'johndoe' }, api: ITEMS_API, scopes: 'items', name: 'laptop' });
  assert.match(key, /^gatehouse_ak_[0-9A-Za-z]{16}_[0-9A-Za-z]{38}$/);
  assert.ok(key.includes(apiKey.id), 'the public id is part of the key');
  const row = await db.selectFrom('api_keys').selectAll().where('id', '=', apiKey.id).executeTakeFirstOrThrow();
  assert.ok(row.secret_hash.startsWith('sha256:'));
  assert.ok(!JSON.stringify(row).includes(key.slice(30)), 'the secret part is stored nowhere');
  assert.ok(!JSON.stringify(await apiKeys.listApiKeys(db)).includes(key.slice(30)), 'listings never show it');
  // A changed character breaks the checksum: refused without a lookup.
  const flipped = key.slice(0, -1) + (key.endsWith('a') ? 'b' : 'a');
  assert.equal(apiKeys.parseApiKey(flipped), undefined);
  assert.equal(apiKeys.parseApiKey(key), apiKey.id);
});

test('scopes can never exceed what the owner may have', async (t) => {
  const { db } = await setup(t);
  await assert.rejects(
    apiKeys.createApiKey(db, { owner: { kind: 'user', id: 'johndoe' }, api: ITEMS_API, scopes: 'items accounts:read' }),
    (e: { code: string; field: string }) => e.code === 'invalid_request' && e.field === 'scopes',
  );
  await assert.rejects(
    apiKeys.createApiKey(db, { owner: { kind: 'client', id: 'service' }, api: ITEMS_API, scopes: 'items' }),
    (e: { code: string }) => e.code === 'invalid_request',
  );
  await assert.rejects(apiKeys.createApiKey(db, { owner: { kind: 'user', id: 'nobody' }, api: ITEMS_API, scopes: 'items' }), (e: { code: string }) => e.code === 'not_found');
  await assert.rejects(apiKeys.createApiKey(db, { owner: { kind: 'user', id: 'johndoe' }, api: 'https://nope.example', scopes: 'items' }), (e: { code: string }) => e.code === 'not_found');
  await assert.rejects(apiKeys.createApiKey(db, { owner: { kind: 'user', id: 'alice' }, api: ITEMS_API, scopes: 'items' }), (e: { code: string }) => e.code === 'invalid_request', 'disabled owner');
});

test('introspection answers for a live key: kind, owner, scopes, audience, expiry', async (t) => {
  const { db, issuer, introspect } = await setup(t);
  const { apiKey, key } = await apiKeys.createApiKey(db, { owner: { kind: 'user', id: 'johndoe' }, api: ITEMS_API, scopes: 'me items', expiresIn: 3600 });
  const { status, body } = await introspect(key);
  assert.equal(status, 200);
  assert.equal(body.active, true);
  assert.equal(body.token_type, 'api_key');
  assert.equal(body.scope, 'me items');
  assert.equal(body.aud, ITEMS_API);
  assert.equal(body.iss, issuer);
  assert.equal(body.sub, (await users.findUser(db, 'johndoe'))!.id);
  assert.equal(body.client_id, undefined, 'a user-owned key has no client');
  assert.ok(body.exp > Date.now() / 1000 + 3500);
  assert.equal(body.gatehouse_key_id, apiKey.id);

  const clientKey = await apiKeys.createApiKey(db, { owner: { kind: 'client', id: 'service' }, api: ITEMS_API, scopes: 'accounts:read' });
  const clientAnswer = (await introspect(clientKey.key)).body;
  assert.equal(clientAnswer.client_id, 'service');
  assert.equal(clientAnswer.sub, 'service');
});

test('revoked, expired, unknown, mistyped keys and keys of disabled owners are exactly {active:false}', async (t) => {
  const { db, introspect } = await setup(t);
  const revoked = await apiKeys.createApiKey(db, { owner: { kind: 'user', id: 'johndoe' }, api: ITEMS_API, scopes: 'items' });
  await apiKeys.revokeApiKey(db, revoked.apiKey.id);
  const expiring = await apiKeys.createApiKey(db, { owner: { kind: 'user', id: 'johndoe' }, api: ITEMS_API, scopes: 'items', expiresIn: 60 });
  await db.updateTable('api_keys').set({ expires_at: Date.now() - 1000 }).where('id', '=', expiring.apiKey.id).execute();
  const owner = await users.createUser(db, await withPasswordHash({ username: 'leaving', password: 'correct horse', roles: ['user'] }));
  const ownerKey = await apiKeys.createApiKey(db, { owner: { kind: 'user', id: owner.id }, api: ITEMS_API, scopes: 'items' });
  assert.equal((await introspect(ownerKey.key)).body.active, true);
  await users.setUserDisabled(db, owner.id, true);
  const clientKey = await apiKeys.createApiKey(db, { owner: { kind: 'client', id: 'service' }, api: ITEMS_API, scopes: 'accounts:read' });
  await clients.revokeClient(db, 'service');
  const live = await apiKeys.createApiKey(db, { owner: { kind: 'user', id: 'johndoe' }, api: ITEMS_API, scopes: 'items' });
  const mistyped = live.key.slice(0, -1) + (live.key.endsWith('a') ? 'b' : 'a');
  const unknown = `gatehouse_ak_${'A'.repeat(16)}_${'B'.repeat(38)}`;
  // The service client is revoked now; introspect as another confidential client.
  const other = await clients.createClient(db, { clientId: 'other-api', name: 'Other', grantTypes: 'client_credentials' });
  const auth = { clientId: 'other-api', clientSecret: other.clientSecret! };
  for (const key of [revoked.key, expiring.key, ownerKey.key, clientKey.key, mistyped, unknown]) {
    assert.deepEqual((await introspect(key, auth)).body, { active: false });
  }
  assert.equal((await introspect(live.key, auth)).body.active, true);
});

test('a key loses a scope when its owner does', async (t) => {
  const { db, introspect } = await setup(t);
  const { key } = await apiKeys.createApiKey(db, { owner: { kind: 'user', id: 'johndoe' }, api: ITEMS_API, scopes: 'me items' });
  await db.deleteFrom('role_scopes').where('scope', '=', 'items').execute();
  assert.equal((await introspect(key)).body.scope, 'me');
});

test('last use is recorded in batches, not on every request', async (t) => {
  const { db, introspect, server, databaseUrl } = await setup(t);
  const { apiKey, key } = await apiKeys.createApiKey(db, { owner: { kind: 'user', id: 'johndoe' }, api: ITEMS_API, scopes: 'items' });
  for (let i = 0; i < 5; i++) await introspect(key);
  assert.equal((await apiKeys.findApiKey(db, apiKey.id))!.lastUsedAt, null, 'not written per request');
  await server.close(); // closing flushes the batch
  const reopened = openStorage(databaseUrl);
  t.after(() => reopened.close());
  assert.ok((await apiKeys.findApiKey(reopened.db, apiKey.id))!.lastUsedAt);
});
