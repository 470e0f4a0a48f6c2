// The admin API over HTTP with real tokens: a machine client (client credentials), a user with an
// admin role (password grant) and API keys, against a real in-process server.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tokenRequest } from '@gatehouse/test-support/gatehouse';
import { ALL_ADMIN_SCOPES, adminUser, assertNoLeaks, startAdmin, type AdminServer } from './admin-support.ts';
import { newRecoveryCodes, recoveryCodeHashes } from '../src/passwords/totp.ts';
import { enableTwoFactor, twoFactorState } from '../src/storage/two-factor.ts';

async function superClient(server: AdminServer) {
  const client = await server.machine('ops', ALL_ADMIN_SCOPES);
  return { client, token: await server.clientToken(client, ALL_ADMIN_SCOPES) };
}

test('users: create, list with filters and pages, read, change, disable and enable, set the password; never a hash', async (t) => {
  const server = await startAdmin(t);
  const { token } = await superClient(server);
  const call = (method: string, path: string, body?: unknown) => server.call(method, path, { token }, body);

  assert.equal((await call('POST', '/admin/api/roles', { name: 'reader', scopes: ['items:read'] })).status, 201);
  const alice = await call('POST', '/admin/api/users', { username: 'alice', email: 'alice@example.com', password: 'alice password 1', roles: ['reader'] });
  assert.equal(alice.status, 201);
  assert.deepEqual(Object.keys(alice.body).sort(), ['created_at', 'disabled', 'email', 'email_verified', 'id', 'roles', 'self_registered', 'two_factor', 'updated_at', 'username']);
  assert.deepEqual(alice.body.roles, ['reader']);
  for (const username of ['bob', 'carol']) {
    assert.equal((await call('POST', '/admin/api/users', { username, email: `${username}@corp.example` })).status, 201);
  }
  assert.equal((await call('POST', '/admin/api/users', { username: 'ALICE' })).status, 409, 'usernames are unique whatever their case');

  const page = await call('GET', '/admin/api/users?limit=2&offset=1');
  assert.equal(page.status, 200);
  assert.deepEqual({ total: page.body.total, limit: page.body.limit, offset: page.body.offset }, { total: 3, limit: 2, offset: 1 });
  assert.deepEqual(page.body.items.map((u: any) => u.username), ['bob', 'carol']);
  assert.deepEqual((await call('GET', '/admin/api/users?email=corp.example')).body.items.map((u: any) => u.username), ['bob', 'carol']);
  assert.deepEqual((await call('GET', '/admin/api/users?username=AL')).body.items.map((u: any) => u.username), ['alice']);
  assert.deepEqual((await call('GET', '/admin/api/users?q=carol')).body.items.map((u: any) => u.username), ['carol']);

  assert.equal((await call('GET', `/admin/api/users/${alice.body.id}`)).body.username, 'alice');
  assert.equal((await call('GET', '/admin/api/users/alice')).body.id, alice.body.id, 'a user is found by id or username');

  const changed = await call('PATCH', '/admin/api/users/alice', { email: 'alice@corp.example', roles: [] });
  assert.equal(changed.status, 200);
  assert.deepEqual([changed.body.email, changed.body.roles, changed.body.email_verified], ['alice@corp.example', [], false]);
  const unknownRole = await call('PATCH', '/admin/api/users/alice', { roles: ['nope'] });
  assert.deepEqual([unknownRole.status, unknownRole.body.field], [400, 'roles']);
  const taken = await call('PATCH', '/admin/api/users/bob', { email: 'ALICE@corp.example' });
  assert.deepEqual([taken.status, taken.body.error, taken.body.field], [409, 'conflict', 'email']);

  // The password grant shows what disabling and setting a password do.
  const cli = await server.machine('cli-for-users', []);
  await server.call('PATCH', '/admin/api/clients/cli-for-users', { token }, { grant_types: ['password'], scopes: ['items:read'] });
  const login = (password: string) => tokenRequest(server.issuer, { grant_type: 'password', username: 'alice', password }, cli);
  assert.equal((await login('alice password 1')).status, 200);
  assert.equal((await call('POST', '/admin/api/users/alice/disable')).body.disabled, true);
  assert.equal((await login('alice password 1')).status, 400, 'a disabled user gets no token');
  assert.equal((await call('GET', '/admin/api/users?disabled=true')).body.items[0].username, 'alice');
  assert.equal((await call('POST', '/admin/api/users/alice/enable')).body.disabled, false);
  assert.equal((await call('PUT', '/admin/api/users/alice/password', { password: 'alice password 2' })).status, 200);
  assert.equal((await login('alice password 1')).status, 400, 'the old password stops working');
  assert.equal((await login('alice password 2')).status, 200);
  const weak = await call('PUT', '/admin/api/users/alice/password', { password: 'short' });
  assert.deepEqual([weak.status, weak.body.field], [400, 'password']);

  // Two-factor: shown on the user; an operator turns it off for a user who lost their device.
  const shown = (await call('GET', '/admin/api/users/alice')).body;
  assert.deepEqual([shown.two_factor, shown.self_registered], [false, false]);
  await enableTwoFactor(server.db, shown.id, 'v1.sealed.secret', 1, recoveryCodeHashes(newRecoveryCodes()));
  assert.equal((await call('GET', '/admin/api/users/alice')).body.two_factor, true);
  assert.equal((await login('alice password 2')).status, 400, 'the password grant refuses two-factor users');
  const reset = await call('DELETE', '/admin/api/users/alice/two-factor');
  assert.deepEqual([reset.status, reset.body.two_factor], [200, false]);
  assert.equal((await twoFactorState(server.db, shown.id))?.recoveryCodesLeft, 0, 'the recovery codes are gone too');
  assert.equal((await login('alice password 2')).status, 200);

  assertNoLeaks(server);
  assert.ok(!server.seen.some((text) => text.includes('alice password')), 'a password never comes back');
});

test('roles and APIs: create, read, change scopes, token TTL and signing algorithm, delete; the admin API is listed and read-only', async (t) => {
  const server = await startAdmin(t);
  const { token } = await superClient(server);
  const call = (method: string, path: string, body?: unknown) => server.call(method, path, { token }, body);

  const api = await call('POST', '/admin/api/apis', {
    identifier: 'https://items.example',
    name: 'Items',
    scopes: [{ name: 'items:read', description: 'Read items' }, { name: 'items:write' }],
    access_token_ttl: 300,
    signing_alg: 'RS256',
  });
  assert.equal(api.status, 201);
  assert.deepEqual(api.body.scopes, [{ name: 'items:read', description: 'Read items' }, { name: 'items:write', description: null }]);
  assert.deepEqual([api.body.access_token_ttl, api.body.signing_alg, api.body.managed], [300, 'RS256', false]);
  assert.equal((await call('POST', '/admin/api/apis', { identifier: 'https://items.example', name: 'Again', scopes: [] })).status, 409);

  const changed = await call('PATCH', `/admin/api/apis/${api.body.id}`, { scopes: [{ name: 'items:read' }], access_token_ttl: null, signing_alg: null });
  assert.deepEqual([changed.body.scopes, changed.body.access_token_ttl, changed.body.signing_alg], [[{ name: 'items:read', description: null }], null, null]);

  // A token for the API follows the change at once (the engine's cache is told).
  const svc = await server.machine('items-svc', ['items:read', 'items:write'], ['https://items.example']);
  const issued = await tokenRequest(server.issuer, { grant_type: 'client_credentials', resource: 'https://items.example', scope: 'items:read items:write' }, svc);
  assert.equal(issued.body.scope, 'items:read');

  const listed = await call('GET', '/admin/api/apis');
  assert.deepEqual(listed.body.items.map((a: any) => [a.identifier, a.managed]).sort(), [[server.adminApi, true], ['https://items.example', false]]);
  const admin = listed.body.items.find((a: any) => a.managed);
  assert.deepEqual(admin.scopes.map((s: any) => s.name).sort(), [...ALL_ADMIN_SCOPES].sort());
  assert.ok(admin.scopes.every((s: any) => typeof s.description === 'string' && s.description.length > 0), 'admin scopes are described');
  assert.equal((await call('GET', `/admin/api/apis?identifier=${encodeURIComponent('https://items.example')}`)).body.total, 1);

  const role = await call('POST', '/admin/api/roles', { name: 'editor', description: 'Edits items', scopes: ['items:read', 'items:write'] });
  assert.equal(role.status, 201);
  assert.equal((await call('POST', '/admin/api/roles', { name: 'editor', scopes: [] })).status, 409);
  assert.deepEqual((await call('PATCH', '/admin/api/roles/editor', { scopes: ['items:read'], description: null })).body, { ...role.body, scopes: ['items:read'], description: null });
  assert.equal((await call('GET', `/admin/api/roles/${role.body.id}`)).body.name, 'editor');
  // editor and gatehouse-admin (migration 006: every admin scope).
  assert.equal((await call('GET', '/admin/api/roles?limit=1')).body.total, 2);
  assert.equal((await call('DELETE', '/admin/api/roles/editor')).status, 204);
  assert.equal((await call('GET', '/admin/api/roles/editor')).status, 404);

  assert.equal((await call('DELETE', `/admin/api/apis/${api.body.id}`)).status, 204);
  assert.equal((await call('GET', `/admin/api/apis/${api.body.id}`)).status, 404);
  assertNoLeaks(server);
});

test('clients: the secret is shown once; rotation shows a new one once and the old one stops working; revoke; delete', async (t) => {
  const server = await startAdmin(t);
  const { token } = await superClient(server);
  const call = (method: string, path: string, body?: unknown) => server.call(method, path, { token }, body);
  await call('POST', '/admin/api/apis', { identifier: 'https://items.example', name: 'Items', scopes: [{ name: 'items:read' }] });
  const tokenFor = (clientSecret: string) =>
    tokenRequest(server.issuer, { grant_type: 'client_credentials', resource: 'https://items.example', scope: 'items:read' }, { clientId: 'worker', clientSecret });

  const unknownApi = await call('POST', '/admin/api/clients', { client_id: 'worker', name: 'Worker', grant_types: ['client_credentials'], apis: ['https://nowhere.example'] });
  assert.deepEqual([unknownApi.status, unknownApi.body.field], [400, 'apis'], 'an API that does not exist is refused by name');
  const created = await call('POST', '/admin/api/clients', { client_id: 'worker', name: 'Worker', grant_types: ['client_credentials'], scopes: ['items:read'], apis: ['https://items.example'] });
  assert.equal(created.status, 201);
  assert.deepEqual(created.body.client.apis, ['https://items.example'], 'the APIs it may get tokens for are shown');
  const first = created.body.client_secret as string;
  assert.match(first, /^gatehouse_cs_/);
  assert.equal(created.headers.get('cache-control'), 'no-store', 'a secret shown once is never cached');
  assert.equal(created.body.client.type, 'confidential');
  assert.equal((await tokenFor(first)).status, 200);
  const read = await call('GET', '/admin/api/clients/worker');
  assert.equal(read.body.client_secret, undefined, 'never shown again');
  assert.ok(!read.text.includes(first));
  assert.ok(!(await call('GET', '/admin/api/clients')).text.includes(first));

  const rotated = await call('POST', '/admin/api/clients/worker/secret');
  assert.equal(rotated.status, 200);
  const second = rotated.body.client_secret as string;
  assert.notEqual(second, first);
  assert.equal((await tokenFor(first)).status, 401, 'the old secret stops working at once');
  assert.equal((await tokenFor(second)).status, 200);
  assert.ok(!(await call('GET', '/admin/api/clients/worker')).text.includes(second));

  const spaInput = { name: 'SPA', public: true, grant_types: ['authorization_code'], redirect_uris: ['https://app.example/cb'] };
  const undecided = await call('POST', '/admin/api/clients', spaInput);
  assert.deepEqual([undecided.status, undecided.body.field], [400, 'first_party'], 'first party or not is a decision for a client that signs users in');
  const spa = await call('POST', '/admin/api/clients', { ...spaInput, first_party: false });
  assert.equal(spa.status, 201);
  assert.deepEqual([spa.body.client.first_party, spa.body.client.apis], [false, []]);
  assert.equal(spa.body.client_secret, undefined, 'a public client has no secret');
  const noSecret = await call('POST', `/admin/api/clients/${spa.body.client.client_id}/secret`);
  assert.equal(noSecret.status, 400);
  const badGrants = await call('PATCH', `/admin/api/clients/${spa.body.client.client_id}`, { grant_types: ['client_credentials'] });
  assert.deepEqual([badGrants.status, badGrants.body.field], [400, 'grant_types'], 'a change is checked like a new client');
  const renamed = await call('PATCH', `/admin/api/clients/${spa.body.client.client_id}`, { name: 'Web app', cors_origins: ['https://app.example'], apis: ['https://items.example'] });
  assert.deepEqual([renamed.body.name, renamed.body.cors_origins, renamed.body.apis], ['Web app', ['https://app.example'], ['https://items.example']]);
  const withdrawn = await call('PATCH', '/admin/api/clients/worker', { apis: [] });
  assert.deepEqual(withdrawn.body.apis, []);
  const refused = await tokenFor(second);
  assert.deepEqual([refused.status, refused.body.error], [400, 'invalid_target'], 'an API taken away gives no more tokens, at once');
  assert.equal((await call('PATCH', '/admin/api/clients/worker', { apis: ['https://items.example'] })).status, 200);
  assert.equal((await tokenFor(second)).status, 200);

  const revoked = await call('POST', '/admin/api/clients/worker/revoke');
  assert.ok(revoked.body.revoked_at);
  assert.equal((await tokenFor(second)).status, 401, 'a revoked client cannot authenticate');
  assert.equal((await call('POST', '/admin/api/clients/worker/secret')).status, 409, 'a revoked client keeps no secret');
  assert.equal((await call('DELETE', '/admin/api/clients/worker')).status, 204);
  assert.equal((await call('GET', '/admin/api/clients/worker')).status, 404);
  assertNoLeaks(server);
});

test('API keys: for a user or a client, shown once, listed by owner and API, usable at the admin API, revoked', async (t) => {
  // No introspection cache, so a revoked key is refused at once (the SDK's cache bounds it otherwise).
  const server = await startAdmin(t, { GATEHOUSE_CACHE_TTL: '0' });
  const { token } = await superClient(server);
  const call = (method: string, path: string, body?: unknown) => server.call(method, path, { token }, body);
  const root = await adminUser(server, { username: 'root', password: 'root password 1', role: 'superadmin', scopes: ALL_ADMIN_SCOPES });

  const forUser = await call('POST', '/admin/api/api-keys', {
    owner: { kind: 'user', id: 'root' },
    api: server.adminApi,
    scopes: ['admin:users:read', 'admin:audit:read'],
    name: 'reporting',
    expires_in: 3600,
  });
  assert.equal(forUser.status, 201);
  const key = forUser.body.key as string;
  assert.match(key, /^gatehouse_ak_/);
  assert.deepEqual(forUser.body.api_key.owner, { kind: 'user', id: root.id });
  assert.ok(forUser.body.api_key.expires_at);
  const forClient = await call('POST', '/admin/api/api-keys', { owner: { kind: 'client', id: 'ops' }, api: server.adminApi, scopes: ['admin:keys:read'] });
  assert.equal(forClient.status, 201);
  const beyondOwner = await call('POST', '/admin/api/api-keys', { owner: { kind: 'client', id: 'ops' }, api: 'https://nowhere.example', scopes: [] });
  assert.deepEqual([beyondOwner.status, beyondOwner.body.field], [404, 'api']);

  const byOwner = await call('GET', '/admin/api/api-keys?owner_kind=user&owner_id=root');
  assert.deepEqual(byOwner.body.items.map((k: any) => k.id), [forUser.body.api_key.id]);
  assert.equal((await call('GET', `/admin/api/api-keys?api=${encodeURIComponent(server.adminApi)}`)).body.total, 2);
  assert.equal((await call('GET', '/admin/api/api-keys?owner_kind=user')).body.field, 'owner_id');
  const one = await call('GET', `/admin/api/api-keys/${forUser.body.api_key.id}`);
  assert.equal(one.body.key, undefined);
  assert.ok(!one.text.includes(key) && !(await call('GET', '/admin/api/api-keys')).text.includes(key), 'the key is never shown again');

  // The key works at the admin API, as its owner, with its own scopes.
  const me = await server.call('GET', '/admin/api/me', { apiKey: key });
  assert.deepEqual([me.body.kind, me.body.subject, me.body.api_key_id], ['api_key', root.id, forUser.body.api_key.id]);
  assert.deepEqual(me.body.scopes, ['admin:audit:read', 'admin:users:read']);
  assert.equal((await server.call('GET', '/admin/api/users', { apiKey: key })).status, 200);
  assert.equal((await server.call('GET', '/admin/api/clients', { apiKey: key })).status, 403);
  const asBearer = await server.call('GET', '/admin/api/users', { token: key });
  assert.equal(asBearer.status, 401, 'an API key is not a bearer token');

  assert.ok((await call('POST', `/admin/api/api-keys/${forUser.body.api_key.id}/revoke`)).body.revoked_at);
  const refused = await server.call('GET', '/admin/api/users', { apiKey: key });
  assert.equal(refused.status, 401);
  assert.match(refused.headers.get('www-authenticate')!, /ApiKey realm="gatehouse-admin", header="X-API-Key", error="invalid_token"/);
  assert.equal((await call('GET', '/admin/api/api-keys?owner_kind=user&owner_id=root')).body.total, 0, 'revoked keys are hidden by default');
  assert.equal((await call('GET', '/admin/api/api-keys?owner_kind=user&owner_id=root&include_revoked=true')).body.total, 1);
  assertNoLeaks(server);
});

test('signing keys: listed without private parts; a scheduled rotation is published in the JWKS at once', async (t) => {
  const server = await startAdmin(t);
  const { token } = await superClient(server);
  const call = (method: string, path: string, body?: unknown) => server.call(method, path, { token }, body);
  const jwks = async () => ((await (await fetch(`${server.issuer}/jwks`)).json()) as { keys: { kid: string }[] }).keys.map((k) => k.kid);

  const before = await call('GET', '/admin/api/signing-keys');
  assert.equal(before.body.total, 2);
  assert.deepEqual(before.body.items.map((k: any) => k.state), ['active', 'active']);
  for (const key of before.body.items) assert.deepEqual(Object.keys(key.public_jwk).filter((m) => !['kty', 'kid', 'alg', 'use', 'crv', 'x', 'y', 'n', 'e'].includes(m)), []);

  const later = await call('POST', '/admin/api/signing-keys/rotations', { alg: 'ES256', activate_in: 3600 });
  assert.equal(later.status, 201);
  assert.equal(later.body.state, 'next');
  assert.ok((await jwks()).includes(later.body.kid), 'published before it signs');
  const again = await call('POST', '/admin/api/signing-keys/rotations', { alg: 'ES256' });
  assert.deepEqual([again.status, again.body.error], [409, 'conflict']);

  const now = await call('POST', '/admin/api/signing-keys/rotations', { alg: 'RS256', activate_in: 0 });
  assert.equal(now.body.state, 'active', 'due at once: activated by maintainKeys');
  const listed = await call('GET', '/admin/api/signing-keys');
  assert.equal(listed.body.items.find((k: any) => k.alg === 'RS256' && k.state === 'retired')?.alg, 'RS256', 'the key it replaced is retired, still listed');
  assert.ok((await jwks()).includes(now.body.kid));
  assertNoLeaks(server);
});

test('a user with an admin role (password grant) uses the admin API; a since-disabled user or revoked client is refused at once', async (t) => {
  const server = await startAdmin(t);
  const { token } = await superClient(server);
  const root = await adminUser(server, { username: 'root', password: 'root password 1', role: 'superadmin', scopes: ALL_ADMIN_SCOPES });
  const me = await server.call('GET', '/admin/api/me', { token: root.token });
  assert.deepEqual([me.body.kind, me.body.subject, me.body.client_id], ['user', root.id, 'root-console']);
  assert.equal((await server.call('POST', '/admin/api/users', { token: root.token }, { username: 'dave' })).status, 201);

  // The JWT is still cryptographically valid; the admin API checks its user and client anyway.
  assert.equal((await server.call('POST', '/admin/api/users/root/disable', { token })).status, 200);
  const disabled = await server.call('GET', '/admin/api/users', { token: root.token });
  assert.equal(disabled.status, 401);
  assert.match(disabled.headers.get('www-authenticate')!, /Bearer realm="gatehouse-admin", error="invalid_token"/);

  const other = await server.machine('other-ops', ['admin:users:read']);
  const otherToken = await server.clientToken(other, ['admin:users:read']);
  assert.equal((await server.call('GET', '/admin/api/users', { token: otherToken })).status, 200);
  assert.equal((await server.call('POST', '/admin/api/clients/other-ops/revoke', { token })).status, 200);
  assert.equal((await server.call('GET', '/admin/api/users', { token: otherToken })).status, 401);
});

test('the audit log records admin actions and refusals, with actor, target and IP, and no secret', async (t) => {
  const server = await startAdmin(t);
  const { token } = await superClient(server);
  const reader = await server.machine('reader', ['admin:users:read']);
  const readerToken = await server.clientToken(reader, ['admin:users:read']);

  const created = await server.call('POST', '/admin/api/clients', { token }, { client_id: 'worker', name: 'Worker', grant_types: ['client_credentials'] });
  const secret = created.body.client_secret as string;
  const rotated = (await server.call('POST', '/admin/api/clients/worker/secret', { token })).body.client_secret as string;
  await server.call('POST', '/admin/api/users', { token }, { username: 'erin', password: 'erin password 1' });
  await server.call('POST', '/admin/api/users', { token }, { username: 'bad name!' });
  await server.call('GET', '/admin/api/users');
  await server.call('POST', '/admin/api/clients', { token: readerToken }, { name: 'Nope', grant_types: ['client_credentials'] });

  const log = await server.call('GET', '/admin/api/audit-events?limit=200', { token });
  assert.equal(log.status, 200);
  const events = log.body.items as any[];
  const find = (type: string, outcome = 'success') => events.find((e) => e.type === type && e.outcome === outcome);

  const creation = find('client.created');
  assert.deepEqual(creation.actor, { kind: 'client', id: 'ops' });
  assert.deepEqual(creation.target, { kind: 'client', id: 'worker' });
  assert.match(creation.ip, /^(::ffff:)?127\.0\.0\.1$/);
  assert.equal(creation.details.route, 'POST /admin/api/clients');
  assert.deepEqual(find('client.secret_rotated').target, { kind: 'client', id: 'worker' });
  const user = find('user.created');
  assert.equal(user.details.username, 'erin');

  const invalid = find('user.created', 'failure');
  assert.deepEqual([invalid.details.status, invalid.details.error], [400, 'invalid_request']);
  const anonymous = find('users.listed', 'failure');
  assert.deepEqual([anonymous.actor, anonymous.details.status], [{ kind: 'anonymous', id: null }, 401]);
  const denied = find('client.created', 'failure');
  assert.deepEqual([denied.actor, denied.details.status, denied.details.error], [{ kind: 'client', id: 'reader' }, 403, 'insufficient_scope']);

  for (const text of [log.text, JSON.stringify(events)]) {
    for (const value of [secret, rotated, 'erin password 1', token, readerToken]) assert.ok(!text.includes(value), 'no secret in the audit log');
  }
  const filtered = await server.call('GET', '/admin/api/audit-events?actor_id=reader&outcome=failure', { token });
  assert.deepEqual(filtered.body.items.map((e: any) => e.type), ['client.created']);
  const since = await server.call('GET', `/admin/api/audit-events?type=client.created&since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`, { token });
  assert.equal(since.body.total, 0);
  const badTime = await server.call('GET', '/admin/api/audit-events?since=yesterday', { token });
  assert.deepEqual([badTime.status, badTime.body.field], [400, 'since']);
});
