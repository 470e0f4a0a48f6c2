// A user's passkeys at the admin API, over HTTP with real tokens: listed (name and dates, never
// the public key or the credential id), removed with an audit event, refused without the scope,
// for an unknown user or passkey (404 JSON), and when it is the last way into an account (409).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { listAuditEvents } from '../src/storage/audit.ts';
import { addPasskey, listPasskeys } from '../src/storage/passkeys.ts';
import * as users from '../src/storage/users.ts';
import { assertNoLeaks, startAdmin } from './admin-support.ts';

const CREDENTIAL_ID = 'Y3JlZGVudGlhbC1pZC1vZi10aGUtbGFwdG9wLXBhc3NrZXk';
const PUBLIC_KEY = 'pQECAyYgASFYIPublicKeyOfTheLaptopPasskeyXXXXXXXXXXXXXXXXXXXXXXXX';

test("admin API: a user's passkeys are listed without key material and removed with an audit event; refusals are 403, 404 and 409 JSON", async (t) => {
  const server = await startAdmin(t);
  const client = await server.machine('ops', ['admin:users:read', 'admin:users:write', 'admin:clients:read']);
  const reader = await server.clientToken(client, ['admin:users:read']);
  const writer = await server.clientToken(client, ['admin:users:read', 'admin:users:write']);
  const other = await server.clientToken(client, ['admin:clients:read']);

  const alice = await users.createUser(server.db, { username: 'alice', passwordHash: null });
  const bob = await users.createUser(server.db, { username: 'bob', passwordHash: null });
  const laptop = await addPasskey(server.db, { userId: alice.id, credentialId: CREDENTIAL_ID, publicKey: PUBLIC_KEY, signCount: 0, transports: ['internal'], name: 'Laptop' });
  const phone = await addPasskey(server.db, { userId: alice.id, credentialId: 'cGhvbmUtY3JlZGVudGlhbA', publicKey: 'cGhvbmUtcHVibGljLWtleQ', signCount: 0, transports: ['hybrid'], name: 'Phone' });
  const bobs = await addPasskey(server.db, { userId: bob.id, credentialId: 'Ym9iLWNyZWRlbnRpYWw', publicKey: 'Ym9iLXB1YmxpYy1rZXk', signCount: 0, transports: [], name: 'Key' });

  // Listed by id or username: name and dates, nothing of the key.
  const listed = await server.call('GET', `/admin/api/users/alice/passkeys`, { token: reader });
  assert.equal(listed.status, 200, listed.text);
  // Oldest first; two enrolled within one millisecond come in the order of their ids.
  const expected = [laptop, phone].sort((a, b) => a.createdAt.localeCompare(b.createdAt) || (a.id < b.id ? -1 : 1));
  assert.deepEqual(listed.body, { items: expected.map((p) => ({ id: p.id, name: p.name, created_at: p.createdAt, last_used_at: null })) });
  assert.equal((await server.call('GET', `/admin/api/users/${alice.id}/passkeys`, { token: reader })).body.items.length, 2);
  for (const secret of [CREDENTIAL_ID, PUBLIC_KEY, 'cGhvbmUtY3JlZGVudGlhbA']) assert.ok(!listed.text.includes(secret), 'no credential id, no public key');

  // Refusals: without the scope, an unknown user, an unknown passkey or another user's.
  const noScope = await server.call('GET', '/admin/api/users/alice/passkeys', { token: other });
  assert.equal(noScope.status, 403);
  assert.equal(noScope.body.error, 'insufficient_scope');
  const readOnly = await server.call('DELETE', `/admin/api/users/alice/passkeys/${laptop.id}`, { token: reader });
  assert.equal(readOnly.status, 403);
  assert.equal(readOnly.body.error, 'insufficient_scope');
  assert.match(readOnly.headers.get('www-authenticate')!, /scope="admin:users:write"/);
  const nobody = await server.call('GET', '/admin/api/users/nobody/passkeys', { token: reader });
  assert.equal(nobody.status, 404);
  assert.equal(nobody.body.error, 'not_found');
  const unknown = await server.call('DELETE', '/admin/api/users/alice/passkeys/no-such-passkey', { token: writer });
  assert.equal(unknown.status, 404);
  assert.equal(unknown.body.error, 'not_found');
  assert.match(unknown.body.message, /no passkey no-such-passkey/);
  const foreign = await server.call('DELETE', `/admin/api/users/alice/passkeys/${bobs.id}`, { token: writer });
  assert.equal(foreign.status, 404, "bob's passkey is not alice's to remove");
  assert.equal((await listPasskeys(server.db, bob.id)).length, 1);
  assert.equal((await listPasskeys(server.db, alice.id)).length, 2, 'nothing removed by a refusal');

  // Removed: it signs in no more (gone from storage), and the removal is audited.
  const removed = await server.call('DELETE', `/admin/api/users/alice/passkeys/${laptop.id}`, { token: writer });
  assert.equal(removed.status, 204, removed.text);
  assert.deepEqual((await listPasskeys(server.db, alice.id)).map((p) => p.name), ['Phone']);
  const again = await server.call('DELETE', `/admin/api/users/alice/passkeys/${laptop.id}`, { token: writer });
  assert.equal(again.status, 404);

  // Alice has no password: her last passkey is her last way in.
  const last = await server.call('DELETE', `/admin/api/users/alice/passkeys/${phone.id}`, { token: writer });
  assert.equal(last.status, 409);
  assert.equal(last.body.error, 'conflict');
  assert.match(last.body.message, /last way/);
  assert.equal((await listPasskeys(server.db, alice.id)).length, 1);

  const events = (await listAuditEvents(server.db, { type: 'user.passkey_removed' })).items;
  // As a set: events within one millisecond have no order in the log.
  const bySortKey = (rows: unknown[][]) => rows.map((row) => JSON.stringify(row)).sort();
  assert.deepEqual(
    bySortKey(events.map((e) => [e.outcome, e.target?.id, e.details.passkey_id])),
    bySortKey([
      // The scope refusal, before the route ran: the target as the URL named it.
      ['failure', 'alice', undefined],
      ['failure', alice.id, 'no-such-passkey'],
      ['failure', alice.id, bobs.id],
      ['success', alice.id, laptop.id],
      ['failure', alice.id, laptop.id],
      ['failure', alice.id, phone.id],
    ]),
  );
  const success = events.find((e) => e.outcome === 'success')!;
  assert.equal(success.details.name, 'Laptop');
  assert.ok(!JSON.stringify(events).includes(CREDENTIAL_ID) && !JSON.stringify(events).includes(PUBLIC_KEY), 'no key material in the audit log');
  assertNoLeaks(server);
});
