// The storage contract: what every repository and the oidc-provider adapter promise, written
// once and run against both databases Gatehouse supports (embedded SQLite and PostgreSQL), each
// test on a database of its own.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { after, describe, test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { KyselyPlugin, OperationNode, RootOperationNode } from 'kysely';
import { hash as argon2Hash } from '@node-rs/argon2';
import { tempDir } from '@gatehouse/test-support/files';
import { testKeys } from '@gatehouse/test-support/gatehouse';
import { dropPostgres, tempPostgres } from '@gatehouse/test-support/postgres';
import { GatehouseError, isUniqueViolation, type ErrorCode } from '../src/errors.ts';
import { hashPassword, verifyPassword } from '../src/passwords/hash.ts';
import { sha256, verifySecret } from '../src/secrets.ts';
import { Migrator } from 'kysely/migration';
import { createApi, findApi, listApis } from '../src/storage/apis.ts';
import { createClient, deleteClient, deleteUnusedDynamicClients, findClient, findStoredClient, listClients, updateClient } from '../src/storage/clients.ts';
import { migrate, openStorage, type Db, type Storage } from '../src/storage/database.ts';
import { ensureSecrets, ensureSigningKeys, SIGNING_ALGS } from '../src/storage/keys.ts';
import { AlreadyConsumedError, createOidcAdapter, purgeExpired, type AdapterOptions } from '../src/engine/oidc-adapter.ts';
import { createRole, listRoles } from '../src/storage/roles.ts';
import {
  createUser,
  findLoginRecord,
  findUser,
  grantedScopes,
  importUsers,
  listUsers,
  setUserDisabled,
  type NewUser,
} from '../src/storage/users.ts';
import { setUserPassword, withPasswordHash, withPasswordHashes } from '../src/passwords/user-passwords.ts';
import { migrationProvider } from '../src/storage/migrations/index.ts';
import { ADMIN_ROLE } from '../src/storage/migrations/006-admin-role.ts';

// The seed data's bcrypt hash of "secret" (cost 12).
const BCRYPT_SECRET = '$2b$12$EixZaYVK1fsbw1ZfbX3OXePaWxn96p36WQoeG6Lruj3vjPGga31lW';
const TABLES = [
  'users', 'roles', 'role_scopes', 'user_roles', 'apis', 'api_scopes', 'clients', 'client_apis',
  'signing_keys', 'server_secrets', 'oidc_payloads', 'refresh_reuses',
  'api_keys', 'audit_events', 'access_tokens', 'security_events', 'ssf_streams',
] as const;
// Every migration, in order: the list the Migrator applies.
const MIGRATIONS = Object.keys(await migrationProvider.getMigrations()).sort();

// One argon2id hash for the tests that need users but not hashing: argon2id costs tens of ms.
let sharedHash: Promise<string> | undefined;
const aHash = () => (sharedHash ??= hashPassword('correct horse battery'));

/** How to get a database of a test's own, for one kind of database. */
interface Databases {
  /** A new database with no tables. */
  empty(t: TestContext): Promise<string>;
  /** A new database with the migrations applied. */
  migrated(t: TestContext): Promise<string>;
}

interface Fixture {
  readonly url: string;
  /** A migrated connection. */
  readonly db: Db;
  /** Another connection (pool) to the same database, as a second server instance would have. */
  connect(): Db;
}

async function fixture(t: TestContext, databases: Databases, { migrated = true } = {}): Promise<Fixture> {
  const opened: Storage[] = [];
  // Registered before the database is made, so it runs before the database is dropped.
  t.after(() => Promise.all(opened.map((s) => s.close())));
  const url = migrated ? await databases.migrated(t) : await databases.empty(t);
  const connect = () => {
    // Every instance of a deployment has the same secret key.
    const storage = openStorage(url, { keys: testKeys(url) });
    opened.push(storage);
    return storage.db;
  };
  return { url, db: connect(), connect };
}

async function migrated(url: string): Promise<string> {
  const storage = openStorage(url);
  try {
    await migrate(storage.db);
  } finally {
    await storage.close();
  }
  return url;
}

async function rejectsWith(promise: Promise<unknown>, code: ErrorCode, field?: string | RegExp): Promise<GatehouseError> {
  let caught: unknown;
  await assert.rejects(promise, (error) => {
    caught = error;
    return true;
  });
  assert.ok(caught instanceof GatehouseError, `expected a GatehouseError, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  if (typeof field === 'string') assert.equal(caught.field, field, caught.message);
  if (field instanceof RegExp) assert.match(caught.field ?? '', field, caught.message);
  return caught;
}

async function count(db: Db, table: (typeof TABLES)[number]): Promise<number> {
  const { n } = await db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  return Number(n);
}

/** A Kysely plugin that makes one kind of statement on one table fail, as a crash would. */
function failOn(kind: 'InsertQueryNode' | 'DeleteQueryNode', table: string, { after = 0 } = {}): KyselyPlugin {
  let seen = 0;
  const names = (node: OperationNode): string => JSON.stringify(node);
  return {
    transformQuery({ node }): RootOperationNode {
      if (node.kind === kind) {
        const target = kind === 'InsertQueryNode' ? (node as { into?: OperationNode }).into : (node as { from?: OperationNode }).from;
        if (target && names(target).includes(`"${table}"`) && seen++ >= after) throw new Error(`injected failure on ${table}`);
      }
      return node;
    },
    async transformResult({ result }) {
      return result;
    },
  };
}

function adapterFor(db: Db, options: Partial<AdapterOptions> = {}) {
  const Adapter = createOidcAdapter(db, { findClient: async () => undefined, ...options });
  return (model: string) => new Adapter(model);
}

const randomToken = () => Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64url');

// A child process that opens the database, says "ready", and migrates when told to: several of
// them told at once race the way server instances (or the CLI and a server) starting together do.
const MIGRATE_CHILD = `
import { migrate, openStorage } from ${JSON.stringify(new URL('../src/storage/database.ts', import.meta.url).href)};
const storage = openStorage(process.argv[1]);
await storage.db.selectNoFrom((eb) => eb.lit(1).as('one')).execute();
process.stdout.write('ready\\n');
process.stdin.once('data', async () => {
  try {
    const { results = [] } = await migrate(storage.db);
    process.stdout.write(JSON.stringify(results.map((r) => r.status)) + '\\n');
  } finally {
    await storage.close();
    process.stdin.destroy();
  }
});
`;

async function migrateInProcesses(url: string, processes: number): Promise<{ code: number | null; output: string }[]> {
  const children = Array.from({ length: processes }, () =>
    spawn(process.execPath, ['--input-type=module', '-e', MIGRATE_CHILD, url], {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      stdio: ['pipe', 'pipe', 'pipe'],
    }),
  );
  const outputs = children.map(() => ({ stdout: '', stderr: '' }));
  children.forEach((child, i) => {
    child.stdout.on('data', (chunk) => (outputs[i]!.stdout += chunk));
    child.stderr.on('data', (chunk) => (outputs[i]!.stderr += chunk));
  });
  const exits = children.map((child) => once(child, 'exit') as Promise<[number | null]>);
  try {
    await Promise.all(
      children.map(
        (child, i) =>
          new Promise<void>((resolve, reject) => {
            const check = () => outputs[i]!.stdout.includes('ready') && resolve();
            child.stdout.on('data', check);
            child.once('exit', () => reject(new Error(`child exited before it was ready:\n${outputs[i]!.stderr}`)));
          }),
      ),
    );
  } catch (error) {
    // The others would wait for "go" forever.
    for (const child of children) child.kill();
    throw error;
  }
  for (const child of children) child.stdin.write('go\n');
  const codes = await Promise.all(exits);
  return codes.map(([code], i) => ({ code, output: `${outputs[i]!.stdout.replace('ready\n', '')}${outputs[i]!.stderr}` }));
}

function storageContract(name: string, databases: Databases): void {
  // Every test has a database of its own, so they can run side by side (a few at a time: two
  // cores, and PostgreSQL's connection limit is shared with every other test file running).
  describe(`storage contract: ${name}`, { concurrency: 4 }, () => {
    // ── Migrations ───────────────────────────────────────────────────────────────────────────
    test('migrations create every table, and running them again is a no-op', async (t) => {
      const { db } = await fixture(t, databases, { migrated: false });
      const first = await migrate(db);
      assert.deepEqual(first.results?.map((r) => [r.migrationName, r.status]), MIGRATIONS.map((m) => [m, 'Success']));
      // Empty, but for the gatehouse-admin role and its scopes (migration 006, and 010's and 011's two each).
      const seeded: Record<string, number> = { roles: 1, role_scopes: 17 };
      for (const table of TABLES) assert.equal(await count(db, table), seeded[table] ?? 0, table);

      await createRole(db, { name: 'kept', scopes: 'a' });
      const second = await migrate(db);
      assert.deepEqual(second.results, [], 'nothing left to apply');
      assert.deepEqual((await listRoles(db)).items.map((r) => r.name), [ADMIN_ROLE, 'kept'], 'data survives a second run');
    });

    test('migrate from several connections at once: one applies, the others find nothing to do', async (t) => {
      const { connect } = await fixture(t, databases, { migrated: false });
      const dbs = [connect(), connect(), connect()];
      const results = await Promise.all(dbs.map((db) => migrate(db)));
      const applied = results.flatMap((r) => r.results ?? []).filter((r) => r.status === 'Success');
      assert.deepEqual(applied.map((r) => r.migrationName), MIGRATIONS, 'each migration applied exactly once');
      assert.equal(await count(dbs[2]!, 'users'), 0);
    });

    test('migrate from several processes at once: each exits cleanly and the migration applies once', async (t) => {
      const { url, db } = await fixture(t, databases, { migrated: false });
      const runs = await migrateInProcesses(url, 3);
      for (const run of runs) assert.equal(run.code, 0, run.output);
      const statuses = runs.flatMap((run) => JSON.parse(run.output) as string[]);
      assert.deepEqual(statuses, MIGRATIONS.map(() => 'Success'), 'each migration applied by exactly one process');
      assert.deepEqual((await migrate(db)).results, []);
    });

    // ── Users ────────────────────────────────────────────────────────────────────────────────
    test('a new user never takes the id of a client (one registered with a UUID before that was refused)', async (t) => {
      const { db } = await fixture(t, databases);
      const taken = crypto.randomUUID();
      // A client from before client ids in the user-id shape were refused, written as it was then.
      await db.insertInto('clients').values({
        id: taken, name: 'Legacy', type: 'public', secret_hash: null, token_endpoint_auth_method: 'none', redirect_uris: '[]',
        post_logout_redirect_uris: '[]', grant_types: '["password"]', scopes: '[]', cors_origins: '[]', first_party: 0,
        created_at: Date.now(), updated_at: Date.now(), revoked_at: null, application_type: 'web', registered_dynamically: 0,
        backchannel_logout_uri: null, backchannel_logout_session_required: 1,
      }).execute();
      const original = crypto.randomUUID.bind(crypto);
      const ids = [taken];
      t.mock.method(crypto, 'randomUUID', () => ids.shift() ?? original());
      const user = await createUser(db, { username: 'unlucky', passwordHash: await aHash() });
      assert.notEqual(user.id, taken, 'another id was drawn');
      assert.equal((await findUser(db, 'unlucky'))?.id, user.id);
    });

    test('a password is stored as its argon2id hash, made above storage; storage keeps the hash it is given', async (t) => {
      const { db } = await fixture(t, databases);
      const password = 'correct horse battery staple';
      const user = await createUser(db, await withPasswordHash({ username: 'johndoe', email: 'john@example.com', password }));
      assert.equal(user.username, 'johndoe');
      assert.equal(user.disabled, false);
      assert.ok(!('passwordHash' in user) && !JSON.stringify(user).includes('$argon2'), 'the user object carries no hash');

      const row = await db.selectFrom('users').selectAll().where('id', '=', user.id).executeTakeFirstOrThrow();
      assert.match(row.password_hash!, /^\$argon2id\$/);
      assert.ok(!JSON.stringify(row).includes(password), 'the plain password is stored nowhere');
      assert.equal(await verifyPassword(row.password_hash!, password), true);
      assert.equal(await verifyPassword(row.password_hash!, 'wrong password'), false);

      // Storage never hashes: what it is given is what it stores.
      const given = await aHash();
      const stored = await createUser(db, { username: 'given', passwordHash: given });
      assert.equal((await findLoginRecord(db, stored.username))?.passwordHash, given);

      // Problems in the order storage reports them: username, email, then the password.
      await rejectsWith(withPasswordHash({ username: 'short', password: 'seven77' }), 'invalid_request', 'password');
      await rejectsWith(withPasswordHash({ username: 'bad name', password }), 'invalid_request', 'username');
      await rejectsWith(withPasswordHash({ username: 'bad name', password: 'seven77' }), 'invalid_request', 'username');
      await rejectsWith(withPasswordHash({ username: 'mail', email: 'not-an-email', password }), 'invalid_request', 'email');
      await rejectsWith(withPasswordHash({ username: 'both', password, passwordHash: given }), 'invalid_request', 'password');
      await rejectsWith(createUser(db, { username: 'bad name', passwordHash: given }), 'invalid_request', 'username');
      await rejectsWith(createUser(db, { username: 'mail', email: 'not-an-email', passwordHash: given }), 'invalid_request', 'email');
    });

    test('usernames and emails are unique whatever their case, and the database itself enforces it', async (t) => {
      const { db } = await fixture(t, databases);
      const passwordHash = await aHash();
      const alice = await createUser(db, { username: 'Alice', email: 'Alice@Example.com', passwordHash });
      await rejectsWith(createUser(db, { username: 'alice', passwordHash }), 'conflict', 'username');
      await rejectsWith(createUser(db, { username: 'ALICE', passwordHash }), 'conflict');
      await rejectsWith(createUser(db, { username: 'alice2', email: 'alice@example.COM', passwordHash }), 'conflict');
      // Users without an email do not collide with each other.
      await createUser(db, { username: 'bob', passwordHash });
      await createUser(db, { username: 'carol', passwordHash });
      assert.equal(await count(db, 'users'), 3);

      // Bypassing the repository changes nothing: the unique indexes are on lower(username/email).
      const row = { password_hash: null, disabled: 0, email_verified: 0, created_at: Date.now(), updated_at: Date.now(), self_registered: 0 };
      for (const clash of [{ username: 'aLiCe', email: null }, { username: 'dave', email: 'ALICE@EXAMPLE.COM' }]) {
        await assert.rejects(
          db.insertInto('users').values({ id: crypto.randomUUID(), ...row, ...clash }).execute(),
          (error) => isUniqueViolation(error),
        );
      }
      assert.equal((await findUser(db, 'ALICE'))?.id, alice.id, 'lookups ignore case too');
      assert.equal((await findLoginRecord(db, 'alice'))?.id, alice.id);
    });

    test('roles are attached to users; an unknown role is refused and leaves no user behind', async (t) => {
      const { db } = await fixture(t, databases);
      const passwordHash = await aHash();
      await createRole(db, { name: 'reader', scopes: 'items:read' });
      await createRole(db, { name: 'writer', scopes: 'items:write' });
      const user = await createUser(db, { username: 'john', passwordHash, roles: ['writer', 'reader', 'reader'] });
      assert.deepEqual(user.roles, ['reader', 'writer']);
      assert.deepEqual((await findUser(db, 'john'))?.roles, ['reader', 'writer']);

      const error = await rejectsWith(createUser(db, { username: 'ghostly', passwordHash, roles: ['reader', 'ghost'] }), 'invalid_request', 'roles');
      assert.match(error.message, /ghost/);
      assert.equal(await findUser(db, 'ghostly'), undefined, 'no half-created user');
      assert.equal(await count(db, 'users'), 1);
      assert.equal(await count(db, 'user_roles'), 2);
    });

    test('listUsers filters by text and by disabled state, and pages with a total', async (t) => {
      const { db } = await fixture(t, databases);
      const passwordHash = await aHash();
      await importUsers(db, [
        { username: 'anna', email: 'anna@example.com', passwordHash },
        { username: 'a_b', email: 'ab@example.org', passwordHash },
        { username: 'axb', email: 'axb@example.org', passwordHash, disabled: true },
        { username: 'bert', email: 'bert@EXAMPLE.com', passwordHash, disabled: true },
        { username: 'carl', passwordHash },
      ]);
      const names = async (filter: Parameters<typeof listUsers>[1]) => (await listUsers(db, filter)).items.map((u) => u.username);

      assert.deepEqual(await names({}), ['a_b', 'anna', 'axb', 'bert', 'carl'], 'ordered by username');
      assert.deepEqual(await names({ query: 'example.com' }), ['anna', 'bert'], 'matches emails, case-insensitively');
      assert.deepEqual(await names({ query: 'ANN' }), ['anna']);
      assert.deepEqual(await names({ query: '_' }), ['a_b'], 'LIKE wildcards in the query are literal');
      assert.deepEqual(await names({ query: '%' }), []);
      assert.deepEqual(await names({ disabled: true }), ['axb', 'bert']);
      assert.deepEqual(await names({ disabled: false }), ['a_b', 'anna', 'carl']);
      assert.deepEqual(await names({ query: 'b', disabled: false }), ['a_b'], 'filters combine');

      const first = await listUsers(db, { limit: 2 });
      assert.deepEqual([first.total, first.limit, first.offset, first.items.length], [5, 2, 0, 2]);
      const last = await listUsers(db, { limit: 2, offset: 4 });
      assert.deepEqual([last.total, last.items.map((u) => u.username)], [5, ['carl']]);
      const filtered = await listUsers(db, { disabled: true, limit: 1 });
      assert.deepEqual([filtered.total, filtered.items.length], [2, 1], 'the total counts the filtered rows');
      const silly = await listUsers(db, { limit: Number.NaN, offset: Number.NaN });
      assert.deepEqual([silly.limit, silly.offset, silly.items.length], [50, 0, 5], 'nonsense bounds fall back to the defaults');
      assert.equal((await listUsers(db, { limit: 10_000 })).limit, 200, 'the page size is capped');
    });

    test('users can be disabled, enabled, and given a new password', async (t) => {
      const { db } = await fixture(t, databases);
      const user = await createUser(db, await withPasswordHash({ username: 'john', password: 'first password' }));
      const disabled = await setUserDisabled(db, 'JOHN', true);
      assert.equal(disabled.disabled, true);
      assert.equal((await findUser(db, user.id))?.disabled, true);
      assert.equal((await findLoginRecord(db, 'john'))?.disabled, true);
      await setUserDisabled(db, user.id, false);
      assert.equal((await findLoginRecord(db, 'john'))?.disabled, false);

      await setUserPassword(db, 'john', 'second password');
      const { passwordHash } = (await findLoginRecord(db, 'john'))!;
      assert.match(passwordHash!, /^\$argon2id\$/);
      assert.equal(await verifyPassword(passwordHash!, 'second password'), true);
      assert.equal(await verifyPassword(passwordHash!, 'first password'), false);

      await rejectsWith(setUserPassword(db, 'john', 'short'), 'invalid_request', 'password');
      await rejectsWith(setUserPassword(db, 'nobody', 'long enough password'), 'not_found');
      await rejectsWith(setUserDisabled(db, 'nobody', true), 'not_found');
    });

    test('grantedScopes is the union of the scopes of the user\'s roles', async (t) => {
      const { db } = await fixture(t, databases);
      const passwordHash = await aHash();
      await createRole(db, { name: 'reader', scopes: 'me items:read' });
      await createRole(db, { name: 'writer', scopes: 'me items:write' });
      await createRole(db, { name: 'admin', scopes: 'accounts:read' });
      const both = await createUser(db, { username: 'both', passwordHash, roles: ['reader', 'writer'] });
      const none = await createUser(db, { username: 'none', passwordHash });
      assert.deepEqual([...(await grantedScopes(db, both.id))].sort(), ['items:read', 'items:write', 'me']);
      assert.deepEqual([...(await grantedScopes(db, none.id))], []);
    });

    // ── Import ───────────────────────────────────────────────────────────────────────────────
    test('importUsers keeps bcrypt and argon2id hashes as they are', async (t) => {
      const { db } = await fixture(t, databases);
      // A hash made elsewhere, with stronger parameters than ours.
      const argon2 = await argon2Hash('imported password', { algorithm: 2, memoryCost: 65536, timeCost: 3, parallelism: 4 });
      const imported = await importUsers(db, [
        { username: 'legacy', email: 'legacy@example.com', passwordHash: BCRYPT_SECRET },
        { username: 'modern', passwordHash: argon2, disabled: true, emailVerified: true },
      ]);
      assert.deepEqual(imported.map((u) => [u.username, u.disabled, u.emailVerified]), [['legacy', false, false], ['modern', true, true]]);
      assert.equal((await findLoginRecord(db, 'legacy'))?.passwordHash, BCRYPT_SECRET);
      assert.equal((await findLoginRecord(db, 'modern'))?.passwordHash, argon2);
      assert.equal(await verifyPassword(BCRYPT_SECRET, 'secret'), true);
      assert.equal(await verifyPassword(argon2, 'imported password'), true);
    });

    test('an import refuses hash formats it cannot verify, naming the record\'s field', async (t) => {
      const { db } = await fixture(t, databases);
      const refused = [
        'secret', // a plain password in the hash field
        '5f4dcc3b5aa765d61d8327deb882cf99', // unsalted MD5
        '$6$rounds=5000$salt$K9p2lK1F7rOSFiUPzEc2LJ4vjxtC5E0F3p3JDV2gYl9jA0', // sha512-crypt
        '$argon2i$v=19$m=65536,t=2,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG', // argon2i, not argon2id
        '$argon2id$garbage', // not a PHC string: would make every login with it fail with an error
        '$2b$12$tooShort',
      ];
      for (const passwordHash of refused) {
        const error = await rejectsWith(
          withPasswordHashes([{ username: 'fine', passwordHash: BCRYPT_SECRET }, { username: 'bad', passwordHash }]).then((users) => importUsers(db, users)),
          'invalid_request',
          'users[1].password_hash',
        );
        assert.ok(!error.message.includes(passwordHash), 'the refused hash is not echoed');
      }
      assert.equal(await count(db, 'users'), 0);
    });

    test('importUsers is all or nothing: one bad record and no row is written', async (t) => {
      const { db } = await fixture(t, databases);
      const passwordHash = await aHash();
      await createRole(db, { name: 'reader', scopes: 'items:read' });
      const good: NewUser[] = [
        { username: 'one', email: 'one@example.com', passwordHash, roles: ['reader'] },
        { username: 'two', passwordHash: BCRYPT_SECRET, roles: ['reader'] },
      ];
      // The database refuses the third (same username in another case), after two inserts.
      await rejectsWith(importUsers(db, [...good, { username: 'ONE', passwordHash }]), 'conflict', 'users[2].username');
      // An unknown role, found only once the first user is in.
      await rejectsWith(importUsers(db, [...good, { username: 'three', passwordHash, roles: ['nope'] }]), 'invalid_request', 'users[2].roles');
      // A bad username, refused before anything is written.
      await rejectsWith(importUsers(db, [...good, { username: '', passwordHash }]), 'invalid_request', 'users[2].username');
      assert.equal(await count(db, 'users'), 0);
      assert.equal(await count(db, 'user_roles'), 0);

      assert.equal((await importUsers(db, good)).length, 2);
      await rejectsWith(importUsers(db, [{ username: 'three', passwordHash }, { username: 'Two', passwordHash }]), 'conflict');
      assert.deepEqual((await listUsers(db)).items.map((u) => u.username), ['one', 'two'], 'a refused batch adds nothing');
    });

    // ── Roles ────────────────────────────────────────────────────────────────────────────────
    test('role names are unique; scopes are RFC 6749 §3.3 scope tokens', async (t) => {
      const { db } = await fixture(t, databases);
      const role = await createRole(db, { name: 'editor', scopes: ['items:write', 'items:read', 'items:read'], description: 'Edits items' });
      assert.deepEqual([role.name, role.scopes, role.description], ['editor', ['items:write', 'items:read'], 'Edits items']);
      await rejectsWith(createRole(db, { name: 'editor', scopes: 'x' }), 'conflict', 'name');

      // scope-token = 1*( %x21 / %x23-5B / %x5D-7E ): no space, no double quote, no backslash, ASCII only.
      for (const bad of ['say"hi"', 'back\\slash', 'café', 'tab\there', 'nul\u0000']) {
        await rejectsWith(createRole(db, { name: 'bad', scopes: [bad] }), 'invalid_request', 'scopes');
      }
      await rejectsWith(createRole(db, { name: 'bad name!', scopes: 'x' }), 'invalid_request', 'name');
      const odd = await createRole(db, { name: 'odd', scopes: '! #[]~ https://api.example.com/items.read' });
      assert.deepEqual(odd.scopes, ['!', '#[]~', 'https://api.example.com/items.read']);

      const page = await listRoles(db);
      assert.deepEqual(page.items.filter((r) => r.name !== ADMIN_ROLE).map((r) => [r.name, [...r.scopes].sort()]), [
        ['editor', ['items:read', 'items:write']],
        ['odd', ['!', '#[]~', 'https://api.example.com/items.read']],
      ]);
      // Beside gatehouse-admin (migration 006):
      assert.equal(await db.selectFrom('roles').select('name').where('name', '!=', ADMIN_ROLE).execute().then((rows) => rows.length), 2, 'refused roles left nothing');
    });

    test('a write that fails half-way leaves nothing behind', async (t) => {
      const { db } = await fixture(t, databases);
      const passwordHash = await aHash();
      await createRole(db, { name: 'reader', scopes: 'items:read' });

      await assert.rejects(createRole(db.withPlugin(failOn('InsertQueryNode', 'role_scopes')), { name: 'half', scopes: 'a b' }), /injected/);
      assert.deepEqual((await listRoles(db)).items.map((r) => r.name).filter((name) => name !== ADMIN_ROLE), ['reader'], 'no role without its scopes');

      await assert.rejects(
        createApi(db.withPlugin(failOn('InsertQueryNode', 'api_scopes')), { identifier: 'https://half.example.com', name: 'Half', scopes: 'a' }),
        /injected/,
      );
      assert.equal(await findApi(db, 'https://half.example.com'), undefined, 'no API without its scopes');

      await assert.rejects(createUser(db.withPlugin(failOn('InsertQueryNode', 'user_roles')), { username: 'half', passwordHash, roles: ['reader'] }), /injected/);
      assert.equal(await findUser(db, 'half'), undefined, 'no user without its roles');

      await assert.rejects(
        importUsers(db.withPlugin(failOn('InsertQueryNode', 'users', { after: 1 })), [{ username: 'first', passwordHash }, { username: 'second', passwordHash }]),
        /injected/,
      );
      assert.equal(await count(db, 'users'), 0, 'no partial import');

      await createClient(db, { clientId: 'kept', name: 'Kept', grantTypes: 'client_credentials' });
      await assert.rejects(deleteClient(db.withPlugin(failOn('DeleteQueryNode', 'oidc_payloads')), 'kept'), /injected/);
      assert.ok(await findClient(db, 'kept'), 'a delete that failed half-way deleted nothing');
    });

    // ── APIs ─────────────────────────────────────────────────────────────────────────────────
    test('APIs: unique identifier, scopes with descriptions, validated lifetime and algorithm', async (t) => {
      const { db } = await fixture(t, databases);
      const api = await createApi(db, {
        identifier: 'https://items.example.com',
        name: 'Items API',
        scopes: [{ name: 'items:read', description: 'Read your items' }, 'items:write', { name: 'me' }],
        accessTokenTtl: 600,
        signingAlg: 'RS256',
      });
      assert.deepEqual(api.scopes, [
        { name: 'items:read', description: 'Read your items' },
        { name: 'items:write', description: null },
        { name: 'me', description: null },
      ]);
      assert.deepEqual([api.accessTokenTtl, api.signingAlg], [600, 'RS256']);
      const found = await findApi(db, 'https://items.example.com');
      assert.deepEqual(found, { ...api, scopes: [...api.scopes].sort((a, b) => a.name.localeCompare(b.name)) });
      await rejectsWith(createApi(db, { identifier: 'https://items.example.com', name: 'Again', scopes: 'x' }), 'conflict', 'identifier');

      const plain = await createApi(db, { identifier: 'urn:example:billing', name: 'Billing', scopes: 'invoices' });
      assert.deepEqual([plain.accessTokenTtl, plain.signingAlg], [null, null], 'unset means the server default');

      const bad = { identifier: 'https://a.example.com', name: 'Bad', scopes: 'x' };
      for (const accessTokenTtl of [29, 86401, 90.5, -1]) {
        await rejectsWith(createApi(db, { ...bad, accessTokenTtl }), 'invalid_request', 'access_token_ttl');
      }
      for (const signingAlg of ['HS256', 'none', 'es256', '']) {
        await rejectsWith(createApi(db, { ...bad, signingAlg }), 'invalid_request', 'signing_alg');
      }
      await rejectsWith(createApi(db, { ...bad, identifier: 'https://a.example.com/#frag' }), 'invalid_request', 'identifier');
      await rejectsWith(createApi(db, { ...bad, identifier: '/relative' }), 'invalid_request', 'identifier');
      await rejectsWith(createApi(db, { ...bad, scopes: 'ok "quoted"' }), 'invalid_request', 'scopes');
      await createApi(db, { ...bad, accessTokenTtl: 30 });
      await createApi(db, { ...bad, identifier: 'https://b.example.com', accessTokenTtl: 86400 });

      const page = await listApis(db, { limit: 2 });
      assert.equal(page.total, 4);
      assert.deepEqual(page.items.map((a) => a.identifier), ['https://a.example.com', 'https://b.example.com']);
    });

    // ── Clients ──────────────────────────────────────────────────────────────────────────────
    test('a confidential client\'s secret is returned once; only its SHA-256 is stored', async (t) => {
      const { db } = await fixture(t, databases);
      const { client, clientSecret } = await createClient(db, { name: 'Service', grantTypes: 'client_credentials', scopes: 'accounts:read' });
      assert.ok(clientSecret);
      assert.match(clientSecret, /^gatehouse_cs_[A-Za-z0-9_-]{43}$/);
      assert.deepEqual([client.type, client.tokenEndpointAuthMethod], ['confidential', 'client_secret_basic']);

      const row = await db.selectFrom('clients').selectAll().where('id', '=', client.clientId).executeTakeFirstOrThrow();
      assert.match(row.secret_hash!, /^sha256:/);
      assert.notEqual(row.secret_hash, clientSecret);
      assert.ok(!JSON.stringify(row).includes(clientSecret), 'the secret is stored nowhere');
      assert.equal(verifySecret(clientSecret, row.secret_hash!), true);
      assert.equal(verifySecret(`${clientSecret}x`, row.secret_hash!), false);

      assert.equal((await findStoredClient(db, client.clientId))?.secretHash, row.secret_hash, 'the engine can read the hash');
      const shown = [await findClient(db, client.clientId), (await listClients(db)).items];
      assert.ok(!JSON.stringify(shown).includes('sha256:') && !JSON.stringify(shown).includes(clientSecret), 'listing shows neither');
      assert.ok(!('secretHash' in (await findClient(db, client.clientId))!));

      const other = await createClient(db, { name: 'Service 2', grantTypes: 'client_credentials' });
      assert.notEqual(other.clientSecret, clientSecret);
      assert.notEqual(other.client.clientId, client.clientId);

      const web = await createClient(db, { name: 'Web', public: true, grantTypes: ['authorization_code'], redirectUris: ['https://app.example.com/cb'], firstParty: true });
      assert.equal(web.clientSecret, undefined, 'a public client has no secret');
      assert.deepEqual([web.client.type, web.client.tokenEndpointAuthMethod], ['public', 'none']);
      const webRow = await db.selectFrom('clients').select('secret_hash').where('id', '=', web.client.clientId).executeTakeFirstOrThrow();
      assert.equal(webRow.secret_hash, null);
      // The database refuses a confidential client without a secret, whoever writes the row.
      await assert.rejects(db.updateTable('clients').set({ secret_hash: null }).where('id', '=', client.clientId).execute());
    });

    test('client grants: what each grant needs, and what a public client may not have', async (t) => {
      const { db } = await fixture(t, databases);
      const redirectUris = ['https://app.example.com/cb'];
      await rejectsWith(createClient(db, { name: 'P', public: true, grantTypes: 'client_credentials' }), 'invalid_request', 'grant_types');
      await rejectsWith(createClient(db, { name: 'A', grantTypes: 'authorization_code' }), 'invalid_request', 'redirect_uris');
      await rejectsWith(createClient(db, { name: 'C', grantTypes: 'client_credentials', redirectUris }), 'invalid_request', 'redirect_uris');
      await rejectsWith(createClient(db, { name: 'R', grantTypes: 'refresh_token client_credentials' }), 'invalid_request', 'grant_types');
      await rejectsWith(createClient(db, { name: 'I', grantTypes: 'implicit' }), 'invalid_request', 'grant_types');
      await rejectsWith(createClient(db, { name: 'E', grantTypes: '' }), 'invalid_request', 'grant_types');
      await rejectsWith(createClient(db, { name: 'M', public: true, grantTypes: 'password', tokenEndpointAuthMethod: 'client_secret_basic' }), 'invalid_request', 'token_endpoint_auth_method');
      await rejectsWith(createClient(db, { name: 'M', grantTypes: 'password', tokenEndpointAuthMethod: 'private_key_jwt' }), 'invalid_request', 'token_endpoint_auth_method');
      await rejectsWith(createClient(db, { name: 'S', grantTypes: 'client_credentials', scopes: 'bad"scope' }), 'invalid_request', 'scopes');
      assert.equal(await count(db, 'clients'), 0);

      const { client } = await createClient(db, {
        name: 'Web',
        grantTypes: 'authorization_code,refresh_token authorization_code',
        redirectUris,
        tokenEndpointAuthMethod: 'client_secret_post',
        firstParty: false,
      });
      assert.deepEqual(client.grantTypes, ['authorization_code', 'refresh_token']);
      assert.deepEqual([client.tokenEndpointAuthMethod, client.firstParty], ['client_secret_post', false]);
      const cli = await createClient(db, { name: 'CLI', grantTypes: ['password', 'refresh_token'] });
      assert.equal(cli.client.firstParty, false, 'without authorization_code (no consent page to skip): third-party');
    });

    test('first party or not is a decision for a client with authorization_code, never a default', async (t) => {
      const { db } = await fixture(t, databases);
      const web = { name: 'Web', public: true, grantTypes: 'authorization_code', redirectUris: ['https://app.example.com/cb'] };
      const refused = await rejectsWith(createClient(db, web), 'invalid_request', 'first_party');
      assert.match(refused.message, /first_party is required/);
      assert.equal(await count(db, 'clients'), 0);
      assert.equal((await createClient(db, { ...web, firstParty: true })).client.firstParty, true);
      assert.equal((await createClient(db, { ...web, firstParty: false })).client.firstParty, false);
    });

    test('unused dynamically registered clients are deleted; those holding live protocol state and registered ones stay (ADR 0011)', async (t) => {
      const { db } = await fixture(t, databases);
      const dynamic = { name: 'Agent', public: true, grantTypes: 'authorization_code refresh_token', redirectUris: ['http://127.0.0.1:8999/cb'], firstParty: false, registeredDynamically: true };
      const unused = (await createClient(db, dynamic)).client.clientId;
      const used = (await createClient(db, dynamic)).client.clientId;
      const expired = (await createClient(db, dynamic)).client.clientId;
      const operators = (await createClient(db, { ...dynamic, registeredDynamically: false })).client.clientId;
      const payload = (id: string, clientId: string, expiresAt: number) =>
        ({ model: 'Grant', id, payload: '{}', grant_id: id, client_id: clientId, account_id: null, uid: null, user_code: null, expires_at: expiresAt, consumed_at: null });
      await db.insertInto('oidc_payloads').values([payload('g1', used, Date.now() + 60_000), payload('g2', expired, Date.now() - 1000)]).execute();
      assert.equal(await deleteUnusedDynamicClients(db, Date.now() - 60_000), 0, 'none old enough');
      assert.equal(await deleteUnusedDynamicClients(db, Date.now() + 1000), 2);
      assert.deepEqual(
        [await findClient(db, unused), await findClient(db, expired)].map((c) => c?.clientId),
        [undefined, undefined],
      );
      assert.equal((await findClient(db, used))?.registeredDynamically, true);
      assert.equal((await findClient(db, operators))?.registeredDynamically, false);
    });

    test('client APIs: granted by identifier, unknown ones refused, replaced as a whole, gone with their API', async (t) => {
      const { db } = await fixture(t, databases);
      await createApi(db, { identifier: 'https://a.example', name: 'A', scopes: 'read' });
      await createApi(db, { identifier: 'https://b.example', name: 'B', scopes: [] });
      const { client } = await createClient(db, { clientId: 'svc', name: 'Svc', grantTypes: 'client_credentials', scopes: 'read', apis: ['https://b.example', 'https://a.example', 'https://a.example'] });
      assert.deepEqual(client.apis, ['https://a.example', 'https://b.example']);
      assert.deepEqual((await findStoredClient(db, 'svc'))?.apis, ['https://a.example', 'https://b.example']);
      assert.deepEqual((await listClients(db)).items.map((c) => c.apis), [['https://a.example', 'https://b.example']]);

      const unknown = await rejectsWith(
        createClient(db, { clientId: 'other', name: 'Other', grantTypes: 'client_credentials', apis: ['https://a.example', 'https://nope.example'] }),
        'invalid_request',
        'apis',
      );
      assert.match(unknown.message, /https:\/\/nope\.example/);
      assert.equal(await findClient(db, 'other'), undefined, 'nothing half-created');

      assert.deepEqual((await updateClient(db, 'svc', { apis: ['https://b.example'] })).apis, ['https://b.example']);
      await rejectsWith(updateClient(db, 'svc', { apis: ['https://nope.example'] }), 'invalid_request', 'apis');
      assert.deepEqual((await findClient(db, 'svc'))?.apis, ['https://b.example'], 'a refused change changed nothing');
      assert.deepEqual((await updateClient(db, 'svc', { name: 'Renamed' })).apis, ['https://b.example'], 'kept when not given');
      assert.deepEqual((await updateClient(db, 'svc', { apis: [] })).apis, []);

      // An API deleted (and one made again with its identifier) is granted to nobody.
      await updateClient(db, 'svc', { apis: ['https://a.example'] });
      await db.deleteFrom('apis').where('identifier', '=', 'https://a.example').execute();
      assert.deepEqual((await findClient(db, 'svc'))?.apis, []);
      await createApi(db, { identifier: 'https://a.example', name: 'A again', scopes: 'read' });
      assert.deepEqual((await findClient(db, 'svc'))?.apis, []);
      await deleteClient(db, 'svc');
      assert.equal(await count(db, 'client_apis'), 0, 'a deleted client\'s grants go with it');
    });

    test('migration 005: existing clients are granted the APIs whose scopes they hold; public clients with app schemes become native', async (t) => {
      const { db } = await fixture(t, databases, { migrated: false });
      const migrator = new Migrator({ db, provider: migrationProvider, migrationTableName: 'gatehouse_migrations', migrationLockTableName: 'gatehouse_migrations_lock' });
      const before = await migrator.migrateTo('003-self-service');
      assert.equal(before.error, undefined);
      const at = Date.now();
      const old = db as unknown as import('kysely').Kysely<any>;
      await old.insertInto('apis').values([
        { id: 'api-items', identifier: 'https://items.example', name: 'Items', created_at: at },
        { id: 'api-billing', identifier: 'https://billing.example', name: 'Billing', created_at: at },
        { id: 'api-open', identifier: 'https://open.example', name: 'No scopes', created_at: at },
      ]).execute();
      await old.insertInto('api_scopes').values([
        { api_id: 'api-items', name: 'items' },
        { api_id: 'api-items', name: 'read' },
        { api_id: 'api-billing', name: 'invoices' },
        { api_id: 'api-billing', name: 'read' },
      ]).execute();
      const client = (id: string, type: 'public' | 'confidential', scopes: string[], redirectUris: string[] = []) => ({
        id,
        name: id,
        type,
        secret_hash: type === 'public' ? null : 'sha256:x',
        token_endpoint_auth_method: type === 'public' ? 'none' : 'client_secret_basic',
        redirect_uris: JSON.stringify(redirectUris),
        post_logout_redirect_uris: '[]',
        grant_types: JSON.stringify(redirectUris.length ? ['authorization_code'] : ['client_credentials']),
        scopes: JSON.stringify(scopes),
        cors_origins: '[]',
        first_party: 1,
        created_at: at,
        updated_at: at,
      });
      await old.insertInto('clients').values([
        client('spa', 'public', ['items'], ['https://app.example/cb']),
        client('both', 'confidential', ['read']),
        client('none', 'confidential', []),
        client('app', 'public', ['invoices'], ['com.example.app:/cb', 'http://127.0.0.1/cb']),
      ]).execute();

      const applied = await migrate(db);
      assert.ok(applied.results?.some((r) => r.migrationName === '005-client-apis' && r.status === 'Success'));
      const apisOf = async (id: string) => (await findClient(db, id))?.apis;
      assert.deepEqual(await apisOf('spa'), ['https://items.example']);
      assert.deepEqual(await apisOf('both'), ['https://billing.example', 'https://items.example'], 'a scope name two APIs define grants both');
      assert.deepEqual(await apisOf('none'), [], 'no scope, no API (not even one without scopes)');
      assert.deepEqual(await apisOf('app'), ['https://billing.example']);
      assert.equal((await findClient(db, 'app'))?.applicationType, 'native');
      assert.equal((await findClient(db, 'spa'))?.applicationType, 'web');
    });

    test('redirect URIs: absolute, no fragment, https unless loopback', async (t) => {
      const { db } = await fixture(t, databases);
      const make = (uri: string, field: 'redirectUris' | 'postLogoutRedirectUris' = 'redirectUris') =>
        createClient(db, { name: 'Web', public: true, firstParty: true, grantTypes: 'authorization_code', redirectUris: ['https://ok.example.com/cb'], [field]: [uri] });
      for (const uri of [
        'http://app.example.com/cb', // plain http off loopback
        'http://localhost.example.com/cb',
        'http://127.0.0.2.nip.io/cb',
        'https://app.example.com/cb#frag', // RFC 6749 §3.1.2: no fragment
        'https://app.example.com/cb#',
        'javascript:alert(1)',
        'data:text/html,hi',
        'file:///etc/passwd',
        '/relative/cb',
        'https://*.example.com/cb', // matched exactly: a wildcard is never useful
        'https://app.example.com/%2A',
        'https://user:secret@app.example.com/cb',
        'https://user@app.example.com/cb',
        'com.example.app:/oauth2redirect', // app schemes are for native apps
      ]) {
        await rejectsWith(make(uri), 'invalid_request', 'redirect_uris');
        await rejectsWith(make(uri, 'postLogoutRedirectUris'), 'invalid_request', 'post_logout_redirect_uris');
      }
      const accepted = ['http://localhost:3000/cb', 'http://127.0.0.1/cb', 'http://[::1]:8080/cb', 'https://app.example.com/cb?x=1'];
      const { client } = await createClient(db, { name: 'Web', public: true, firstParty: true, grantTypes: 'authorization_code', redirectUris: accepted });
      assert.deepEqual(client.redirectUris, accepted, 'kept exactly as registered (exact matching later)');
      assert.equal(client.applicationType, 'web');
    });

    test('native apps (RFC 8252): public, loopback IP literals, reverse-domain app schemes or https; fixed for life', async (t) => {
      const { db } = await fixture(t, databases);
      const make = (uri: string, extra: { public?: boolean } = {}) =>
        createClient(db, { name: 'App', public: true, firstParty: true, applicationType: 'native', grantTypes: 'authorization_code', redirectUris: [uri], ...extra });
      for (const uri of ['http://localhost:8080/cb', 'http://app.example.com/cb', 'https://127.0.0.1/cb', 'https://[::1]/cb', 'myapp:/cb', 'javascript:alert(1)', 'com.example.app://user:pw@x/cb']) {
        await rejectsWith(make(uri), 'invalid_request', 'redirect_uris');
      }
      await rejectsWith(make('http://127.0.0.1/cb', { public: false }), 'invalid_request', 'application_type');
      await rejectsWith(createClient(db, { name: 'X', public: true, applicationType: 'tv', grantTypes: 'password' }), 'invalid_request', 'application_type');
      const accepted = ['http://127.0.0.1/cb', 'http://[::1]:8080/cb', 'com.example.app:/oauth2redirect', 'https://app.example.com/native'];
      const { client } = await make(accepted[0]!);
      assert.equal(client.applicationType, 'native');
      const changed = await updateClient(db, client.clientId, { redirectUris: accepted });
      assert.deepEqual([changed.redirectUris, changed.applicationType], [accepted, 'native'], 'changes are checked by the native rules');
      await rejectsWith(updateClient(db, client.clientId, { redirectUris: ['http://localhost/cb'] }), 'invalid_request', 'redirect_uris');
    });

    test('CORS origins must be bare origins', async (t) => {
      const { db } = await fixture(t, databases);
      const make = (origin: string) => createClient(db, { name: 'S', grantTypes: 'client_credentials', corsOrigins: [origin] });
      for (const origin of ['https://app.example.com/path', 'https://app.example.com/?q=1', 'https://app.example.com#x', 'ftp://app.example.com', 'https://user@app.example.com', '*', 'app.example.com']) {
        await rejectsWith(make(origin), 'invalid_request', 'cors_origins');
      }
      const { client } = await createClient(db, {
        name: 'S',
        grantTypes: 'client_credentials',
        corsOrigins: ['https://app.example.com', 'http://localhost:3000/', 'https://app.example.com'],
      });
      assert.deepEqual(client.corsOrigins, ['https://app.example.com', 'http://localhost:3000']);
    });

    test('client ids: chosen or generated, unique, and from a safe alphabet', async (t) => {
      const { db } = await fixture(t, databases);
      const chosen = await createClient(db, { clientId: 'my-app.v2_~', name: 'Mine', grantTypes: 'client_credentials' });
      assert.equal(chosen.client.clientId, 'my-app.v2_~');
      await rejectsWith(createClient(db, { clientId: 'my-app.v2_~', name: 'Again', grantTypes: 'client_credentials' }), 'conflict', 'client_id');
      for (const clientId of ['', 'has space', 'slash/y', 'x'.repeat(65), 'ümlaut']) {
        await rejectsWith(createClient(db, { clientId, name: 'Bad', grantTypes: 'client_credentials' }), 'invalid_request', 'client_id');
      }
      // The shape of user ids is theirs alone: a client's tokens carry its id as `sub`.
      const user = await createUser(db, { username: 'someone', passwordHash: await aHash() });
      for (const clientId of [user.id, user.id.toUpperCase(), crypto.randomUUID()]) {
        const refused = await rejectsWith(createClient(db, { clientId, name: 'Impostor', grantTypes: 'client_credentials' }), 'invalid_request', 'client_id');
        assert.match(refused.message, /reserved for user ids/);
      }
      const generated = await createClient(db, { name: 'Generated', grantTypes: 'client_credentials' });
      assert.match(generated.client.clientId, /^[A-Za-z0-9_-]{22}$/);
      assert.equal(await findClient(db, 'has space'), undefined);
      assert.deepEqual((await listClients(db)).items.map((c) => c.name), ['Generated', 'Mine']);
    });

    test('deleting a client removes what was issued to it, and only that', async (t) => {
      const { db } = await fixture(t, databases);
      const adapter = adapterFor(db);
      await createClient(db, { clientId: 'doomed', name: 'Doomed', grantTypes: 'client_credentials' });
      await createClient(db, { clientId: 'kept', name: 'Kept', grantTypes: 'client_credentials' });
      for (const clientId of ['doomed', 'kept']) {
        await adapter('Grant').upsert(`grant-${clientId}`, { clientId, accountId: 'u1' }, 3600);
        await adapter('RefreshToken').upsert(randomToken(), { clientId, grantId: `grant-${clientId}` }, 3600);
        await db.insertInto('refresh_reuses').values({ token_hash: sha256(randomToken()), client_id: clientId, response: '{}', expires_at: Date.now() + 5000 }).execute();
      }
      await deleteClient(db, 'doomed');
      assert.equal(await findClient(db, 'doomed'), undefined);
      const left = await db.selectFrom('oidc_payloads').select(['model', 'client_id']).orderBy('model').execute();
      assert.deepEqual(left.map((r) => [r.model, r.client_id]), [['Grant', 'kept'], ['RefreshToken', 'kept']]);
      const reuses = await db.selectFrom('refresh_reuses').select('client_id').execute();
      assert.deepEqual(reuses.map((r) => r.client_id), ['kept'], 'kept responses of a deleted client are gone too');
      await rejectsWith(deleteClient(db, 'doomed'), 'not_found', 'client_id');
    });

    // ── Keys and server secrets ──────────────────────────────────────────────────────────────
    test('ensureSigningKeys creates one active ES256 and one RS256 key, once', async (t) => {
      const { db } = await fixture(t, databases);
      const keys = await ensureSigningKeys(db);
      assert.deepEqual(keys.map((k) => [k.alg, k.state]).sort(), [['ES256', 'active'], ['RS256', 'active']]);
      for (const key of keys) {
        assert.equal(key.privateJwk.kid, key.kid);
        assert.equal(key.privateJwk.alg, key.alg);
        assert.equal(key.privateJwk.use, 'sig');
        assert.ok(key.privateJwk.d, 'the private part is kept (every instance signs)');
        assert.equal(key.privateJwk.kty, key.alg === 'ES256' ? 'EC' : 'RSA');
      }
      const again = await ensureSigningKeys(db);
      assert.deepEqual(again.map((k) => k.kid).sort(), keys.map((k) => k.kid).sort(), 'a second call changes nothing');
      assert.equal(await count(db, 'signing_keys'), 2);
    });

    test('ensureSigningKeys from several instances at once leaves one active key per algorithm', async (t) => {
      const { db, connect } = await fixture(t, databases);
      const results = await Promise.all([db, connect(), connect()].map((d) => ensureSigningKeys(d)));
      const rows = await db.selectFrom('signing_keys').select(['kid', 'alg', 'state']).execute();
      for (const alg of SIGNING_ALGS) {
        assert.equal(rows.filter((r) => r.alg === alg && r.state === 'active').length, 1, alg);
      }
      const kids = rows.map((r) => r.kid).sort();
      for (const keys of results) assert.deepEqual(keys.map((k) => k.kid).sort(), kids, 'every instance ends up with the same keys');
      // The database, not the code path, guarantees it.
      const extra = { kid: 'extra', alg: 'ES256', private_jwk: '{}', state: 'active' as const, created_at: Date.now(), activated_at: Date.now(), retired_at: null };
      await assert.rejects(db.insertInto('signing_keys').values(extra).execute(), (error) => isUniqueViolation(error));
      await db.insertInto('signing_keys').values({ ...extra, state: 'retired' }).execute();
    });

    test('ensureSecrets is idempotent and safe to call from several instances at once', async (t) => {
      const { db, connect } = await fixture(t, databases);
      const results = await Promise.all([db, connect(), connect(), db].map((d) => ensureSecrets(d, 'cookie')));
      assert.equal(results[0]!.length, 1);
      for (const secrets of results) assert.deepEqual(secrets, results[0]);
      assert.ok(results[0]![0]!.length >= 43, 'at least 256 bits');
      assert.deepEqual(await ensureSecrets(db, 'cookie'), results[0]);
      const csrf = await ensureSecrets(db, 'csrf');
      assert.notDeepEqual(csrf, results[0], 'each purpose has its own secret');
      assert.equal(await count(db, 'server_secrets'), 2);
    });

    // ── The oidc-provider adapter ────────────────────────────────────────────────────────────
    test('adapter: upsert and find round-trip; upsert again replaces the payload', async (t) => {
      const { db, connect } = await fixture(t, databases);
      const adapter = adapterFor(db);
      const id = randomToken();
      const payload = { accountId: 'user-1', clientId: 'web', grantId: 'grant-1', scope: 'openid me', exp: 2e9, iat: 1e9, kind: 'AuthorizationCode' };
      await adapter('AuthorizationCode').upsert(id, { ...payload, jti: id }, 60);
      assert.deepEqual(await adapter('AuthorizationCode').find(id), { ...payload, jti: id });
      assert.deepEqual(await adapterFor(connect())('AuthorizationCode').find(id), { ...payload, jti: id }, 'another instance sees it');
      assert.equal(await adapter('RefreshToken').find(id), undefined, 'models are separate');
      assert.equal(await adapter('AuthorizationCode').find(randomToken()), undefined);

      await adapter('AuthorizationCode').upsert(id, { ...payload, scope: 'openid' }, 60);
      assert.equal((await adapter('AuthorizationCode').find(id))?.scope, 'openid');
      assert.equal(await count(db, 'oidc_payloads'), 1);

      const Adapter = createOidcAdapter(db, { findClient: async (clientId) => (clientId === 'web' ? { client_id: 'web' } : undefined) });
      const clients = new Adapter('Client');
      assert.deepEqual(await clients.find('web'), { client_id: 'web' }, 'clients come from the clients table');
      await assert.rejects(clients.upsert('new', { client_id: 'new' }, 0), /not by dynamic registration/);
    });

    test('adapter: ids are stored as their SHA-256; the raw id appears nowhere in the row', async (t) => {
      const { db } = await fixture(t, databases);
      const adapter = adapterFor(db);
      const sessionId = randomToken();
      const ids: Record<string, string> = {};
      const payloads: Record<string, Record<string, unknown>> = {
        Session: { uid: 'session-uid', accountId: 'user-1', loginTs: 1e9, authorizations: { web: { grantId: 'grant-1' } } },
        // An interaction for a signed-in user carries its session's id (oidc-provider puts it there).
        Interaction: { session: { uid: 'session-uid', accountId: 'user-1', cookie: sessionId }, params: { client_id: 'web' }, returnTo: 'https://x/auth' },
        AuthorizationCode: { accountId: 'user-1', clientId: 'web', grantId: 'grant-1', codeChallenge: 'abc', codeChallengeMethod: 'S256' },
        RefreshToken: { accountId: 'user-1', clientId: 'web', grantId: 'grant-1', sessionUid: 'session-uid', rotations: 0 },
        AccessToken: { accountId: 'user-1', clientId: 'web', grantId: 'grant-1' },
      };
      ids.Session = sessionId;
      for (const [model, payload] of Object.entries(payloads)) {
        ids[model] ??= randomToken();
        await adapter(model).upsert(ids[model], { ...payload, jti: ids[model], kind: model }, 3600);
      }
      const rows = await db.selectFrom('oidc_payloads').selectAll().execute();
      assert.equal(rows.length, Object.keys(payloads).length);
      for (const row of rows) {
        assert.equal(row.id, sha256(ids[row.model]!), `${row.model}: the key is the hash`);
        for (const secret of Object.values(ids)) {
          assert.ok(!JSON.stringify(row).includes(secret), `${row.model}'s row holds a raw bearer id (a copy of the database could replay it)`);
        }
        const found = await adapter(row.model).find(ids[row.model]!);
        assert.equal(found?.jti, ids[row.model], `${row.model} is found by its raw id`);
      }
      const interaction = await adapter('Interaction').find(ids.Interaction!);
      assert.deepEqual(interaction?.session, { uid: 'session-uid', accountId: 'user-1' }, 'what oidc-provider reads back is kept');
    });

    test('adapter: expired rows are not found; purgeExpired deletes them and only them', async (t) => {
      const { db } = await fixture(t, databases);
      const adapter = adapterFor(db);
      const [short, long, forever, reused] = [randomToken(), randomToken(), randomToken(), randomToken()];
      await adapter('AccessToken').upsert(short, { clientId: 'c' }, 60);
      await adapter('AccessToken').upsert(long, { clientId: 'c' }, 86400);
      await adapter('Session').upsert(forever, { uid: 'forever-uid' }, 0);
      await adapter('Session').upsert(reused, { uid: 'expired-uid' }, 60);
      // Time passes for two of them (moved in the database: no clock to mock in the other process).
      await db.updateTable('oidc_payloads').set({ expires_at: Date.now() - 1 }).where('id', 'in', [sha256(short), sha256(reused)]).execute();

      assert.equal(await adapter('AccessToken').find(short), undefined);
      assert.equal(await adapter('Session').findByUid('expired-uid'), undefined);
      assert.ok(await adapter('AccessToken').find(long));
      assert.ok(await adapter('Session').find(forever), 'an expiry of 0 means none');

      await db.insertInto('refresh_reuses').values([
        { token_hash: 'old', client_id: 'c', response: '{}', expires_at: Date.now() - 1 },
        { token_hash: 'new', client_id: 'c', response: '{}', expires_at: Date.now() + 60_000 },
      ]).execute();
      assert.equal(await purgeExpired(db), 2);
      assert.equal(await count(db, 'oidc_payloads'), 2);
      assert.deepEqual((await db.selectFrom('refresh_reuses').select('token_hash').execute()).map((r) => r.token_hash), ['new']);
      assert.equal(await purgeExpired(db, Date.now() + 2 * 86400_000), 1, 'with a later clock, the day-long one goes too');
      assert.ok(await adapter('Session').find(forever));
    });

    test('adapter: consume marks the row once; a second consume throws AlreadyConsumedError', async (t) => {
      const { db } = await fixture(t, databases);
      const races: AlreadyConsumedError[] = [];
      const adapter = adapterFor(db, { onConsumeRace: async (error) => void races.push(error) });
      const code = randomToken();
      await adapter('AuthorizationCode').upsert(code, { clientId: 'web', grantId: 'grant-7' }, 60);
      const before = Math.floor(Date.now() / 1000);
      await adapter('AuthorizationCode').consume(code);
      const found = await adapter('AuthorizationCode').find(code);
      const afterwards = Math.ceil(Date.now() / 1000);
      assert.equal(typeof found?.consumed, 'number');
      assert.ok(found!.consumed! >= before && found!.consumed! <= afterwards, 'consumed is the epoch time (in seconds) of the consume');

      await assert.rejects(adapter('AuthorizationCode').consume(code), (error) => {
        assert.ok(error instanceof AlreadyConsumedError);
        assert.equal(error.model, 'AuthorizationCode');
        assert.equal(error.grantId, 'grant-7', 'the grant to revoke is named');
        return true;
      });
      assert.equal(races.length, 1, 'the race hook ran before the error');

      // oidc-provider saves tokens again after using them: that must not make them fresh.
      await adapter('AuthorizationCode').upsert(code, { clientId: 'web', grantId: 'grant-7', scope: 'x' }, 60);
      assert.equal(typeof (await adapter('AuthorizationCode').find(code))?.consumed, 'number');
      await assert.rejects(adapter('AuthorizationCode').consume(code), AlreadyConsumedError);
    });

    test('adapter: a consumed code is kept for the retention period (a late replay must still be seen), a refresh token is not', async (t) => {
      const { db } = await fixture(t, databases);
      const hour = 3600_000;
      const adapter = adapterFor(db, { consumedCodeRetentionMs: hour });
      const expiresAt = async (model: string, id: string) =>
        (await db.selectFrom('oidc_payloads').select('expires_at').where('model', '=', model).where('id', '=', sha256(id)).executeTakeFirstOrThrow()).expires_at!;
      const [code, refreshToken] = [randomToken(), randomToken()];
      await adapter('AuthorizationCode').upsert(code, { clientId: 'web', grantId: 'grant-1' }, 60);
      await adapter('RefreshToken').upsert(refreshToken, { clientId: 'web', grantId: 'grant-1' }, 60);
      const before = Date.now();
      await adapter('AuthorizationCode').consume(code);
      await adapter('RefreshToken').consume(refreshToken);
      assert.ok((await expiresAt('AuthorizationCode', code)) >= before + hour, 'kept an hour from its consumption');
      assert.ok((await expiresAt('RefreshToken', refreshToken)) <= before + 60_000, 'a refresh token keeps its own lifetime');
      // Saved again (oidc-provider does so after using some tokens): still consumed, still kept.
      await adapter('AuthorizationCode').upsert(code, { clientId: 'web', grantId: 'grant-1' }, 60);
      assert.ok((await expiresAt('AuthorizationCode', code)) >= before + hour, 'a later save does not shorten it');
      assert.equal(typeof (await adapter('AuthorizationCode').find(code))?.consumed, 'number');
      // Sweeping expired rows an hour minus a minute later leaves it; past the hour, it goes.
      await purgeExpired(db, before + hour - 60_000);
      assert.ok(await adapter('AuthorizationCode').find(code));
      await purgeExpired(db, before + 2 * hour);
      const left = await db.selectFrom('oidc_payloads').select('model').where('id', '=', sha256(code)).execute();
      assert.deepEqual(left, []);
    });

    test('adapter: of many concurrent consumes, from several instances, exactly one succeeds', async (t) => {
      const { db, connect } = await fixture(t, databases);
      const adapters = [adapterFor(db), adapterFor(connect()), adapterFor(connect())];
      for (let round = 0; round < 3; round++) {
        const token = randomToken();
        await adapters[0]!('RefreshToken').upsert(token, { clientId: 'web', grantId: `grant-${round}` }, 600);
        const outcomes = await Promise.allSettled(Array.from({ length: 9 }, (_, i) => adapters[i % 3]!('RefreshToken').consume(token)));
        assert.equal(outcomes.filter((o) => o.status === 'fulfilled').length, 1);
        for (const outcome of outcomes) {
          if (outcome.status === 'rejected') assert.ok(outcome.reason instanceof AlreadyConsumedError, String(outcome.reason));
        }
      }
    });

    test('adapter: destroy, findByUid and revokeByGrantId touch only what they name', async (t) => {
      const { db } = await fixture(t, databases);
      const adapter = adapterFor(db);
      const [a1, a2, r1, sessionId, sameId] = [randomToken(), randomToken(), randomToken(), randomToken(), randomToken()];
      await adapter('AccessToken').upsert(a1, { clientId: 'web', grantId: 'g1' }, 600);
      await adapter('AccessToken').upsert(a2, { clientId: 'web', grantId: 'g2' }, 600);
      await adapter('RefreshToken').upsert(r1, { clientId: 'web', grantId: 'g1' }, 600);
      await adapter('Grant').upsert('g1', { clientId: 'web', accountId: 'user-1' }, 600);
      await adapter('Session').upsert(sessionId, { uid: 'uid-1', accountId: 'user-1' }, 600);
      await adapter('AccessToken').upsert(sameId, { clientId: 'web' }, 600);
      await adapter('RefreshToken').upsert(sameId, { clientId: 'web' }, 600);

      await adapter('AccessToken').revokeByGrantId('g1');
      assert.equal(await adapter('AccessToken').find(a1), undefined, "the grant's access token is gone");
      assert.ok(await adapter('AccessToken').find(a2), 'another grant is untouched');
      assert.ok(await adapter('RefreshToken').find(r1), 'another model of the same grant is untouched');
      await adapter('Grant').revokeByGrantId('g1');
      assert.equal(await adapter('Grant').find('g1'), undefined, 'a Grant is revoked by its own id');

      const byUid = await adapter('Session').findByUid('uid-1');
      assert.equal(byUid?.accountId, 'user-1');
      assert.equal(await adapter('Session').findByUid('uid-2'), undefined);
      assert.equal(await adapter('Interaction').findByUid('uid-1'), undefined, 'uids are per model');

      await adapter('AccessToken').destroy(sameId);
      assert.equal(await adapter('AccessToken').find(sameId), undefined);
      assert.ok(await adapter('RefreshToken').find(sameId), 'destroy is per model');
      await adapter('Session').destroy(sessionId);
      assert.equal(await adapter('Session').find(sessionId), undefined);
      await adapter('Session').destroy(sessionId); // destroying twice is harmless
    });
  });
}

const sqliteUrl = (t: TestContext) => `sqlite:${join(tempDir(t), 'gatehouse.db')}`;
storageContract('SQLite', {
  empty: async (t) => sqliteUrl(t),
  migrated: (t) => migrated(sqliteUrl(t)),
});

// PostgreSQL creates databases one at a time, each in a good fraction of a second: the tests that
// start from a migrated database share a few instead, each test having one to itself for as long
// as it runs (emptied when it gets it).
const idlePostgres: string[] = [];
const allPostgres: string[] = [];
after(() => Promise.all(allPostgres.map((url) => dropPostgres(url))));
storageContract('PostgreSQL', {
  empty: (t) => tempPostgres(t),
  async migrated(t) {
    let url = idlePostgres.pop();
    if (url === undefined) {
      url = await tempPostgres({ after: () => {} });
      allPostgres.push(url);
      await migrated(url);
    } else {
      const storage = openStorage(url);
      try {
        await storage.db.transaction().execute(async (trx) => {
          for (const table of [...TABLES].reverse()) await trx.deleteFrom(table).execute();
        });
      } finally {
        await storage.close();
      }
    }
    // After the test's own connections are closed (registered earlier): back to the idle list.
    t.after(() => void idlePostgres.push(url));
    return url;
  },
});
