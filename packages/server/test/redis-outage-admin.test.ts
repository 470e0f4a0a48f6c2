// Admin changes committed while Redis is down (issue #11, item 2). Each change is stored first
// and announced on the Redis bus after; with Redis down the announcement fails. The answer must
// be the success the stored change is — never a 500 that leaves a client locked out (a rotated
// secret nobody was shown) or invites a retry that duplicates what exists — with one structured
// warning in the log per change that could not be announced.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { tokenRequest } from '@gatehouse/test-support/gatehouse';
import { startPrivateRedis } from '@gatehouse/test-support/private-redis';
import { ALL_ADMIN_SCOPES, startAdmin } from './admin-support.ts';

/** JSON log lines, kept for assertions. */
function logCapture() {
  const lines: any[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { lines, logger: { level: 'warn', stream } };
}

test('admin changes committed while Redis is down are answered as the successes they are, each with one warning', async (t) => {
  const redis = await startPrivateRedis(t);
  const log = logCapture();
  const admin = await startAdmin(t, { GATEHOUSE_REDIS_URL: redis.url, GATEHOUSE_REDIS_PREFIX: `gh-${randomBytes(6).toString('hex')}` }, { logger: log.logger });
  const ops = await admin.machine('ops', ALL_ADMIN_SCOPES);
  const credential = { token: await admin.clientToken(ops, ALL_ADMIN_SCOPES) };
  const call = (method: string, path: string, body?: unknown) => admin.call(method, path, credential, body);

  // Things to change, made while Redis is up.
  const api = await call('POST', '/admin/api/apis', { identifier: 'https://notes.example', name: 'Notes', scopes: [{ name: 'notes' }] });
  assert.equal(api.status, 201);
  assert.equal((await call('POST', '/admin/api/roles', { name: 'writer', scopes: ['notes'] })).status, 201);
  const user = await call('POST', '/admin/api/users', { username: 'jane', roles: [] });
  assert.equal(user.status, 201);
  const warningsBefore = log.lines.length;

  await redis.stop();

  // Every route that announces a change (each answered as usual, the change stored).
  const created = await call('POST', '/admin/api/clients', { client_id: 'svc', name: 'Service', grant_types: ['client_credentials'], scopes: ['notes'], apis: ['https://notes.example'] });
  assert.equal(created.status, 201, created.text);
  const stored = await admin.db.selectFrom('clients').select('id').where('id', '=', 'svc').execute();
  assert.equal(stored.length, 1, 'stored once: no false 500 inviting a retry that duplicates it');
  const rotated = await call('POST', '/admin/api/clients/svc/secret');
  assert.equal(rotated.status, 200, rotated.text);
  // The secret shown is the one that works; the old one does not: nobody is locked out.
  const withNew = await tokenRequest(admin.issuer, { grant_type: 'client_credentials', resource: 'https://notes.example' }, { clientId: 'svc', clientSecret: rotated.body.client_secret });
  assert.equal(withNew.status, 200, JSON.stringify(withNew.body));
  const withOld = await tokenRequest(admin.issuer, { grant_type: 'client_credentials', resource: 'https://notes.example' }, { clientId: 'svc', clientSecret: created.body.client_secret });
  assert.equal(withOld.status, 401);
  assert.equal((await call('PATCH', '/admin/api/clients/svc', { name: 'Service (renamed)' })).status, 200);
  assert.equal((await call('POST', '/admin/api/clients/svc/revoke')).status, 200);
  assert.equal((await call('DELETE', '/admin/api/clients/svc')).status, 204);
  assert.equal((await call('PATCH', `/admin/api/apis/${api.body.id}`, { name: 'Notes API' })).status, 200);
  assert.equal((await call('PATCH', '/admin/api/roles/writer', { description: 'writes notes' })).status, 200);
  assert.equal((await call('PATCH', `/admin/api/users/${user.body.id}`, { roles: ['writer'] })).status, 200);
  assert.equal((await call('POST', `/admin/api/users/${user.body.id}/disable`)).status, 200);
  assert.equal((await call('POST', `/admin/api/users/${user.body.id}/enable`)).status, 200);
  assert.equal((await call('DELETE', '/admin/api/roles/writer')).status, 204);
  assert.equal((await call('DELETE', `/admin/api/apis/${api.body.id}`)).status, 204);
  const rotation = await call('POST', '/admin/api/signing-keys/rotations', { alg: 'ES256', activate_in: 3600 });
  assert.equal(rotation.status, 201, rotation.text);

  assert.equal((await admin.db.selectFrom('clients').select('id').where('id', '=', 'svc').execute()).length, 0, 'the delete was stored too');

  // One structured warning per change not announced, naming the event; no error, no stack spam.
  const warnings = log.lines.slice(warningsBefore).filter((line) => line.msg?.includes('not announced'));
  assert.equal(warnings.length, 13, JSON.stringify(log.lines.slice(warningsBefore).map((l) => l.msg)));
  for (const warning of warnings) {
    assert.equal(warning.level, 40);
    assert.ok(['clients', 'apis', 'users', 'keys'].includes(warning.event), JSON.stringify(warning));
  }
  assert.deepEqual(log.lines.filter((line) => line.level >= 50).map((line) => line.msg), [], 'nothing logged as an error');
});
