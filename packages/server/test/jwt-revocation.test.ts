// JWT access tokens cannot be recalled, but introspection can say they are no longer good:
// once their grant is revoked, their user disabled or their client revoked, or once they are
// revoked themselves (RFC 7009). oidc-provider keeps no JWT; Gatehouse records what is needed.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeJwt } from 'jose';
import * as clients from '../src/storage/clients.ts';
import * as roles from '../src/storage/roles.ts';
import * as users from '../src/storage/users.ts';
import { sha256 } from '../src/secrets.ts';
import { adminUser, startAdmin } from './admin-support.ts';
import { ITEMS_API, seedDemo, startInProcess, tokenRequest } from '@gatehouse/test-support/gatehouse';
import { tempPostgres } from '@gatehouse/test-support/postgres';

type Store = 'sqlite' | 'postgres';

async function setup(t: test.TestContext, store: Store = 'sqlite') {
  const database = store === 'postgres' ? { GATEHOUSE_DATABASE_URL: await tempPostgres(t) } : {};
  const gh = await startInProcess(t, { GATEHOUSE_DEFAULT_API: ITEMS_API, ...database });
  const seed = await seedDemo(gh.db);
  const resourceServer = await clients.createClient(gh.db, { clientId: 'items-api', name: 'Items API', grantTypes: 'client_credentials' });
  const auth = (c: { clientId: string; clientSecret: string }) => `Basic ${Buffer.from(`${c.clientId}:${c.clientSecret}`).toString('base64')}`;
  const post = async (path: string, form: Record<string, string>, as = { clientId: 'items-api', clientSecret: resourceServer.clientSecret! }) => {
    const response = await fetch(`${gh.issuer}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: auth(as) },
      body: new URLSearchParams(form).toString(),
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : undefined, headers: response.headers };
  };
  const userTokens = async () =>
    (await tokenRequest(gh.issuer, { grant_type: 'password', username: 'johndoe', password: 'correct horse', scope: 'me items' }, seed.passwordClient)).body as {
      access_token: string;
      refresh_token: string;
    };
  return { ...gh, seed, post, userTokens };
}

test('a user JWT introspects as active, with what an API needs', async (t) => {
  const { post, userTokens, issuer } = await setup(t);
  const { access_token } = await userTokens();
  const { body } = await post('/introspect', { token: access_token });
  const claims = decodeJwt(access_token);
  assert.equal(body.active, true);
  assert.equal(body.sub, claims.sub);
  assert.equal(body.client_id, 'cli');
  assert.equal(body.scope, 'me items');
  assert.equal(body.aud, ITEMS_API);
  assert.equal(body.iss, issuer);
  assert.equal(body.exp, claims.exp);
  assert.equal(body.token_type, 'Bearer');
  assert.equal(body.username, 'johndoe');
  // A user's token never says client_credentials: an API (the SDK's kind rule) would take the user for a client.
  assert.equal(body.gty, undefined);
});

// The same on PostgreSQL: the JWT records and the checks are SQL, and each store runs its own.
for (const store of ['sqlite', 'postgres'] as const) {
  test(`[${store}] revoking the grant (through its refresh token) makes its JWT inactive`, async (t) => {
    const { post, userTokens, seed } = await setup(t, store);
    const { access_token, refresh_token } = await userTokens();
    const revoked = await post('/revoke', { token: refresh_token, token_type_hint: 'refresh_token' }, seed.passwordClient);
    assert.equal(revoked.status, 200);
    assert.deepEqual((await post('/introspect', { token: access_token })).body, { active: false });
  });

  test(`[${store}] disabling the user makes their JWTs inactive; enabling them again does not bring back what was issued before`, async (t) => {
    const { post, userTokens, db, issuer, seed } = await setup(t, store);
    const { access_token, refresh_token } = await userTokens();
    await users.setUserDisabled(db, 'johndoe', true);
    assert.deepEqual((await post('/introspect', { token: access_token })).body, { active: false });
    // SECURITY.md: disabling a user revokes what was issued under the old state.
    await users.setUserDisabled(db, 'johndoe', false);
    assert.deepEqual((await post('/introspect', { token: access_token })).body, { active: false });
    const refreshed = await tokenRequest(issuer, { grant_type: 'refresh_token', refresh_token }, seed.passwordClient);
    assert.equal(refreshed.status, 400);
    assert.equal(refreshed.body.error, 'invalid_grant');
    // The account itself works again.
    assert.equal((await userTokens()).access_token.split('.').length, 3);
  });

  test(`[${store}] revoking the client makes its JWTs inactive, client-credentials tokens included`, async (t) => {
    const { post, userTokens, db, seed, issuer, server } = await setup(t, store);
    const { access_token } = await userTokens();
    const serviceToken = (await tokenRequest(issuer, { grant_type: 'client_credentials' }, seed.service)).body.access_token as string;
    assert.equal((await post('/introspect', { token: serviceToken })).body.active, true);
    await clients.revokeClient(db, 'cli');
    await clients.revokeClient(db, 'service');
    server.engine.invalidateCaches();
    assert.deepEqual((await post('/introspect', { token: access_token })).body, { active: false });
    assert.deepEqual((await post('/introspect', { token: serviceToken })).body, { active: false });
    // And a revoked client can no longer get tokens.
    const refused = await tokenRequest(issuer, { grant_type: 'client_credentials' }, seed.service);
    assert.equal(refused.status, 401);
  });

  test(`[${store}] RFC 7009 on a JWT: its own client may revoke it, another client may not (and is told nothing)`, async (t) => {
    const { post, userTokens, seed } = await setup(t, store);
    const { access_token } = await userTokens();
    const foreign = await post('/revoke', { token: access_token }, seed.service);
    // RFC 7009 §2.2: 200 either way; nothing confirms the token is valid.
    assert.equal(foreign.status, 200);
    assert.equal(foreign.body, undefined);
    assert.equal((await post('/introspect', { token: access_token })).body.active, true);
    const own = await post('/revoke', { token: access_token }, seed.passwordClient);
    assert.equal(own.status, 200);
    assert.deepEqual((await post('/introspect', { token: access_token })).body, { active: false });
  });

  test(`[${store}] forged or foreign JWTs are inactive and revoke nothing, and a storage failure is a 500, never active:false`, async (t) => {
    const { post, userTokens, server } = await setup(t, store);
    const { access_token } = await userTokens();
    const [header, payload] = access_token.split('.');
    const forged = `${header}.${payload}.${'A'.repeat(86)}`;
    assert.deepEqual((await post('/introspect', { token: forged })).body, { active: false });
    const tampered = `${header}.${Buffer.from(JSON.stringify({ ...decodeJwt(access_token), scope: 'admin' })).toString('base64url')}.${access_token.split('.')[2]}`;
    assert.deepEqual((await post('/introspect', { token: tampered })).body, { active: false });
    // Revoking one is answered as RFC 7009 §2.2 answers an invalid token: 200, nothing said.
    for (const token of [forged, tampered]) {
      const revoked = await post('/revoke', { token });
      assert.equal(revoked.status, 200);
      assert.equal(revoked.body, undefined);
    }
    assert.equal((await post('/introspect', { token: access_token })).body.active, true, 'the genuine token is untouched');
    // The database goes away: the client authenticates from cache, the token check cannot run.
    await server.storage.close();
    const failed = await post('/introspect', { token: access_token });
    assert.equal(failed.status, 500);
    assert.equal(failed.body.error, 'server_error');
    assert.equal(failed.body.active, undefined);
    assert.equal(failed.headers.get('cache-control'), 'no-store', 'an error is never cached either');
  });

  test(`[${store}] a scope taken away (from the user's roles or from the client) makes the JWTs carrying it inactive; the others stay active`, async (t) => {
    const { post, userTokens, db, issuer, seed, server } = await setup(t, store);
    const introspect = async (token: string) => (await post('/introspect', { token })).body;
    const { access_token: both } = await userTokens();
    const onlyMe = (await tokenRequest(issuer, { grant_type: 'password', username: 'johndoe', password: 'correct horse', scope: 'me' }, seed.passwordClient)).body.access_token as string;
    const service = (await tokenRequest(issuer, { grant_type: 'client_credentials' }, seed.service)).body.access_token as string;
    for (const token of [both, onlyMe, service]) assert.equal((await introspect(token)).active, true);

    // The role no longer grants `items`: a token carrying it is inactive, one with `me` only is not.
    await roles.updateRole(db, 'user', { scopes: ['me'] });
    assert.deepEqual(await introspect(both), { active: false }, 'the user\'s roles no longer grant a scope it carries');
    assert.equal((await introspect(onlyMe)).active, true, 'a token within the current grant stays active');
    await roles.updateRole(db, 'user', { scopes: ['me', 'items'] });
    assert.equal((await introspect(both)).active, true, 'granted again, active again (it was never revoked)');

    // The client may no longer ask for `items`.
    await clients.updateClient(db, seed.passwordClient.clientId, { scopes: 'me accounts:read' });
    await server.changed('clients');
    assert.deepEqual(await introspect(both), { active: false }, 'the client no longer holds a scope it carries');
    assert.equal((await introspect(onlyMe)).active, true);

    // A client-credentials token: the client's scopes, then its APIs.
    await clients.updateClient(db, seed.service.clientId, { scopes: 'me' });
    assert.deepEqual(await introspect(service), { active: false }, 'the service no longer holds accounts:read');
    await clients.updateClient(db, seed.service.clientId, { scopes: 'accounts:read' });
    assert.equal((await introspect(service)).active, true);
    await clients.updateClient(db, seed.service.clientId, { apis: [] });
    assert.deepEqual(await introspect(service), { active: false }, 'the client is no longer granted the token\'s API');
    await clients.updateClient(db, seed.passwordClient.clientId, { apis: [] });
    assert.deepEqual(await introspect(onlyMe), { active: false }, 'the same for a user token');
  });
}

test('the admin API (checkJwts, no cache) refuses at once a token whose admin scope was taken from the role', async (t) => {
  const admin = await startAdmin(t);
  const auditor = await adminUser(admin, { username: 'auditor', password: 'auditor password', role: 'auditors', scopes: ['admin:audit:read', 'admin:users:read'] });
  assert.equal((await admin.call('GET', '/admin/api/users', { token: auditor.token })).status, 200);
  await roles.updateRole(admin.db, 'auditors', { scopes: ['admin:audit:read'] });
  const refused = await admin.call('GET', '/admin/api/audit-events', { token: auditor.token });
  assert.equal(refused.status, 401, 'the whole token is refused, not only the scope taken away');
  assert.match(refused.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
});

// Each check of a user JWT stands on its own, whatever else disabling or revoking also does:
// the user's flag alone (the grant left in place), the token's record alone.
test('a user JWT is inactive once its user is flagged disabled even with its grant intact, and once its record is gone', async (t) => {
  const { post, userTokens, db } = await setup(t);
  const introspect = async (token: string) => (await post('/introspect', { token })).body;
  const flagged = (await userTokens()).access_token;
  const orphan = (await userTokens()).access_token;
  assert.equal((await introspect(flagged)).active, true);
  await db.deleteFrom('access_tokens').where('jti_hash', '=', sha256(String(decodeJwt(orphan).jti))).execute();
  assert.deepEqual(await introspect(orphan), { active: false }, 'no record: the grant it belongs to is unknown');
  await db.updateTable('users').set({ disabled: 1 }).where('username', '=', 'johndoe').execute();
  assert.deepEqual(await introspect(flagged), { active: false }, 'the disabled flag alone');
});
