// The repository functions the admin API added, held to the storage contract on both databases:
// multi-row changes are all-or-nothing, unique violations are conflicts naming the field, deletes
// cascade, and what the server ensures at start is idempotent and safe from two instances at once.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { tempDir } from '@gatehouse/test-support/files';
import { tempPostgres } from '@gatehouse/test-support/postgres';
import { GatehouseError, type ErrorCode } from '../src/errors.ts';
import { verifySecret } from '../src/secrets.ts';
import { createApiKey, listApiKeys } from '../src/storage/api-keys.ts';
import { createApi, deleteApi, ensureApi, findApi, updateApi } from '../src/storage/apis.ts';
import { createClient, ensureInternalClient, findStoredClient, revokeClient, updateClient } from '../src/storage/clients.ts';
import { migrate, openStorage, type Db } from '../src/storage/database.ts';
import { createRole, deleteRole, findRole, rolesByName, updateRole } from '../src/storage/roles.ts';
import { createUser, findUser, grantedScopes, listUsers, updateUser } from '../src/storage/users.ts';

async function rejectsWith(promise: Promise<unknown>, code: ErrorCode, field?: string): Promise<void> {
  await assert.rejects(promise, (error) => {
    assert.ok(error instanceof GatehouseError, String(error));
    assert.equal(error.code, code, error.message);
    if (field !== undefined) assert.equal(error.field, field, error.message);
    return true;
  });
}

/**
 * `concurrent`: two connections write at the same moment, as two instances would. Not on SQLite
 * from one process: node:sqlite waits for a lock synchronously, stalling the event loop the other
 * connection needs (instances are processes there; database.ts says more).
 */
function contract(name: string, databaseUrl: (t: TestContext) => Promise<string>, concurrent: boolean): void {
  describe(`admin storage: ${name}`, { concurrency: 2 }, () => {
    async function open(t: TestContext): Promise<{ db: Db; connect(): Db }> {
      const opened: { close(): Promise<void> }[] = [];
      // Registered before the database is made, so connections close before it is dropped.
      t.after(() => Promise.all(opened.map((s) => s.close())));
      const url = await databaseUrl(t);
      const connect = () => {
        const storage = openStorage(url);
        opened.push(storage);
        return storage.db;
      };
      const db = connect();
      await migrate(db);
      return { db, connect };
    }

    test('roles: found by id or name, changed (scopes replaced at once), deleted with their assignments', async (t) => {
      const { db } = await open(t);
      const role = await createRole(db, { name: 'editor', scopes: 'a b' });
      await createRole(db, { name: 'viewer', scopes: 'a' });
      const user = await createUser(db, { username: 'u1', roles: ['editor', 'viewer'] });
      assert.equal((await findRole(db, role.id))?.name, 'editor');
      assert.deepEqual((await findRole(db, 'editor'))?.scopes, ['a', 'b']);
      assert.equal(await findRole(db, 'nope'), undefined);
      assert.deepEqual((await rolesByName(db, ['viewer', 'nope', 'editor'])).map((r) => r.name), ['editor', 'viewer']);

      const updated = await updateRole(db, 'editor', { scopes: ['c', 'a'], description: 'Edits' });
      assert.deepEqual([updated.scopes, updated.description], [['a', 'c'], 'Edits']);
      assert.deepEqual([...(await grantedScopes(db, user.id))].sort(), ['a', 'c']);
      await rejectsWith(updateRole(db, 'editor', { scopes: ['bad scope'] }), 'invalid_request', 'scopes');
      assert.equal((await updateRole(db, 'editor', { description: null })).description, null);

      await deleteRole(db, 'editor');
      assert.equal(await findRole(db, 'editor'), undefined);
      assert.deepEqual((await findUser(db, 'u1'))?.roles, ['viewer'], 'the assignment went with the role');
      await rejectsWith(deleteRole(db, 'editor'), 'not_found');
    });

    test('users: email and roles change together or not at all; a taken email is a conflict; filters escape LIKE', async (t) => {
      const { db } = await open(t);
      await createRole(db, { name: 'r1', scopes: 'x' });
      await createUser(db, { username: 'ann_1', email: 'ann@example.com', emailVerified: true });
      await createUser(db, { username: 'annex', email: 'annex@example.org' });

      const changed = await updateUser(db, 'ann_1', { email: 'ann@example.net', roles: ['r1'] });
      assert.deepEqual([changed.email, changed.emailVerified, changed.roles], ['ann@example.net', false, ['r1']], 'a new email is unverified');
      await rejectsWith(updateUser(db, 'ann_1', { email: 'other@example.com', roles: ['r1', 'missing'] }), 'invalid_request', 'roles');
      assert.equal((await findUser(db, 'ann_1'))?.email, 'ann@example.net', 'the email change was rolled back with the roles');
      await rejectsWith(updateUser(db, 'annex', { email: 'ANN@example.net' }), 'conflict', 'email');
      await rejectsWith(updateUser(db, 'nobody', { roles: [] }), 'not_found');
      assert.equal((await updateUser(db, 'ann_1', { email: null })).email, null);

      assert.deepEqual((await listUsers(db, { username: 'ann_' })).items.map((u) => u.username), ['ann_1'], '_ is not a wildcard');
      assert.deepEqual((await listUsers(db, { email: '.ORG' })).items.map((u) => u.username), ['annex']);
    });

    test('APIs: changed (scopes replaced, TTL and algorithm reset), deleted with their keys; ensureApi converges', async (t) => {
      const { db, connect } = await open(t);
      const api = await createApi(db, { identifier: 'https://a.example', name: 'A', scopes: 'read write', accessTokenTtl: 60, signingAlg: 'RS256' });
      const updated = await updateApi(db, api.id, { scopes: [{ name: 'read', description: 'Read' }], accessTokenTtl: null, signingAlg: null, name: 'A2' });
      assert.deepEqual([updated.name, updated.scopes, updated.accessTokenTtl, updated.signingAlg], ['A2', [{ name: 'read', description: 'Read' }], null, null]);
      await rejectsWith(updateApi(db, api.id, { signingAlg: 'HS256' }), 'invalid_request', 'signing_alg');

      await createUser(db, { username: 'owner', roles: [] });
      await createClient(db, { clientId: 'svc', name: 'Svc', grantTypes: 'client_credentials', scopes: 'read' });
      await createApiKey(db, { owner: { kind: 'client', id: 'svc' }, api: 'https://a.example', scopes: 'read' });
      await deleteApi(db, api.id);
      assert.equal(await findApi(db, 'https://a.example'), undefined);
      assert.equal((await listApiKeys(db, { includeRevoked: true })).total, 0, 'its keys went with it');
      await rejectsWith(deleteApi(db, api.id), 'not_found');

      // Two instances starting at once, then a new version with another scope list.
      const input = { identifier: 'https://admin.example', name: 'Admin', scopes: [{ name: 's1', description: 'one' }] };
      const both = <T>(run: (db: Db) => Promise<T>) => (concurrent ? Promise.all([run(db), run(connect())]) : sequence(run));
      const sequence = async <T>(run: (db: Db) => Promise<T>) => [await run(db), await run(connect())];
      const [x, y] = await both((d) => ensureApi(d, input));
      assert.equal(x!.id, y!.id);
      const next = { ...input, scopes: [{ name: 's1', description: 'one!' }, { name: 's2', description: 'two' }] };
      await both((d) => ensureApi(d, next));
      assert.deepEqual((await findApi(db, 'https://admin.example'))?.scopes, next.scopes);
    });

    test('clients: a change is checked as a whole; ensureInternalClient creates, repairs and survives a race', async (t) => {
      const { db, connect } = await open(t);
      await createClient(db, { clientId: 'spa', name: 'SPA', public: true, firstParty: true, grantTypes: 'authorization_code', redirectUris: ['https://app.example/cb'] });
      await rejectsWith(updateClient(db, 'spa', { grantTypes: ['client_credentials'] }), 'invalid_request', 'grant_types');
      await rejectsWith(updateClient(db, 'spa', { redirectUris: [] }), 'invalid_request', 'redirect_uris');
      await rejectsWith(updateClient(db, 'spa', { corsOrigins: ['https://app.example/path'] }), 'invalid_request', 'cors_origins');
      const changed = await updateClient(db, 'spa', { name: 'Web', scopes: 'a b', firstParty: false });
      assert.deepEqual([changed.name, changed.scopes, changed.firstParty, changed.type], ['Web', ['a', 'b'], false, 'public']);
      await rejectsWith(updateClient(db, 'nope', { name: 'x' }), 'not_found');

      const input = { clientId: 'internal', name: 'Internal', secret: 'the-secret', grantTypes: ['client_credentials'] as const };
      const ensure = (d: Db) => ensureInternalClient(d, { ...input, grantTypes: [...input.grantTypes] });
      if (concurrent) await Promise.all([ensure(db), ensure(connect())]);
      else await ensure(db).then(() => ensure(connect()));
      const stored = await findStoredClient(db, 'internal');
      assert.ok(stored && verifySecret('the-secret', stored.secretHash!));
      // Tampered with: revoked, given scopes; the next start puts it back.
      await updateClient(db, 'internal', { scopes: 'admin:users:write' });
      await revokeClient(db, 'internal');
      await ensureInternalClient(db, { ...input, grantTypes: [...input.grantTypes] });
      const repaired = await findStoredClient(db, 'internal');
      assert.deepEqual([repaired?.revokedAt, repaired?.scopes, repaired?.type], [null, [], 'confidential']);
    });
  });
}

contract('SQLite', async (t) => `sqlite:${join(tempDir(t), 'gatehouse.db')}`, false);
contract('PostgreSQL', (t) => tempPostgres(t), true);
