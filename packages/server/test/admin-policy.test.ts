// The admin API's object-level rules (src/admin/index.ts), each tested as an attacker holding a
// legitimate but limited admin credential would try it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as roles from '../src/storage/roles.ts';
import * as users from '../src/storage/users.ts';
import { ALL_ADMIN_SCOPES, adminUser, startAdmin, type Answer } from './admin-support.ts';

// Manages users, roles, clients and API keys; no signing keys, no APIs, no audit log.
const HELPDESK_SCOPES = [
  'admin:users:read',
  'admin:users:write',
  'admin:roles:read',
  'admin:roles:write',
  'admin:clients:read',
  'admin:clients:write',
  'admin:api-keys:read',
  'admin:api-keys:write',
];

function forbidden(answer: Answer, field?: string, message?: RegExp): void {
  assert.equal(answer.status, 403, answer.text);
  assert.equal(answer.body.error, 'forbidden', answer.text);
  assert.equal(answer.body.field, field, answer.text);
  if (message) assert.match(answer.body.message, message);
}

async function setup(t: test.TestContext) {
  const server = await startAdmin(t);
  const ops = await server.machine('ops', ALL_ADMIN_SCOPES);
  const opsToken = await server.clientToken(ops, ALL_ADMIN_SCOPES);
  const helpdesk = await server.machine('helpdesk', HELPDESK_SCOPES);
  const helpdeskToken = await server.clientToken(helpdesk, HELPDESK_SCOPES);
  const root = await adminUser(server, { username: 'root', password: 'root password 1', role: 'superadmin', scopes: ALL_ADMIN_SCOPES });
  await roles.createRole(server.db, { name: 'auditor', scopes: 'admin:audit:read' });
  await roles.createRole(server.db, { name: 'support', scopes: 'admin:users:read' });
  await users.createUser(server.db, { username: 'bob' });
  const as = (token: string) => (method: string, path: string, body?: unknown) => server.call(method, path, { token }, body);
  return { server, ops: as(opsToken), helpdesk: as(helpdeskToken), root, asRoot: as(root.token) };
}

test('rule 1, no privilege escalation: nothing created or changed carries an admin scope the caller lacks', async (t) => {
  const { helpdesk, ops } = await setup(t);
  forbidden(await helpdesk('POST', '/admin/api/roles', { name: 'sneaky', scopes: ['admin:audit:read'] }), 'scopes', /admin:audit:read/);
  assert.equal((await helpdesk('POST', '/admin/api/roles', { name: 'fine', scopes: ['admin:users:read', 'items:read'] })).status, 201);
  forbidden(await helpdesk('PATCH', '/admin/api/roles/support', { scopes: ['admin:users:read', 'admin:keys:write'] }), 'scopes');
  assert.equal((await helpdesk('PATCH', '/admin/api/roles/support', { scopes: ['admin:users:read', 'admin:roles:read'] })).status, 200);

  forbidden(await helpdesk('POST', '/admin/api/users', { username: 'eve', roles: ['auditor'] }), 'roles');
  forbidden(await helpdesk('PATCH', '/admin/api/users/bob', { roles: ['superadmin'] }), 'roles');
  assert.deepEqual((await helpdesk('PATCH', '/admin/api/users/bob', { roles: ['support'] })).body.roles, ['support']);

  forbidden(await helpdesk('POST', '/admin/api/clients', { name: 'Backdoor', grant_types: ['client_credentials'], scopes: ['admin:keys:write'] }), 'scopes');
  const low = await helpdesk('POST', '/admin/api/clients', { client_id: 'low', name: 'Low', grant_types: ['client_credentials'], scopes: ['admin:users:read'] });
  assert.equal(low.status, 201);
  forbidden(await helpdesk('PATCH', '/admin/api/clients/low', { scopes: ['admin:users:read', 'admin:audit:read'] }), 'scopes');
  // The same requests succeed for a caller holding those scopes.
  assert.equal((await ops('PATCH', '/admin/api/clients/low', { scopes: ['admin:audit:read'] })).status, 200);
});

test('rule 2, no acting on the more privileged: no password, disabling, secret or key for an account that out-ranks the caller', async (t) => {
  const { server, helpdesk, ops } = await setup(t);
  forbidden(await helpdesk('PUT', '/admin/api/users/root/password', { password: 'taken over now' }), undefined, /user root holds admin scopes/);
  forbidden(await helpdesk('POST', '/admin/api/users/root/disable'));
  forbidden(await helpdesk('PATCH', '/admin/api/users/root', { email: 'attacker@example.com' }));
  assert.equal((await helpdesk('PUT', '/admin/api/users/bob/password', { password: 'a fine password' })).status, 200);
  assert.equal((await helpdesk('POST', '/admin/api/users/bob/disable')).status, 200);

  forbidden(await helpdesk('POST', '/admin/api/clients/ops/secret'), undefined, /client ops holds admin scopes/);
  forbidden(await helpdesk('PATCH', '/admin/api/clients/ops', { name: 'Mine now' }));
  forbidden(await helpdesk('POST', '/admin/api/clients/ops/revoke'));
  forbidden(await helpdesk('DELETE', '/admin/api/clients/ops'));

  forbidden(await helpdesk('PATCH', '/admin/api/roles/superadmin', { description: 'gone' }));
  forbidden(await helpdesk('DELETE', '/admin/api/roles/superadmin'));

  forbidden(await helpdesk('POST', '/admin/api/api-keys', { owner: { kind: 'user', id: 'root' }, api: server.adminApi, scopes: [] }));
  const rootKey = await ops('POST', '/admin/api/api-keys', { owner: { kind: 'user', id: 'root' }, api: server.adminApi, scopes: ['admin:keys:read'] });
  forbidden(await helpdesk('POST', `/admin/api/api-keys/${rootKey.body.api_key.id}/revoke`));
  // Keys for owners the caller out-ranks, or for itself, are fine.
  await users.createUser(server.db, { username: 'carol' });
  const carolKey = await helpdesk('POST', '/admin/api/api-keys', { owner: { kind: 'user', id: 'carol' }, api: server.adminApi, scopes: [] });
  assert.equal(carolKey.status, 201);
  const ownKey = await helpdesk('POST', '/admin/api/api-keys', { owner: { kind: 'client', id: 'helpdesk' }, api: server.adminApi, scopes: ['admin:users:read'] });
  assert.equal(ownKey.status, 201);
  assert.equal((await helpdesk('POST', `/admin/api/api-keys/${ownKey.body.api_key.id}/revoke`)).status, 200);

  // Nothing happened to root.
  const root = await ops('GET', '/admin/api/users/root');
  assert.deepEqual([root.body.disabled, root.body.email], [false, null]);
});

test('rule 3, what Gatehouse manages is read-only: the admin API and its introspection client', async (t) => {
  const { ops } = await setup(t);
  const adminApi = (await ops('GET', '/admin/api/apis')).body.items.find((a: any) => a.managed);
  forbidden(await ops('PATCH', `/admin/api/apis/${adminApi.id}`, { scopes: [] }), undefined, /managed by Gatehouse/);
  forbidden(await ops('DELETE', `/admin/api/apis/${adminApi.id}`));
  const introspector = await ops('GET', '/admin/api/clients/gatehouse-admin-api');
  assert.equal(introspector.body.managed, true);
  forbidden(await ops('POST', '/admin/api/clients/gatehouse-admin-api/secret'));
  forbidden(await ops('PATCH', '/admin/api/clients/gatehouse-admin-api', { scopes: ['admin:users:read'] }));
  forbidden(await ops('POST', '/admin/api/clients/gatehouse-admin-api/revoke'));
  forbidden(await ops('DELETE', '/admin/api/clients/gatehouse-admin-api'));
  assert.equal((await ops('GET', '/admin/api/me')).status, 200, 'and the admin API still works');
});

test('rule 4, nobody locks themself out: no disabling yourself, no revoking or deleting your own client', async (t) => {
  const { server, ops, asRoot } = await setup(t);
  forbidden(await asRoot('POST', '/admin/api/users/root/disable'), undefined, /cannot disable the user your credential acts for/);
  forbidden(await ops('POST', '/admin/api/clients/ops/revoke'));
  forbidden(await ops('DELETE', '/admin/api/clients/ops'));
  // An API key acts for its owner.
  const key = (await ops('POST', '/admin/api/api-keys', { owner: { kind: 'user', id: 'root' }, api: server.adminApi, scopes: ['admin:users:write'] })).body.key;
  forbidden(await server.call('POST', '/admin/api/users/root/disable', { apiKey: key }));
  assert.equal((await ops('GET', '/admin/api/users/root')).body.disabled, false);
});

test('rule 5, API keys are bounded: no key that out-scopes or outlives them, no credential that never expires', async (t) => {
  const { server, ops } = await setup(t);
  const scopes = ['admin:api-keys:write', 'admin:users:read', 'admin:users:write', 'admin:clients:write'];
  await ops('POST', '/admin/api/clients', { client_id: 'keymaker', name: 'Keymaker', grant_types: ['client_credentials'], scopes: [...scopes, 'admin:api-keys:read'] });
  const created = await ops('POST', '/admin/api/api-keys', { owner: { kind: 'client', id: 'keymaker' }, api: server.adminApi, scopes, expires_in: 3600 });
  const key = created.body.key as string;
  const asKey = (method: string, path: string, body?: unknown) => server.call(method, path, { apiKey: key }, body);
  const newKey = (extra: Record<string, unknown>) =>
    asKey('POST', '/admin/api/api-keys', { owner: { kind: 'client', id: 'keymaker' }, api: server.adminApi, scopes: ['admin:users:read'], ...extra });

  forbidden(await newKey({}), 'expires_in', /outlives/);
  forbidden(await newKey({ expires_in: 7200 }), 'expires_in');
  forbidden(await newKey({ expires_in: 600, scopes: ['admin:api-keys:read'] }), 'scopes', /admin:api-keys:read/);
  const child = await newKey({ expires_in: 600 });
  assert.equal(child.status, 201);
  assert.ok(Date.parse(child.body.api_key.expires_at) <= Date.parse(created.body.api_key.expires_at));

  // Client secrets and passwords never expire: an API key obtains none.
  for (const [method, path, body] of [
    ['POST', '/admin/api/clients', { name: 'Forever', grant_types: ['client_credentials'] }],
    ['POST', '/admin/api/clients/keymaker/secret', undefined],
    ['PUT', '/admin/api/users/bob/password', { password: 'a fine password' }],
  ] as const) {
    const answer = await asKey(method, path, body);
    assert.equal(answer.status, 403, `${method} ${path}`);
    assert.equal(answer.body.error, 'insufficient_scope');
    assert.match(answer.body.error_description, /API key/);
  }
  forbidden(await asKey('POST', '/admin/api/users', { username: 'mallory', password: 'a fine password' }), 'password');
  assert.equal((await asKey('POST', '/admin/api/users', { username: 'mallory' })).status, 201);
});

test('rule 6, an unknown :id is a 404 before any other rule is looked at', async (t) => {
  const { helpdesk, ops, asRoot } = await setup(t);
  for (const [call, method, path, body] of [
    [helpdesk, 'PUT', '/admin/api/users/nobody/password', { password: 'a fine password' }],
    [helpdesk, 'POST', '/admin/api/clients/nobody/secret', undefined],
    [helpdesk, 'DELETE', '/admin/api/roles/nobody', undefined],
    [helpdesk, 'POST', '/admin/api/api-keys/nobody/revoke', undefined],
    [ops, 'PATCH', '/admin/api/apis/00000000-0000-0000-0000-000000000000', { name: 'x' }],
    [asRoot, 'POST', '/admin/api/users/nobody/disable', undefined],
  ] as const) {
    const answer = await call(method, path, body);
    assert.deepEqual([answer.status, answer.body.error], [404, 'not_found'], `${method} ${path}`);
  }
});
