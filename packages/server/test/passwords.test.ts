// Passwords: argon2id with OWASP's parameters, imported bcrypt hashes verified and upgraded at the
// next login, failed logins throttled per account and per IP, and one routine that checks them.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { hash as argon2Hash, parseOptions } from '@node-rs/argon2';
import bcrypt from 'bcryptjs';
import { tempDir } from '@gatehouse/test-support/files';
import { createPasswordLogin, type PasswordFunctions } from '../src/passwords/password-login.ts';
import * as hashing from '../src/passwords/hash.ts';
import { LoginThrottle, MemoryThrottleStore, type ThrottleLimits } from '../src/passwords/throttle.ts';
import { migrate, openStorage, type Db } from '../src/storage/database.ts';
import { findLoginRecord, importUsers } from '../src/storage/users.ts';

const { hashKind, hashPassword, MAX_PASSWORD_LENGTH, needsRehash, passwordProblem, verifyDummy, verifyPassword } = hashing;

// The seed data's bcrypt hash of "secret" (cost 12).
const BCRYPT_SECRET = '$2b$12$EixZaYVK1fsbw1ZfbX3OXePaWxn96p36WQoeG6Lruj3vjPGga31lW';
const ARGON2ID = 2; // @node-rs/argon2's Algorithm.Argon2id
// A cheaper bcrypt hash of "secret" (cost 4) where the cost itself does not matter: bcryptjs is
// plain JavaScript, and cost 12 takes a few hundred milliseconds per check.
const BCRYPT_SECRET_CHEAP = bcrypt.hashSync('secret', 4);

/**
 * True when the promise settles before the event loop gets round to a setImmediate callback:
 * it did its work without the thread pool, where argon2 runs. That is how "fails fast" is
 * checked here without measuring time.
 */
async function settlesAtOnce(promise: Promise<unknown>): Promise<boolean> {
  let settled = false;
  promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  await new Promise((resolve) => setImmediate(resolve));
  const result = settled;
  await promise.catch(() => {});
  return result;
}

test('new hashes are argon2id with the OWASP parameters (m=19456 KiB, t=2, p=1), salted', async () => {
  const hash = await hashPassword('correct horse battery staple');
  assert.match(hash, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
  const options = parseOptions(hash);
  assert.deepEqual(
    [options.algorithm, options.memoryCost, options.timeCost, options.parallelism],
    [ARGON2ID, 19456, 2, 1],
  );
  assert.ok(options.saltLen >= 16, 'at least 128 bits of salt');
  assert.notEqual(await hashPassword('correct horse battery staple'), hash, 'a new salt each time');
  assert.equal(hashKind(hash), 'argon2id');
  assert.equal(await verifyPassword(hash, 'correct horse battery staple'), true);
  assert.equal(await verifyPassword(hash, 'correct horse battery stapler'), false);
  assert.equal(await verifyPassword(hash, ''), false);
  assert.equal(needsRehash(hash), false, 'our own hashes are kept');
});

test('imported bcrypt hashes verify, and are marked for an upgrade', async () => {
  assert.equal(hashKind(BCRYPT_SECRET), 'bcrypt');
  assert.equal(await verifyPassword(BCRYPT_SECRET, 'secret'), true);
  assert.equal(await verifyPassword(BCRYPT_SECRET, 'Secret'), false);
  assert.equal(await verifyPassword(BCRYPT_SECRET_CHEAP, 'secret'), true);
  assert.equal(await verifyPassword(BCRYPT_SECRET_CHEAP, 'secret '), false);
  assert.equal(needsRehash(BCRYPT_SECRET), true);
  for (const prefix of ['$2a$', '$2y$']) {
    const variant = BCRYPT_SECRET.replace('$2b$', prefix);
    assert.equal(hashKind(variant), 'bcrypt', prefix);
  }
});

test('weaker argon2id hashes verify and are upgraded; other algorithms never verify', async () => {
  const weak = await argon2Hash('password one', { algorithm: ARGON2ID, memoryCost: 4096, timeCost: 1, parallelism: 1 });
  assert.equal(await verifyPassword(weak, 'password one'), true);
  assert.equal(needsRehash(weak), true, 'below OWASP parameters: re-hashed at the next login');
  const stronger = await argon2Hash('password one', { algorithm: ARGON2ID, memoryCost: 65536, timeCost: 3, parallelism: 4 });
  assert.equal(needsRehash(stronger), false, 'stronger parameters are kept');

  const argon2i = await argon2Hash('password one', { algorithm: 1 });
  for (const other of [argon2i, 'password one', '5f4dcc3b5aa765d61d8327deb882cf99', '$argon2id$v=19$m=19456,t=2,p=1$bad']) {
    assert.equal(hashKind(other), undefined, other);
    assert.equal(await verifyPassword(other, 'password one'), false, other);
    assert.equal(needsRehash(other), true, other);
  }
});

test('over-long passwords are refused at once, without hashing', async () => {
  const argon2 = await hashPassword('long enough password');
  const long = 'a'.repeat(MAX_PASSWORD_LENGTH + 1);
  const huge = 'a'.repeat(1_000_000);

  // The control: a real verification takes a trip through the thread pool.
  assert.equal(await settlesAtOnce(verifyPassword(argon2, 'long enough password')), false);
  for (const password of [long, huge]) {
    assert.equal(await settlesAtOnce(verifyPassword(argon2, password)), true, 'verify refuses without hashing');
    assert.equal(await verifyPassword(argon2, password), false);
    // Unknown users must cost the same as known ones, long passwords included.
    assert.equal(await settlesAtOnce(verifyDummy(password)), true, 'the dummy check refuses at once too');
  }
  assert.equal(await settlesAtOnce(verifyDummy('a normal password')), false, 'the dummy check hashes normal passwords');

  // bcrypt reads only 72 bytes: without the length check, anything starting with the password would verify.
  const seventyTwo = 'b'.repeat(72);
  const bcryptHash = bcrypt.hashSync(seventyTwo, 4);
  assert.equal(await verifyPassword(bcryptHash, seventyTwo), true);
  assert.equal(await verifyPassword(bcryptHash, seventyTwo + 'c'.repeat(MAX_PASSWORD_LENGTH)), false);

  assert.match(passwordProblem(long)!, /at most 1024/);
  assert.match(passwordProblem('seven77')!, /at least 8/);
  assert.equal(passwordProblem('eight888'), undefined);
  assert.equal(passwordProblem('a'.repeat(MAX_PASSWORD_LENGTH)), undefined);
});

// ── Throttling ───────────────────────────────────────────────────────────────────────────────

function throttle(limits: Partial<ThrottleLimits> = {}): LoginThrottle {
  return new LoginThrottle(new MemoryThrottleStore(), { maxPerAccount: 3, maxPerIp: 5, windowSeconds: 60, ...limits });
}

async function fail(throttler: LoginThrottle, username: string, ip: string, times: number): Promise<void> {
  for (let i = 0; i < times; i++) await throttler.failed(username, ip);
}

test('LoginThrottle limits failures per account, whatever the address (and the username\'s case)', async () => {
  const throttler = throttle();
  await fail(throttler, 'alice', '192.0.2.1', 2);
  assert.deepEqual(await throttler.check('alice', '192.0.2.1'), { limited: false }, 'under the limit');
  await fail(throttler, 'Alice', '192.0.2.2', 1);
  for (const [username, ip] of [['alice', '192.0.2.1'], ['ALICE', '198.51.100.7']] as const) {
    const decision = await throttler.check(username, ip);
    assert.equal(decision.limited, true, `${username} from ${ip}`);
    assert.ok(decision.limited && decision.retryAfter > 0 && decision.retryAfter <= 60, 'retryAfter is within the window');
    assert.ok(decision.limited && Number.isInteger(decision.retryAfter));
  }
  assert.deepEqual(await throttler.check('bob', '192.0.2.1'), { limited: false }, 'other accounts from that address are fine');
});

test('LoginThrottle limits failures per IP address, whatever the usernames', async () => {
  const throttler = throttle();
  for (const username of ['u1', 'u2', 'u3', 'u4', 'u5']) await throttler.failed(username, '203.0.113.9');
  const decision = await throttler.check('someone-new', '203.0.113.9');
  assert.equal(decision.limited, true);
  assert.ok(decision.limited && decision.retryAfter > 0 && decision.retryAfter <= 60);
  assert.deepEqual(await throttler.check('someone-new', '203.0.113.10'), { limited: false }, 'another address is fine');
  assert.deepEqual(await throttler.check('u1', '203.0.113.10'), { limited: false }, 'one failure per account stays under its limit');
});

test('a success clears the account\'s failures, not the address\'s', async () => {
  const throttler = throttle({ maxPerAccount: 3, maxPerIp: 4 });
  await fail(throttler, 'alice', '192.0.2.1', 2);
  await throttler.succeeded('ALICE', '192.0.2.1');
  await fail(throttler, 'alice', '192.0.2.1', 2);
  assert.deepEqual(await throttler.check('alice', '198.51.100.1'), { limited: false }, 'the account count restarted at the success');
  assert.equal((await throttler.check('zed', '192.0.2.1')).limited, true, 'the address still counts all four failures');
});

test('failures leave the window as it slides; retryAfter says when the oldest one goes', async (t: TestContext) => {
  t.mock.timers.enable({ apis: ['Date'], now: 1_700_000_000_000 });
  const throttler = throttle({ maxPerAccount: 2, windowSeconds: 60 });
  await throttler.failed('alice', '192.0.2.1');
  t.mock.timers.tick(20_000);
  await throttler.failed('alice', '192.0.2.1');
  assert.deepEqual(await throttler.check('alice', '192.0.2.1'), { limited: true, retryAfter: 40 });
  t.mock.timers.tick(39_000);
  assert.deepEqual(await throttler.check('alice', '192.0.2.1'), { limited: true, retryAfter: 1 });
  t.mock.timers.tick(1_001);
  assert.deepEqual(await throttler.check('alice', '192.0.2.1'), { limited: false }, 'the first failure left the window');
});

// ── The passwordLogin ────────────────────────────────────────────────────────────────────────

async function database(t: TestContext): Promise<Db> {
  const storage = openStorage(`sqlite:${join(tempDir(t), 'gatehouse.db')}`);
  t.after(() => storage.close());
  await migrate(storage.db);
  return storage.db;
}

/** The real hashing functions, counting calls. */
function countingPasswords(overrides: Partial<PasswordFunctions> = {}) {
  const calls = { hashPassword: 0, verifyPassword: 0, verifyDummy: 0 };
  const passwords: PasswordFunctions = {
    needsRehash,
    hashPassword: (password) => (calls.hashPassword++, (overrides.hashPassword ?? hashPassword)(password)),
    verifyPassword: (hash, password) => (calls.verifyPassword++, verifyPassword(hash, password)),
    verifyDummy: (password) => (calls.verifyDummy++, verifyDummy(password)),
  };
  return { calls, passwords };
}

test('createPasswordLogin upgrades an imported bcrypt hash to argon2id at a successful login', async (t) => {
  const db = await database(t);
  const [legacy] = await importUsers(db, [{ username: 'legacy', passwordHash: BCRYPT_SECRET_CHEAP }]);
  const { calls, passwords } = countingPasswords();
  const passwordLogin = createPasswordLogin({ db, throttle: throttle(), passwords });

  assert.deepEqual(await passwordLogin.authenticate('legacy', 'wrong password', '192.0.2.1', { kind: 'login_page' }), { kind: 'invalid' });
  assert.equal((await findLoginRecord(db, 'legacy'))?.passwordHash, BCRYPT_SECRET_CHEAP, 'a failed login changes nothing');

  assert.deepEqual(await passwordLogin.authenticate('LEGACY', 'secret', '192.0.2.1', { kind: 'login_page' }), { kind: 'ok', userId: legacy!.id, username: 'legacy' });
  const upgraded = (await findLoginRecord(db, 'legacy'))!.passwordHash!;
  assert.match(upgraded, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
  assert.equal(await verifyPassword(upgraded, 'secret'), true);
  assert.equal(calls.hashPassword, 1);

  assert.equal((await passwordLogin.authenticate('legacy', 'secret', '192.0.2.1', { kind: 'login_page' })).kind, 'ok', 'the new hash works');
  assert.equal((await findLoginRecord(db, 'legacy'))!.passwordHash, upgraded, 'a current hash is not redone');
  assert.equal(calls.hashPassword, 1);
});

test('createPasswordLogin: unknown users cost a dummy verification and get the same answer as a wrong password', async (t) => {
  const db = await database(t);
  await importUsers(db, [{ username: 'johndoe', passwordHash: await hashPassword('correct horse') }, { username: 'nopassword' }]);
  const { calls, passwords } = countingPasswords();
  const passwordLogin = createPasswordLogin({ db, throttle: throttle({ maxPerAccount: 100, maxPerIp: 100 }), passwords });

  const wrong = await passwordLogin.authenticate('johndoe', 'wrong horse', '192.0.2.1', { kind: 'login_page' });
  const unknown = await passwordLogin.authenticate('nobody', 'wrong horse', '192.0.2.1', { kind: 'login_page' });
  const noPassword = await passwordLogin.authenticate('nopassword', 'anything at all', '192.0.2.1', { kind: 'login_page' });
  assert.deepEqual([wrong, unknown, noPassword], [{ kind: 'invalid' }, { kind: 'invalid' }, { kind: 'invalid' }]);
  assert.deepEqual(calls, { hashPassword: 0, verifyPassword: 1, verifyDummy: 2 }, 'every path verifies one hash');
});

test('createPasswordLogin reports "disabled" only to someone who knows the password', async (t) => {
  const db = await database(t);
  await importUsers(db, [{ username: 'alice', passwordHash: await hashPassword('alice password'), disabled: true }]);
  const passwordLogin = createPasswordLogin({ db, throttle: throttle() });
  assert.deepEqual(await passwordLogin.authenticate('alice', 'not her password', '192.0.2.1', { kind: 'login_page' }), { kind: 'invalid' });
  assert.deepEqual(await passwordLogin.authenticate('alice', 'alice password', '192.0.2.1', { kind: 'login_page' }), { kind: 'disabled' });
});

test('createPasswordLogin: past the limit, no password is checked, right or wrong', async (t) => {
  const db = await database(t);
  await importUsers(db, [{ username: 'johndoe', passwordHash: await hashPassword('correct horse') }]);
  const { calls, passwords } = countingPasswords();
  const passwordLogin = createPasswordLogin({ db, throttle: throttle({ maxPerAccount: 2 }), passwords });
  for (let i = 0; i < 2; i++) assert.equal((await passwordLogin.authenticate('johndoe', `guess ${i}`, '192.0.2.1', { kind: 'login_page' })).kind, 'invalid');
  const before = { ...calls };
  const outcome = await passwordLogin.authenticate('johndoe', 'correct horse', '198.51.100.1', { kind: 'login_page' });
  assert.equal(outcome.kind, 'throttled');
  assert.ok(outcome.kind === 'throttled' && outcome.retryAfter > 0 && outcome.retryAfter <= 60, 'within the 60 s window');
  assert.deepEqual(calls, before, 'no verification while throttled');
});

test('createPasswordLogin: a failed upgrade does not fail the login', async (t) => {
  const db = await database(t);
  await importUsers(db, [{ username: 'legacy', passwordHash: BCRYPT_SECRET_CHEAP }]);
  const errors: unknown[] = [];
  const { passwords } = countingPasswords({ hashPassword: async () => Promise.reject(new Error('out of memory')) });
  const passwordLogin = createPasswordLogin({ db, throttle: throttle(), passwords, onRehashError: (error) => errors.push(error) });
  assert.equal((await passwordLogin.authenticate('legacy', 'secret', '192.0.2.1', { kind: 'login_page' })).kind, 'ok');
  assert.equal(errors.length, 1);
  assert.equal((await findLoginRecord(db, 'legacy'))?.passwordHash, BCRYPT_SECRET_CHEAP, 'the old hash stays until an upgrade works');
});
