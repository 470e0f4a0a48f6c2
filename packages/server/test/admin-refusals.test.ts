// Every admin route, taken from the OpenAPI document so none is forgotten, refuses what it must:
// no credential (401 with WWW-Authenticate), a credential without its scope (403
// insufficient_scope naming it), an unknown `:id` (404 not_found), an invalid body (400
// invalid_request naming the field). Never a stack trace, never a 500.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import Fastify from 'fastify';
import { adminApi } from '../src/admin/index.ts';
import { ALL_ADMIN_SCOPES, startAdmin } from './admin-support.ts';

// A valid body for each operation that takes one, so an unknown :id is what the 404 is about.
const VALID_BODIES: Record<string, unknown> = {
  updateUser: { email_verified: true },
  setUserPassword: { password: 'a long enough password' },
  updateRole: { scopes: [] },
  updateApi: { name: 'Renamed' },
  updateClient: { name: 'Renamed' },
  updateUpstreamProvider: { enabled: false },
  setStreamStatus: { status: 'paused' },
};

interface Operation {
  readonly id: string;
  readonly method: string;
  readonly path: string;
  readonly scope: string | undefined;
  readonly hasBody: boolean;
}

test('every admin route: 401 without a credential, 403 without its scope, 404 for an unknown id, 400 naming the field', async (t) => {
  const server = await startAdmin(t);
  const doc = (await (await fetch(`${server.issuer}/admin/api/openapi.json`)).json()) as any;
  const operations: Operation[] = [];
  for (const [path, item] of Object.entries<any>(doc.paths)) {
    for (const [method, operation] of Object.entries<any>(item)) {
      const scope = operation.security.find((s: any) => s.gatehouse)?.gatehouse[0];
      operations.push({ id: operation.operationId, method: method.toUpperCase(), path, scope, hasBody: operation.requestBody !== undefined });
    }
  }
  assert.ok(operations.length >= 25);

  const client = await server.machine('ops', ALL_ADMIN_SCOPES);
  const full = await server.clientToken(client, ALL_ADMIN_SCOPES);
  // For each scope, a token with every admin scope but that one.
  const without = new Map<string, string>();
  for (const scope of ALL_ADMIN_SCOPES) without.set(scope, await server.clientToken(client, ALL_ADMIN_SCOPES.filter((s) => s !== scope)));

  for (const op of operations) {
    const label = `${op.method} ${op.path}`;
    const path = op.path.replace('{id}', 'no-such-object');
    const body = op.hasBody ? (VALID_BODIES[op.id] ?? {}) : undefined;

    const anonymous = await server.call(op.method, path, {}, body);
    assert.equal(anonymous.status, 401, `${label}: no credential`);
    // RFC 6750 §3.1: the challenge says what is accepted, and carries no error code.
    assert.equal(anonymous.headers.get('www-authenticate'), 'Bearer realm="gatehouse-admin", ApiKey realm="gatehouse-admin", header="X-API-Key"', label);

    const garbage = await server.call(op.method, path, { token: 'not-a-real-token' }, body);
    assert.equal(garbage.status, 401, `${label}: invalid token`);
    assert.match(garbage.headers.get('www-authenticate')!, /error="invalid_token"/);

    if (op.scope !== undefined) {
      const denied = await server.call(op.method, path, { token: without.get(op.scope)! }, body);
      assert.equal(denied.status, 403, `${label}: without ${op.scope}`);
      assert.equal(denied.body.error, 'insufficient_scope', label);
      assert.match(denied.headers.get('www-authenticate')!, new RegExp(`error="insufficient_scope".*scope="${op.scope}"`), label);
    }

    if (op.path.includes('{id}')) {
      const missing = await server.call(op.method, path, { token: full }, body);
      assert.equal(missing.status, 404, `${label}: unknown id (${missing.text})`);
      assert.equal(missing.body.error, 'not_found', label);
    }

    if (op.hasBody) {
      const invalid = await server.call(op.method, path, { token: full }, { not_a_field: true });
      assert.equal(invalid.status, 400, `${label}: invalid body`);
      assert.equal(invalid.body.error, 'invalid_request', label);
      assert.equal(typeof invalid.body.field, 'string', `${label}: the field is named (${invalid.text})`);
    }
  }
  for (const text of server.seen) assert.doesNotMatch(text, /at .*\.ts:\d+|"stack"|server_error/, 'never a stack trace or a 500');
});

test('bodies, queries and paths are checked by their schemas, and the message names the field', async (t) => {
  const server = await startAdmin(t);
  const token = await server.clientToken(await server.machine('ops', ALL_ADMIN_SCOPES), ALL_ADMIN_SCOPES);
  const expect400 = async (method: string, path: string, body: unknown, field: string | undefined, message?: RegExp) => {
    const answer = await server.call(method, path, { token }, body);
    assert.equal(answer.status, 400, `${method} ${path} ${JSON.stringify(body)}: ${answer.text}`);
    assert.equal(answer.body.error, 'invalid_request');
    assert.equal(answer.body.field, field, answer.text);
    if (message) assert.match(answer.body.message, message);
  };

  await expect400('POST', '/admin/api/users', { username: 5 }, 'username', /username must be string/);
  await expect400('POST', '/admin/api/users', {}, 'username', /username is required/);
  await expect400('POST', '/admin/api/users', { username: 'x', disabled: 'yes' }, 'disabled', /must be boolean/);
  await expect400('POST', '/admin/api/users', { username: 'has space' }, 'username');
  await expect400('POST', '/admin/api/users', { username: 'x', email: 'not-an-email' }, 'email');
  await expect400('POST', '/admin/api/roles', { name: 'r', scopes: ['ok', 'has space'] }, 'scopes[1]');
  await expect400('POST', '/admin/api/api-keys', { owner: { kind: 'robot', id: 'x' }, api: 'x', scopes: [] }, 'owner.kind');
  await expect400('POST', '/admin/api/api-keys', { owner: { kind: 'user' }, api: 'x', scopes: [] }, 'owner.id', /owner\.id is required/);
  await expect400('POST', '/admin/api/clients', { name: 'c', grant_types: ['implicit'] }, 'grant_types[0]');
  await expect400('POST', '/admin/api/clients', { name: 'c', grant_types: ['authorization_code'], redirect_uris: ['http://evil.example/cb'] }, 'redirect_uris');
  await expect400('POST', '/admin/api/apis', { identifier: 'not a url', name: 'A', scopes: [] }, 'identifier');
  await expect400('PATCH', '/admin/api/apis/x', { access_token_ttl: 5 }, 'access_token_ttl');
  await expect400('PATCH', '/admin/api/apis/x', { signing_alg: 'HS256' }, 'signing_alg', /must be/);
  await expect400('POST', '/admin/api/signing-keys/rotations', { alg: 'none' }, 'alg');
  await expect400('POST', '/admin/api/signing-keys/rotations', { alg: 'ES256', activate_in: -1 }, 'activate_in');
  await expect400('PATCH', '/admin/api/users/x', {}, undefined, /names nothing to change/);
  await expect400('GET', '/admin/api/users?limit=0', undefined, 'limit');
  await expect400('GET', '/admin/api/users?limit=1&limit=2', undefined, 'limit');
  await expect400('GET', '/admin/api/users?disabled=maybe', undefined, 'disabled');
  await expect400('GET', '/admin/api/users?unknown=1', undefined, 'unknown');
  await expect400('GET', '/admin/api/api-keys?owner_kind=robot&owner_id=x', undefined, 'owner_kind');

  // Not JSON at all: a fixed message that never quotes the body (it could hold a password).
  const raw = await fetch(`${server.issuer}/admin/api/users`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: '{"username": "x", "password": "hunter2 secret',
  });
  const text = await raw.text();
  assert.equal(raw.status, 400);
  assert.deepEqual(JSON.parse(text), { error: 'invalid_request', message: 'the body is not valid JSON', field: 'body' });
  const form = await fetch(`${server.issuer}/admin/api/users`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: 'username=x',
  });
  assert.equal(form.status, 400);
  assert.equal(((await form.json()) as any).field, 'content-type');
  const huge = await fetch(`${server.issuer}/admin/api/users`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'x', email: 'a'.repeat(100_000) }),
  });
  assert.equal(huge.status, 413);
  assert.equal(((await huge.json()) as any).error, 'payload_too_large');
});

test('an admin route that declares no auth option fails at boot instead of being open', async (t) => {
  const server = await startAdmin(t);
  const app = Fastify({ logger: false });
  t.after(() => app.close());
  await assert.rejects(async () => {
    await app.register(async (admin) => {
      await adminApi(admin, { app, config: server.server.config, db: server.db, changed: async () => {}, maintainKeys: async () => {}, docsClientId: 'gatehouse-admin-docs', endingSessions: (_userId, end) => end(), signals: server.server.signals });
      admin.get('/admin/api/forgotten', async () => ({ open: true }));
    });
    await app.ready();
  }, /GET \/admin\/api\/forgotten: every admin route declares an auth option/);
});
