// The `gatehouse` command line, driven in this process through runCli (fast), with one run of
// the real executable at the end. Every command in `gatehouse --help` is exercised, in its human
// and its --json form; bad arguments exit 2 with the usage, refused operations exit 1.
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test, type TestContext } from 'node:test';
import { hash as argon2Hash } from '@node-rs/argon2';
import { tempDir } from '@gatehouse/test-support/files';
import { cli, testKeys, testSecretKey } from '@gatehouse/test-support/gatehouse';
import { migrationProvider } from '../src/storage/migrations/index.ts';
import { runCli } from '../src/cli/main.ts';
import { verifyPassword } from '../src/passwords/hash.ts';
import { openStorage } from '../src/storage/database.ts';
import { findLoginRecord } from '../src/storage/users.ts';
import { enableTwoFactor } from '../src/storage/two-factor.ts';
import { addPasskey, listPasskeys } from '../src/storage/passkeys.ts';
import { newRecoveryCodes, recoveryCodeHashes } from '../src/passwords/totp.ts';
import { listAuditEvents } from '../src/storage/audit.ts';
import { ensureSecrets, ensureSigningKeys } from '../src/storage/keys.ts';
import { migrate } from '../src/storage/database.ts';

const BCRYPT_SECRET = '$2b$12$EixZaYVK1fsbw1ZfbX3OXePaWxn96p36WQoeG6Lruj3vjPGga31lW';

type Env = Record<string, string | undefined>;

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout as JSON, when it is exactly one JSON value. */
  readonly json: any;
}

/** Runs `gatehouse <args>` in this process. Without `input`, standard input is a terminal. */
async function gatehouse(env: Env, args: string[], input?: string): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const stdin = input === undefined ? Object.assign(Readable.from([]), { isTTY: true }) : Readable.from([Buffer.from(input)]);
  const code = await runCli(args, { stdout: (text) => void (stdout += text), stderr: (text) => void (stderr += text), env, stdin });
  let json: unknown;
  try {
    json = JSON.parse(stdout);
  } catch {
    json = undefined;
  }
  return { code, stdout, stderr, json };
}

/** The one line a command that writes prints when it creates the SQLite file (asserted below). */
const CREATED = /^warning: created a new SQLite database at \S+\n/;

/** Runs a command that must succeed, in --json form; returns the one JSON object it printed. */
async function json(env: Env, args: string[], input?: string): Promise<any> {
  const run = await gatehouse(env, [...args, '--json'], input);
  assert.equal(run.code, 0, `gatehouse ${args.join(' ')}: ${run.stderr}`);
  assert.equal(run.stderr.replace(CREATED, ''), '');
  assert.ok(run.json !== null && typeof run.json === 'object' && !Array.isArray(run.json), `one JSON object on stdout, got: ${run.stdout}`);
  return run.json;
}

/** Runs a command that must succeed, in human form; returns what it printed. */
async function human(env: Env, args: string[], input?: string): Promise<string> {
  const run = await gatehouse(env, args, input);
  assert.equal(run.code, 0, `gatehouse ${args.join(' ')}: ${run.stderr}`);
  assert.equal(run.stderr.replace(CREATED, ''), '');
  assert.equal(run.json, undefined, 'human output is not JSON');
  return run.stdout;
}

function environment(t: TestContext): { env: Env; dir: string; databaseFile: string } {
  const dir = tempDir(t);
  const databaseFile = join(dir, 'gatehouse.db');
  const databaseUrl = `sqlite:${databaseFile}`;
  return { env: { GATEHOUSE_DATABASE_URL: databaseUrl, GATEHOUSE_SECRET_KEY: testSecretKey(databaseUrl) }, dir, databaseFile };
}

/** Reads the database the CLI wrote, the way the server would. */
async function loginRecord(env: Env, username: string) {
  const storage = openStorage(env.GATEHOUSE_DATABASE_URL!, { keys: testKeys(env.GATEHOUSE_DATABASE_URL!) });
  try {
    return await findLoginRecord(storage.db, username);
  } finally {
    await storage.close();
  }
}

const NO_STACK = /^\s+at /m;

function assertUsageError(run: Run, pattern: RegExp, label: string): void {
  assert.equal(run.code, 2, `${label}: exit code (stderr: ${run.stderr})`);
  assert.match(run.stderr, /^gatehouse: /, label);
  assert.match(run.stderr, pattern, label);
  assert.match(run.stderr, /Usage: gatehouse/, `${label}: shows the usage`);
  assert.doesNotMatch(run.stderr, NO_STACK, `${label}: no stack trace`);
  assert.equal(run.stdout, '', `${label}: nothing on stdout`);
}

function assertRefused(run: Run, pattern: RegExp, label: string): void {
  assert.equal(run.code, 1, `${label}: exit code (stderr: ${run.stderr})`);
  assert.match(run.stderr.replace(CREATED, ''), /^gatehouse: /, label);
  assert.match(run.stderr, pattern, label);
  assert.doesNotMatch(run.stderr, NO_STACK, `${label}: no stack trace`);
}

// Every command the overview lists; the first test fails if one is added without a test here.
const COMMANDS = [
  'serve', 'migrate', 'doctor', 'apis create', 'apis list', 'roles create', 'roles list', 'users create', 'users list',
  'users disable', 'users enable', 'users set-password', 'users reset-two-factor', 'users passkeys', 'users remove-passkey', 'users import', 'clients create', 'clients list', 'clients update', 'clients delete',
  'clients revoke', 'clients rotate-secret', 'api-keys create', 'api-keys list', 'api-keys revoke', 'keys list', 'keys rotate', 'providers add', 'providers list', 'providers enable', 'providers disable', 'providers remove', 'streams list', 'streams show', 'streams pause', 'streams resume', 'streams disable', 'streams delete', 'secrets reencrypt',
];

test('--help lists every command; each command has its own --help; no command at all is a usage error', async (t) => {
  const { env, databaseFile } = environment(t);
  const overview = await human(env, ['--help']);
  const listed = [...overview.matchAll(/^ {2}(\S+(?: [a-z-]+)?)\s{2,}/gm)].map((m) => m[1]);
  assert.deepEqual(listed, COMMANDS);
  for (const command of COMMANDS) {
    const help = await human(env, [...command.split(' '), '--help']);
    assert.match(help, new RegExp(`Usage: gatehouse ${command}`), command);
  }
  // `help` and `-h` are --help's other spellings.
  for (const spelling of ['help', '-h']) assert.equal(await human(env, [spelling]), overview, spelling);
  const bare = await gatehouse(env, []);
  assert.equal(bare.code, 2);
  assert.match(bare.stderr, /Usage: gatehouse <command>/, 'the overview goes to stderr when it is an error');
  assert.equal(bare.stdout, '');
  assert.equal(existsSync(databaseFile), false, 'help touches no database');
});

test('migrate applies the migrations once', async (t) => {
  const { env, databaseFile } = environment(t);
  const migrations = Object.keys(await migrationProvider.getMigrations()).sort();
  assert.equal(await human(env, ['migrate']), `Applied ${migrations.length} migration(s): ${migrations.join(', ')}\n`);
  assert.ok(existsSync(databaseFile));
  assert.equal(await human(env, ['migrate']), 'The database is up to date.\n');
  assert.deepEqual(await json(env, ['migrate']), { applied: [] });
  const fresh = environment(t).env;
  assert.deepEqual(await json(fresh, ['migrate']), { applied: migrations });
});

test('apis create and list', async (t) => {
  const { env } = environment(t);
  const created = await human(env, ['apis', 'create', '--identifier', 'https://items.example.com', '--name', 'Items API', '--scopes', 'items:read items:write', '--token-ttl', '15m']);
  assert.equal(created, 'Created API https://items.example.com (Items API) with scopes: items:read items:write\n');
  const { api } = await json(env, ['apis', 'create', '--identifier', 'urn:billing', '--name', 'Billing', '--signing-alg', 'RS256']);
  assert.deepEqual([api.identifier, api.scopes, api.accessTokenTtl, api.signingAlg], ['urn:billing', [], null, 'RS256']);

  const table = await human(env, ['apis', 'list']);
  assert.match(table, /^IDENTIFIER\s+NAME\s+SCOPES\s+TOKEN TTL\s+DYNAMIC CLIENTS\n/);
  assert.match(table, /https:\/\/items\.example\.com\s+Items API\s+items:read items:write\s+900\s+-\n/);
  assert.match(table, /urn:billing\s+Billing\s+-\s+default\s+-\n/);
  const page = await json(env, ['apis', 'list', '--limit', '1']);
  assert.deepEqual([page.total, page.limit, page.items.length, page.items[0].identifier], [2, 1, 1, 'https://items.example.com']);

  assertUsageError(await gatehouse(env, ['apis', 'create', '--identifier', 'https://x.example.com', '--name', 'X', '--token-ttl', 'soon']), /--token-ttl must be a duration/, 'bad duration');
  assertRefused(await gatehouse(env, ['apis', 'create', '--identifier', 'https://items.example.com', '--name', 'Again']), /already exists/, 'duplicate API');
});

test('roles create and list', async (t) => {
  const { env } = environment(t);
  assert.equal(await human(env, ['roles', 'create', '--name', 'reader', '--scopes', 'items:read me', '--description', 'Reads items']), 'Created role reader granting: items:read me\n');
  const { role } = await json(env, ['roles', 'create', '--name', 'nobody']);
  assert.deepEqual([role.name, role.scopes], ['nobody', []]);
  const table = await human(env, ['roles', 'list']);
  assert.match(table, /^NAME\s+SCOPES\s+DESCRIPTION\n/);
  assert.match(table, /reader\s+items:read me\s+Reads items\n/);
  const page = await json(env, ['roles', 'list']);
  assert.deepEqual(page.items.map((r: { name: string }) => r.name), ['gatehouse-admin', 'nobody', 'reader'], 'gatehouse-admin from migration 006');
  assertRefused(await gatehouse(env, ['roles', 'create', '--name', 'bad', '--scopes', 'a"b']), /scopes contains an invalid scope/, 'bad scope');
});

test('users create (password by option or on stdin), list, disable, enable, set-password', async (t) => {
  const { env } = environment(t);
  await json(env, ['roles', 'create', '--name', 'reader', '--scopes', 'items:read']);
  await json(env, ['roles', 'create', '--name', 'writer', '--scopes', 'items:write']);

  const created = await human(env, ['users', 'create', '--username', 'johndoe', '--email', 'john@example.com', '--password', 'correct horse', '--roles', 'reader,writer']);
  assert.match(created, /^Created user johndoe \([0-9a-f-]{36}\) with roles reader, writer\n$/);
  assert.ok(!created.includes('correct horse'), 'the password is not printed');
  const { user } = await json(env, ['users', 'create', '--username', 'piped', '--roles', 'reader'], 'from standard input\n');
  assert.deepEqual([user.username, user.roles, user.disabled], ['piped', ['reader'], false]);
  assert.ok(!JSON.stringify(user).includes('argon2') && !JSON.stringify(user).includes('from standard input'));
  const piped = await loginRecord(env, 'piped');
  assert.match(piped!.passwordHash!, /^\$argon2id\$/);
  assert.equal(await verifyPassword(piped!.passwordHash!, 'from standard input'), true, 'the trailing newline is not part of it');

  const table = await human(env, ['users', 'list']);
  assert.match(table, /^USERNAME\s+EMAIL\s+ROLES\s+DISABLED\s+ID\n/);
  assert.match(table, /johndoe\s+john@example\.com\s+reader writer\s+no\s+[0-9a-f-]{36}\n/);
  assert.match(table, /piped\s+-\s+reader\s+no/);

  assert.equal(await human(env, ['users', 'disable', 'JohnDoe']), 'Disabled user johndoe\n');
  assert.equal((await loginRecord(env, 'johndoe'))?.disabled, true);
  assert.deepEqual((await json(env, ['users', 'list', '--disabled'])).items.map((u: { username: string }) => u.username), ['johndoe']);
  assert.deepEqual((await json(env, ['users', 'list', '--enabled'])).items.map((u: { username: string }) => u.username), ['piped']);
  assert.deepEqual((await json(env, ['users', 'list', '--query', 'EXAMPLE'])).items.map((u: { username: string }) => u.username), ['johndoe']);
  const page = await json(env, ['users', 'list', '--limit', '1', '--offset', '1']);
  assert.deepEqual([page.total, page.limit, page.offset, page.items[0].username], [2, 1, 1, 'piped']);
  const { user: enabled } = await json(env, ['users', 'enable', 'johndoe']);
  assert.equal(enabled.disabled, false);
  assert.equal((await loginRecord(env, 'johndoe'))?.disabled, false);

  assert.equal(await human(env, ['users', 'set-password', 'johndoe', '--password', 'battery staple']), 'Set the password of johndoe\n');
  assert.equal(await verifyPassword((await loginRecord(env, 'johndoe'))!.passwordHash!, 'battery staple'), true);
  await json(env, ['users', 'set-password', 'johndoe'], 'staple from stdin\r\n');
  const record = await loginRecord(env, 'johndoe');
  assert.equal(await verifyPassword(record!.passwordHash!, 'staple from stdin'), true);
  assert.equal(await verifyPassword(record!.passwordHash!, 'battery staple'), false);

  // An operator turns two-factor off for a user who lost their device (they can enrol again).
  const storage = openStorage(env.GATEHOUSE_DATABASE_URL!, { keys: testKeys(env.GATEHOUSE_DATABASE_URL!) });
  try {
    await enableTwoFactor(storage.db, record!.id, 'v1.sealed.secret', 1, recoveryCodeHashes(newRecoveryCodes()));
  } finally {
    await storage.close();
  }
  assert.equal((await loginRecord(env, 'johndoe'))?.twoFactor, true);
  assert.equal(await human(env, ['users', 'reset-two-factor', 'johndoe']), 'Turned off two-factor authentication for johndoe\n');
  assert.equal((await loginRecord(env, 'johndoe'))?.twoFactor, false);
  assertRefused(await gatehouse(env, ['users', 'reset-two-factor', 'nobody']), /no user "nobody"/, 'unknown user');

  assertUsageError(await gatehouse(env, ['users', 'set-password', 'johndoe']), /pipe the password on standard input/, 'no password and a terminal');
  assertUsageError(await gatehouse(env, ['users', 'list', '--disabled', '--enabled']), /not both/, 'contradictory filters');
  assertRefused(await gatehouse(env, ['users', 'create', '--username', 'shorty'], 'short\n'), /password must be at least 8 characters/, 'weak password');
});

test('users passkeys and remove-passkey: names and dates, never key material; removal audited; unknown user or passkey and the last way in refused', async (t) => {
  const { env } = environment(t);
  await json(env, ['users', 'create', '--username', 'johndoe'], 'correct horse battery\n');
  await json(env, ['users', 'create', '--username', 'keyonly'], 'keyonly password\n');
  assert.equal(await human(env, ['users', 'passkeys', 'johndoe']), 'johndoe has no passkey\n');
  const storage = openStorage(env.GATEHOUSE_DATABASE_URL!, { keys: testKeys(env.GATEHOUSE_DATABASE_URL!) });
  const withStorage = async <T>(run: (db: typeof storage.db) => Promise<T>) => run(storage.db);
  t.after(() => storage.close());
  const john = (await findLoginRecord(storage.db, 'johndoe'))!;
  const keyonly = (await findLoginRecord(storage.db, 'keyonly'))!;
  const laptop = await withStorage((db) => addPasskey(db, { userId: john.id, credentialId: 'am9obi1sYXB0b3AtY3JlZGVudGlhbA', publicKey: 'am9obi1sYXB0b3AtcHVibGljLWtleQ', signCount: 0, transports: ['internal'], name: 'Laptop' }));
  const key = await withStorage((db) => addPasskey(db, { userId: keyonly.id, credentialId: 'a2V5b25seS1jcmVkZW50aWFs', publicKey: 'a2V5b25seS1wdWJsaWMta2V5', signCount: 0, transports: [], name: 'Only key' }));
  // keyonly signs in with the passkey alone: no password.
  await storage.db.updateTable('users').set({ password_hash: null }).where('id', '=', keyonly.id).execute();

  const text = await human(env, ['users', 'passkeys', 'johndoe']);
  assert.match(text, /Laptop\s+\d{4}-\d\d-\d\dT[\d:.]+Z\s+never\s+[0-9a-f-]{36}/);
  assert.ok(text.includes(laptop.id));
  const listed = await json(env, ['users', 'passkeys', 'johndoe']);
  assert.deepEqual(listed.passkeys, [{ id: laptop.id, name: 'Laptop', created_at: laptop.createdAt, last_used_at: null }]);
  for (const output of [text, JSON.stringify(listed)]) assert.ok(!output.includes(laptop.credentialId) && !output.includes(laptop.publicKey), 'no key material');

  assertRefused(await gatehouse(env, ['users', 'passkeys', 'nobody']), /no user "nobody"/, 'unknown user');
  assertRefused(await gatehouse(env, ['users', 'remove-passkey', 'nobody', laptop.id]), /no user "nobody"/, 'unknown user');
  assertRefused(await gatehouse(env, ['users', 'remove-passkey', 'johndoe', 'no-such-passkey']), /johndoe has no passkey "no-such-passkey"/, 'unknown passkey');
  assertRefused(await gatehouse(env, ['users', 'remove-passkey', 'johndoe', key.id]), /johndoe has no passkey/, "another user's passkey");
  assertRefused(await gatehouse(env, ['users', 'remove-passkey', 'keyonly', key.id]), /last way keyonly can sign in/, 'the last way in');
  assertUsageError(await gatehouse(env, ['users', 'remove-passkey', 'johndoe']), /passkey|argument/i, 'no passkey id');
  assert.equal((await listPasskeys(storage.db, keyonly.id)).length, 1);

  assert.equal(await human(env, ['users', 'remove-passkey', 'johndoe', laptop.id]), 'Removed the passkey Laptop of johndoe\n');
  assert.deepEqual(await listPasskeys(storage.db, john.id), []);
  const events = (await listAuditEvents(storage.db, { type: 'user.passkey_removed' })).items;
  assert.deepEqual(events.map((e) => [e.actor.kind, e.target?.id, e.details.passkey_id, e.details.name]), [['cli', john.id, laptop.id, 'Laptop']]);
});

test('users import: bcrypt and argon2id hashes from a file, all or nothing', async (t) => {
  const { env, dir } = environment(t);
  await json(env, ['roles', 'create', '--name', 'reader', '--scopes', 'items:read']);
  const argon2 = await argon2Hash('imported argon', { algorithm: 2, memoryCost: 19456, timeCost: 2, parallelism: 1 });
  const file = join(dir, 'users.json');
  writeFileSync(file, JSON.stringify([
    { username: 'legacy', email: 'legacy@example.com', password_hash: BCRYPT_SECRET, roles: ['reader'] },
    { username: 'modern', password_hash: argon2, disabled: true, email_verified: true },
  ]));
  assert.equal(await human(env, ['users', 'import', file]), 'Imported 2 user(s): legacy, modern\n');
  assert.equal((await loginRecord(env, 'legacy'))?.passwordHash, BCRYPT_SECRET);
  assert.equal((await loginRecord(env, 'modern'))?.passwordHash, argon2);
  assert.equal((await loginRecord(env, 'modern'))?.disabled, true);

  const wrapped = join(dir, 'wrapped.json');
  writeFileSync(wrapped, JSON.stringify({ users: [{ username: 'third', password_hash: argon2 }] }));
  const imported = await json(env, ['users', 'import', wrapped]);
  assert.deepEqual([imported.imported, imported.users[0].username], [1, 'third']);

  const bad = join(dir, 'bad.json');
  writeFileSync(bad, JSON.stringify([
    { username: 'fourth', password_hash: argon2 },
    { username: 'fifth', password_hash: '{SSHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=' },
  ]));
  const refused = await gatehouse(env, ['users', 'import', bad, '--json']);
  assertRefused(refused, /password_hash must be an argon2id/, 'unsupported hash');
  assert.deepEqual(refused.json, { error: 'invalid_request', message: refused.json.message, field: 'users[1].password_hash' }, 'with --json, the error is the JSON');
  assert.equal(await loginRecord(env, 'fourth'), undefined, 'nothing from a refused file');

  writeFileSync(bad, JSON.stringify([{ username: 'fourth', password_hash: argon2 }, { username: 'LEGACY', password_hash: argon2 }]));
  assertRefused(await gatehouse(env, ['users', 'import', bad]), /already exists/, 'duplicate in the file');
  assert.equal(await loginRecord(env, 'fourth'), undefined, 'nothing from a refused file');

  writeFileSync(bad, '{"not": "users"}');
  assertRefused(await gatehouse(env, ['users', 'import', bad]), /JSON array of users/, 'wrong shape');
  writeFileSync(bad, '[1]');
  assertRefused(await gatehouse(env, ['users', 'import', bad]), /users\[0\] must be an object/, 'not an object');
  assertUsageError(await gatehouse(env, ['users', 'import', join(dir, 'missing.json')]), /cannot read JSON from/, 'missing file');
});

test('users import: the seeds\' field names are accepted; an unknown field or a user without a hash names the record and the field, and nothing is imported', async (t) => {
  const { env, dir } = environment(t);
  const file = join(dir, 'users.json');
  // FastAPI's tutorial database (the seed), as its users write it.
  const johndoe = { username: 'johndoe', email: 'johndoe@example.com', hashed_password: BCRYPT_SECRET, disabled: false };
  writeFileSync(file, JSON.stringify([johndoe]));
  assert.equal(await human(env, ['users', 'import', file]), 'Imported 1 user(s): johndoe\n');
  assert.equal((await loginRecord(env, 'johndoe'))?.passwordHash, BCRYPT_SECRET, 'hashed_password is the password hash');

  const cases: [records: object[], message: RegExp, field: string][] = [
    [[{ username: 'alice', hashed_password: BCRYPT_SECRET }, { username: 'bob', full_name: 'Bob', hashed_password: BCRYPT_SECRET }],
      /users\[1\] \(bob\): unknown field "full_name"/, 'users[1].full_name'],
    [[{ username: 'alice', email: 'alice@example.com' }], /users\[0\] \(alice\): password_hash \(or hashed_password\) is required/, 'users[0].password_hash'],
    [[{ username: 'alice', hashed_password: 'fakehashedsecret' }], /users\[0\] \(alice\): hashed_password must be an argon2id/, 'users[0].hashed_password'],
    [[{ username: 'alice', password_hash: BCRYPT_SECRET, hashed_password: BCRYPT_SECRET }], /users\[0\] \(alice\): give password_hash or hashed_password, not both/, 'users[0].hashed_password'],
    [[{ username: 'alice', password_hash: BCRYPT_SECRET, disabled: 'no' }], /users\[0\] \(alice\): disabled must be true or false/, 'users[0].disabled'],
    [[{ username: 'alice', password_hash: BCRYPT_SECRET, roles: 'reader' }], /users\[0\] \(alice\): roles must be an array/, 'users[0].roles'],
  ];
  for (const [records, message, field] of cases) {
    writeFileSync(file, JSON.stringify(records));
    const refused = await gatehouse(env, ['users', 'import', file, '--json']);
    assertRefused(refused, message, field);
    assert.equal(refused.json.field, field);
    assert.equal(await loginRecord(env, 'alice'), undefined, `${field}: nothing imported`);
  }

  const help = await human(env, ['users', 'import', '--help']);
  for (const documented of ['password_hash | hashed_password', 'email_verified', 'any other field is an error']) assert.ok(help.includes(documented), documented);
});

test('a command that only reads never creates a SQLite database; one that writes says it did', async (t) => {
  const dir = tempDir(t);
  const missingDir = join(dir, 'data-typo');
  const typo = join(missingDir, 'gatehouse.db');
  const env = { GATEHOUSE_DATABASE_URL: `sqlite:${typo}`, GATEHOUSE_SECRET_KEY: testSecretKey(`sqlite:${typo}`) };
  for (const args of [['users', 'list'], ['apis', 'list'], ['roles', 'list'], ['clients', 'list'], ['api-keys', 'list'], ['keys', 'list']]) {
    const run = await gatehouse(env, args);
    assertRefused(run, /GATEHOUSE_DATABASE_URL: there is no database at \S+gatehouse\.db/, args.join(' '));
    assert.ok(run.stderr.includes(typo), `${args.join(' ')} names the path`);
  }
  const doctor = await gatehouse(env, ['doctor']);
  assert.equal(doctor.code, 1);
  assert.ok(doctor.stdout.includes(`database: GATEHOUSE_DATABASE_URL: there is no database at ${typo}`), doctor.stdout);
  assert.equal(existsSync(missingDir), false, 'neither the file nor its directory');

  const created = await gatehouse(env, ['roles', 'create', '--name', 'reader', '--scopes', 'items:read']);
  assert.equal(created.code, 0, created.stderr);
  assert.equal(created.stderr, `warning: created a new SQLite database at ${typo}\n`);
  const again = await gatehouse(env, ['roles', 'create', '--name', 'writer', '--scopes', 'items:write']);
  assert.equal(again.stderr, '', 'only on first creation');
  assert.match(await human(env, ['roles', 'list']), /reader/);
});

test('a command group alone lists its commands', async (t) => {
  const { env, databaseFile } = environment(t);
  const bare = await gatehouse(env, ['users']);
  assert.equal(bare.code, 2);
  assert.match(bare.stderr, /^gatehouse: "users" needs a command, one of: create, list, disable, enable, set-password, reset-two-factor, passkeys, remove-passkey, import\n/);
  assert.match(bare.stderr, /Usage: gatehouse users <command>/);
  assert.match(bare.stderr, /^ {2}users import +Import users/m);
  assert.doesNotMatch(bare.stderr, /clients create/, 'only the group\'s commands');
  const help = await human(env, ['clients', '--help']);
  assert.match(help, /^ {2}clients rotate-secret +/m);
  assert.equal(existsSync(databaseFile), false);
});

test('serve on a port already in use names the setting that changes it', async (t) => {
  const { env } = environment(t);
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  t.after(() => blocker.close());
  const { port } = blocker.address() as AddressInfo;
  const run = await gatehouse({ ...env, GATEHOUSE_HOST: '127.0.0.1', GATEHOUSE_PORT: String(port), GATEHOUSE_LOG_LEVEL: 'silent' }, ['serve']);
  assertRefused(run, new RegExp(`GATEHOUSE_PORT: port ${port} on 127\\.0\\.0\\.1 is already in use.*GATEHOUSE_PORT=<n> or --port <n>`), 'port in use');
});

test('serve says when it creates the SQLite database (a mistyped path is noticed), and not when it exists', async (t) => {
  const { env } = environment(t);
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  t.after(() => blocker.close());
  const { port } = blocker.address() as AddressInfo;
  // The port is taken, so serve builds the server (creating the database) and then stops.
  const serveEnv = { ...env, GATEHOUSE_HOST: '127.0.0.1', GATEHOUSE_PORT: String(port), GATEHOUSE_LOG_LEVEL: 'silent' };
  const first = await gatehouse(serveEnv, ['serve']);
  assert.match(first.stderr, /created a new SQLite database at \S+/);
  const second = await gatehouse(serveEnv, ['serve']);
  assert.doesNotMatch(second.stderr, /created a new SQLite database/);
});

test('clients create, list and delete; a secret is printed once, at creation', async (t) => {
  const { env } = environment(t);
  await json(env, ['apis', 'create', '--identifier', 'https://accounts.example.com', '--name', 'Accounts', '--scopes', 'accounts:read']);
  const created = await human(env, ['clients', 'create', '--name', 'Service', '--id', 'service', '--grants', 'client_credentials', '--scopes', 'accounts:read', '--api', 'https://accounts.example.com']);
  const secret = /^client_secret: (gatehouse_cs_\S+)$/m.exec(created)?.[1];
  assert.ok(secret, created);
  assert.match(created, /^Created confidential client Service\nclient_id: +service\nAPIs: +https:\/\/accounts\.example\.com\n/);
  assert.match(created, /will not be shown again/);

  const webArgs = [
    'clients', 'create', '--name', 'Web', '--public', '--grants', 'authorization_code', '--grants', 'refresh_token',
    '--redirect-uri', 'http://127.0.0.1:8999/callback', '--redirect-uri', 'https://app.example.com/cb', '--cors-origin', 'https://app.example.com',
  ];
  // A client that signs users in: first party or not is said, never assumed.
  assertUsageError(await gatehouse(env, webArgs), /needs --first-party .* or --third-party/, 'authorization_code without a party');
  assertUsageError(await gatehouse(env, [...webArgs, '--first-party', '--third-party']), /not both/, 'both parties');
  const web = await json(env, [...webArgs, '--first-party']);
  assert.equal(web.clientSecret, undefined);
  assert.deepEqual(
    [web.client.type, web.client.grantTypes, web.client.redirectUris, web.client.corsOrigins, web.client.firstParty, web.client.apis],
    ['public', ['authorization_code', 'refresh_token'], ['http://127.0.0.1:8999/callback', 'https://app.example.com/cb'], ['https://app.example.com'], true, []],
  );
  assertRefused(
    await gatehouse(env, ['clients', 'create', '--name', 'X', '--grants', 'client_credentials', '--api', 'https://nowhere.example.com']),
    /apis: no API has the identifier https:\/\/nowhere\.example\.com/,
    'an unknown API',
  );
  const third = await json(env, ['clients', 'create', '--name', 'Partner', '--grants', 'password,refresh_token', '--third-party', '--auth-method', 'client_secret_post']);
  assert.match(third.clientSecret, /^gatehouse_cs_/);
  assert.deepEqual([third.client.firstParty, third.client.tokenEndpointAuthMethod], [false, 'client_secret_post']);

  const table = await human(env, ['clients', 'list']);
  assert.match(table, /^CLIENT_ID\s+NAME\s+TYPE\s+GRANTS\s+APIS\s+SCOPES\s+FIRST_PARTY\n/);
  assert.match(table, /service\s+Service\s+confidential\s+client_credentials\s+https:\/\/accounts\.example\.com\s+accounts:read\s+false\n/);
  const listed = await json(env, ['clients', 'list']);
  assert.equal(listed.total, 3);
  for (const output of [table, JSON.stringify(listed)]) {
    assert.ok(!output.includes(secret) && !output.includes(third.clientSecret), 'never a secret');
    assert.ok(!output.includes('sha256:') && !/secretHash|clientSecret|secret_hash/.test(output), 'nor its hash');
  }

  assert.equal(await human(env, ['clients', 'delete', 'service']), 'Deleted client service\n');
  assert.deepEqual(await json(env, ['clients', 'delete', web.client.clientId]), { deleted: web.client.clientId });
  assert.equal((await json(env, ['clients', 'list'])).total, 1);
  assertRefused(await gatehouse(env, ['clients', 'delete', 'service']), /no client "service"/, 'deleting twice');

  assertRefused(await gatehouse(env, ['clients', 'create', '--name', 'P', '--public', '--grants', 'client_credentials']), /public client cannot use client_credentials/, 'public + client_credentials');
  assertRefused(await gatehouse(env, ['clients', 'create', '--name', 'W', '--third-party', '--grants', 'authorization_code', '--redirect-uri', 'http://app.example.com/cb']), /redirect_uris must use https/, 'http redirect off loopback');
  assertRefused(await gatehouse(env, ['clients', 'create', '--name', 'W', '--third-party', '--grants', 'authorization_code']), /needs at least one redirect URI/, 'no redirect URI');
});

test('clients update: the APIs a client may get tokens for, its scopes, first party or not', async (t) => {
  const { env } = environment(t);
  await json(env, ['apis', 'create', '--identifier', 'https://a.example.com', '--name', 'A', '--scopes', 'read']);
  await json(env, ['apis', 'create', '--identifier', 'https://b.example.com', '--name', 'B', '--scopes', 'write']);
  await json(env, ['clients', 'create', '--name', 'Svc', '--id', 'svc', '--grants', 'client_credentials', '--scopes', 'read', '--api', 'https://a.example.com']);

  const both = await json(env, ['clients', 'update', 'svc', '--api', 'https://b.example.com', '--api', 'https://a.example.com', '--scopes', 'read write']);
  assert.deepEqual([both.client.apis, both.client.scopes], [['https://a.example.com', 'https://b.example.com'], ['read', 'write']]);
  assert.match(await human(env, ['clients', 'update', 'svc', '--third-party']), /^Updated client svc: APIs https:\/\/a\.example\.com https:\/\/b\.example\.com; scopes read write; third-party\n/);
  assert.deepEqual((await json(env, ['clients', 'update', 'svc', '--no-apis'])).client.apis, []);

  assertRefused(await gatehouse(env, ['clients', 'update', 'svc', '--api', 'https://nowhere.example.com']), /no API has the identifier/, 'an unknown API');
  assertRefused(await gatehouse(env, ['clients', 'update', 'nobody', '--no-apis']), /no client "nobody"/, 'an unknown client');
  assertUsageError(await gatehouse(env, ['clients', 'update', 'svc']), /nothing to change/, 'no change');
  assertUsageError(await gatehouse(env, ['clients', 'update', 'svc', '--api', 'https://a.example.com', '--no-apis']), /not both/, 'both');
  assert.deepEqual((await json(env, ['clients', 'list'])).items[0].apis, [], 'refused changes changed nothing');
});

test('bad arguments exit 2 with the usage on stderr, before any database is opened', async (t) => {
  const { env, databaseFile } = environment(t);
  const cases: [args: string[], message: RegExp][] = [
    [['users', 'list', '--bogus'], /Unknown option '--bogus'/],
    [['users', 'create', '--password', 'long enough'], /--username is required/],
    [['users', 'create', '--username'], /--username/],
    [['apis', 'create', '--name', 'Items'], /--identifier is required/],
    [['apis', 'create', '--identifier', 'https://x.example.com'], /--name is required/],
    [['roles', 'create', '--scopes', 'a'], /--name is required/],
    [['clients', 'create', '--name', 'X'], /--grants is required/],
    [['clients', 'create', '--grants', 'client_credentials'], /--name is required/],
    [['users', 'disable'], /missing argument/],
    [['users', 'disable', 'alice', 'bob'], /unexpected argument "bob"/],
    [['migrate', 'now'], /unexpected argument "now"/],
    [['clients', 'delete', 'a', 'b', '--json'], /unexpected argument "b"/],
    [['users', 'list', '--limit', 'ten'], /--limit must be a whole number/],
    [['apis', 'list', '--offset=-1'], /--offset must be a whole number/],
  ];
  for (const [args, message] of cases) assertUsageError(await gatehouse(env, args), message, args.join(' '));

  // Names an object has without being given them are not commands either.
  for (const args of [['frobnicate'], ['users', 'frobnicate'], ['constructor'], ['users', 'constructor'], ['users', 'toString']]) {
    const run = await gatehouse(env, args);
    assert.equal(run.code, 2, args.join(' '));
    assert.match(run.stderr, /^gatehouse: unknown command "/, args.join(' '));
    assert.match(run.stderr, /Usage: gatehouse <command>/, 'followed by the list of commands');
    assert.equal(run.stdout, '');
  }
  assert.equal(existsSync(databaseFile), false, 'no database was created for a command that could not run');
});

test('refused operations exit 1 with a clear message, and no stack trace', async (t) => {
  const { env } = environment(t);
  await json(env, ['users', 'create', '--username', 'john', '--email', 'john@example.com', '--password', 'correct horse']);

  const duplicate = await gatehouse(env, ['users', 'create', '--username', 'JOHN', '--password', 'correct horse']);
  assertRefused(duplicate, /gatehouse: a user with this username or email already exists: JOHN/, 'duplicate user');
  assert.equal(duplicate.stdout, '');
  const duplicateJson = await gatehouse(env, ['users', 'create', '--username', 'other', '--email', 'JOHN@example.com', '--password', 'correct horse', '--json']);
  assert.equal(duplicateJson.code, 1);
  assert.equal(duplicateJson.json.error, 'conflict');

  assertRefused(await gatehouse(env, ['users', 'disable', 'ghost']), /no user "ghost"/, 'unknown user');
  assertRefused(await gatehouse(env, ['users', 'set-password', 'ghost', '--password', 'long enough']), /no user "ghost"/, 'unknown user');
  assertRefused(await gatehouse(env, ['users', 'create', '--username', 'x', '--password', 'long enough', '--roles', 'ghost']), /unknown role: ghost/, 'unknown role');
  assertRefused(await gatehouse(env, ['users', 'create', '--username', 'bad name', '--password', 'long enough']), /username must be 1-64 characters/, 'bad username');
});

test('a failure that is none of Gatehouse\'s own errors exits 1 with its message, and no stack trace', async (t) => {
  const { env, databaseFile } = environment(t);
  writeFileSync(databaseFile, 'not a SQLite database, only some text that is long enough to be read as a header\n');
  const run = await gatehouse(env, ['users', 'list']);
  assertRefused(run, /^gatehouse: failed: file is not a database\n$/, 'a file that is not a database');
  assert.equal(run.stdout, '');
});

test('a configuration error exits 1 naming the setting, and never echoes a password', async () => {
  const password = 'hunter2-Pa55word';
  const bad = await gatehouse({ GATEHOUSE_DATABASE_URL: `mysql://root:${password}@db.internal/gatehouse` }, ['users', 'list']);
  assertRefused(bad, /GATEHOUSE_DATABASE_URL: expected sqlite:<path> or postgres:\/\/…/, 'bad database URL');
  assert.ok(!bad.stderr.includes(password) && !bad.stdout.includes(password));

  // `serve` checks its configuration before it starts anything.
  const serve = await gatehouse({ GATEHOUSE_PORT: 'eighty', GATEHOUSE_LOG_LEVEL: 'loud' }, ['serve']);
  assertRefused(serve, /GATEHOUSE_PORT: expected an integer from 0 to 65535/, 'bad port');
  assert.match(serve.stderr, /GATEHOUSE_LOG_LEVEL: expected one of/, 'every problem at once');
});

test('the gatehouse executable works end to end (password on a real pipe)', async (t) => {
  const { env } = environment(t);
  const run = cli(env, ['users', 'create', '--username', 'viaexec', '--json'], 'executable password\n');
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.json.user.username, 'viaexec');
  assert.match(run.stderr, CREATED, 'the first write says it created the database');
  assert.equal(run.stderr.replace(CREATED, ''), '');
  const record = await loginRecord(env, 'viaexec');
  assert.equal(await verifyPassword(record!.passwordHash!, 'executable password'), true);
});

test('clients revoke and rotate-secret: the new secret is printed once; both are audited', async (t) => {
  const { env } = environment(t);
  const created = await json(env, ['clients', 'create', '--name', 'Svc', '--id', 'svc', '--grants', 'client_credentials']);
  const rotated = await json(env, ['clients', 'rotate-secret', 'svc']);
  assert.match(rotated.clientSecret, /^gatehouse_cs_/);
  assert.notEqual(rotated.clientSecret, created.clientSecret);
  assert.match(await human(env, ['clients', 'rotate-secret', 'svc']), /client_secret: gatehouse_cs_\S+\n/);
  assert.ok(!(await human(env, ['clients', 'list'])).includes('gatehouse_cs_'), 'list never shows a secret');
  assert.equal((await json(env, ['clients', 'revoke', 'svc'])).client.clientId, 'svc');
  assert.ok((await json(env, ['clients', 'list'])).items[0].revokedAt);
  assertRefused(await gatehouse(env, ['clients', 'revoke', 'nope']), /no client "nope"/, 'unknown client');
  const storage = openStorage(env.GATEHOUSE_DATABASE_URL!, { keys: testKeys(env.GATEHOUSE_DATABASE_URL!) });
  t.after(() => storage.close());
  const events = (await listAuditEvents(storage.db, { limit: 10 })).items.map((e) => `${e.type}:${e.actor.kind}:${e.target?.id}`);
  assert.ok(events.includes('client.revoked:cli:svc'));
  assert.ok(events.includes('client.secret_rotated:cli:svc'));
  const all = JSON.stringify((await listAuditEvents(storage.db)).items);
  assert.ok(!all.includes(rotated.clientSecret) && !all.includes('gatehouse_cs_'), 'no secret in the audit log');
});

test('api-keys create (printed once), list (never the key), revoke', async (t) => {
  const { env } = environment(t);
  await json(env, ['apis', 'create', '--identifier', 'https://api.example', '--name', 'API', '--scopes', 'read write']);
  await json(env, ['roles', 'create', '--name', 'reader', '--scopes', 'read']);
  await json(env, ['users', 'create', '--username', 'jane', '--password', 'correct horse', '--roles', 'reader']);
  const created = await json(env, ['api-keys', 'create', '--owner', 'user:jane', '--api', 'https://api.example', '--scopes', 'read', '--expires-in', '30d', '--name', 'laptop']);
  assert.match(created.key, /^gatehouse_ak_/);
  assert.deepEqual(created.apiKey.scopes, ['read']);
  assert.ok(Date.parse(created.apiKey.expiresAt) > Date.now() + 29 * 86400_000);
  const printed = await human(env, ['api-keys', 'create', '--owner', 'user:jane', '--api', 'https://api.example', '--scopes', 'read']);
  assert.match(printed, /^key: gatehouse_ak_\S+$/m);
  const listed = await human(env, ['api-keys', 'list']);
  assert.match(listed, /laptop/);
  assert.ok(!listed.includes(created.key) && !listed.includes('gatehouse_ak_'), 'never the key itself');
  assertRefused(
    await gatehouse(env, ['api-keys', 'create', '--owner', 'user:jane', '--api', 'https://api.example', '--scopes', 'write']),
    /beyond what the owner may have/,
    'scopes beyond the owner',
  );
  assertUsageError(await gatehouse(env, ['api-keys', 'create', '--owner', 'jane', '--api', 'https://api.example', '--scopes', 'read']), /--owner must be/, 'owner format');
  assert.ok((await json(env, ['api-keys', 'revoke', created.apiKey.id])).apiKey.revokedAt);
  assert.equal((await json(env, ['api-keys', 'list'])).total, 1, 'revoked keys are hidden');
  assert.equal((await json(env, ['api-keys', 'list', '--all'])).total, 2);
});

test('keys list and rotate: a scheduled key is published first (state next), never private parts', async (t) => {
  const { env } = environment(t);
  await json(env, ['migrate']);
  // The server creates the first keys at start; here the storage helper does the same.
  const storage = openStorage(env.GATEHOUSE_DATABASE_URL!, { keys: testKeys(env.GATEHOUSE_DATABASE_URL!) });
  await ensureSigningKeys(storage.db);
  await storage.close();
  const before = await json(env, ['keys', 'list']);
  assert.deepEqual(before.keys.map((k: { state: string }) => k.state).sort(), ['active', 'active']);
  const rotated = await json(env, ['keys', 'rotate', '--alg', 'ES256', '--activate-in', '1h']);
  assert.equal(rotated.scheduled.length, 1);
  assert.ok(Date.parse(rotated.scheduled[0].activatesAt) > Date.now() + 3500_000);
  const after = await human(env, ['keys', 'list']);
  assert.match(after, new RegExp(`${rotated.scheduled[0].kid}\\s+ES256\\s+next`));
  assert.doesNotMatch(JSON.stringify(await json(env, ['keys', 'list'])), /"d"|private/);
  assertRefused(await gatehouse(env, ['keys', 'rotate', '--alg', 'ES256']), /already scheduled/, 'one rotation at a time');
  assertUsageError(await gatehouse(env, ['keys', 'rotate', '--alg', 'HS256']), /--alg must be one of/, 'bad alg');
});

test('doctor: a problem per line with what to do, exit 1; a healthy database passes its checks', async (t) => {
  const { env, databaseFile } = environment(t);
  writeFileSync(databaseFile, ''); // an empty SQLite database: it exists, nothing is migrated
  const fresh = await gatehouse({ ...env, GATEHOUSE_PUBLIC_URL: 'http://127.0.0.1:9' }, ['doctor']);
  assert.equal(fresh.code, 1);
  assert.match(fresh.stdout, /✗ migrations: pending: 001-initial/);
  assert.match(fresh.stdout, /→ run `gatehouse migrate`/);
  assert.match(fresh.stdout, /✗ public URL: http:\/\/127\.0\.0\.1:9 does not answer from here/);
  const storage = openStorage(env.GATEHOUSE_DATABASE_URL!, { keys: testKeys(env.GATEHOUSE_DATABASE_URL!) });
  await migrate(storage.db);
  await ensureSigningKeys(storage.db);
  await ensureSecrets(storage.db, 'cookie');
  await storage.close();
  const report = (await gatehouse({ ...env, GATEHOUSE_PUBLIC_URL: 'http://127.0.0.1:9' }, ['doctor', '--json'])).json;
  const status = Object.fromEntries(report.checks.map((c: { name: string; status: string }) => [c.name, c.status]));
  assert.deepEqual(
    { database: status.database, migrations: status.migrations, keys: status['signing keys'], cookies: status['cookie secrets'], redis: status.redis, url: status['public URL'] },
    { database: 'ok', migrations: 'ok', keys: 'ok', cookies: 'ok', redis: 'ok', url: 'fail' },
  );
  assert.equal(report.ok, false);
  const badRedis = await gatehouse({ ...env, GATEHOUSE_REDIS_URL: 'redis://127.0.0.1:1', GATEHOUSE_PUBLIC_URL: 'http://127.0.0.1:9' }, ['doctor']);
  assert.match(badRedis.stdout, /✗ redis: cannot reach redis:\/\/127\.0\.0\.1:1/);
});

// Each command loads its own module: `users list` does not start up the web server's code
// (oidc-provider, Fastify, the pages), which is most of what the CLI took to start.
test('a command loads what it needs: `users list` loads no web server, `serve --help` does', async () => {
  const { spawnSync } = await import('node:child_process');
  const probe = (args: string[]) => {
    const script = `
      import { registerHooks } from 'node:module';
      const loaded = [];
      registerHooks({ resolve(specifier, context, next) { const r = next(specifier, context); loaded.push(r.url); return r; } });
      const { runCli } = await import(${JSON.stringify(new URL('../src/cli/main.ts', import.meta.url).href)});
      const io = { stdout() {}, stderr() {}, env: {}, stdin: process.stdin };
      const code = await runCli(${JSON.stringify(args)}, io);
      process.stdout.write(JSON.stringify({ code, loaded }));`;
    const result = spawnSync(process.execPath, ['--conditions=@gatehouse/source', '--input-type=module', '-e', script], { encoding: 'utf8' });
    assert.equal(result.status, 0, result.stderr);
    return JSON.parse(result.stdout) as { code: number; loaded: string[] };
  };
  const webServer = (loaded: string[]) => loaded.filter((url) => /\/node_modules\/(oidc-provider|fastify)\//.test(url));
  const users = probe(['users', 'list', '--help']);
  assert.equal(users.code, 0);
  assert.ok(users.loaded.some((url) => url.endsWith('/cli/commands/users.ts')), 'the probe sees what is loaded');
  assert.deepEqual(webServer(users.loaded), []);
  const serve = probe(['serve', '--help']);
  assert.equal(serve.code, 0);
  assert.notDeepEqual(webServer(serve.loaded), []);
});
