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
import { randomUUID } from 'node:crypto';
import { RedisThrottleStore } from '../src/cluster/redis-throttle.ts';
import { addressKey, LoginThrottle, MemoryThrottleStore, RateLimiter, type Factor, type ThrottleLimits, type ThrottleStore } from '../src/passwords/throttle.ts';
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
  assert.equal(passwordProblem('eight-8x'), undefined);
  assert.equal(passwordProblem('a'.repeat(MAX_PASSWORD_LENGTH)), undefined);
});

// ── Throttling ───────────────────────────────────────────────────────────────────────────────

function throttle(limits: Partial<ThrottleLimits> = {}, store: ThrottleStore = new MemoryThrottleStore()): LoginThrottle {
  return new LoginThrottle(store, { maxPerAccount: 3, maxPerIp: 5, windowSeconds: 60, ...limits });
}

/** Failed attempts: counted, never released. */
async function fail(throttler: LoginThrottle, username: string, ip: string, times: number, factor: Factor = 'password'): Promise<void> {
  for (let i = 0; i < times; i++) assert.equal((await throttler.attempt(factor, username, ip)).limited, false, `attempt ${i + 1} is allowed`);
}

/** Whether the next attempt would be refused, without counting one (a right attempt, released). */
async function limited(throttler: LoginThrottle, username: string, ip: string, factor: Factor = 'password'): Promise<false | number> {
  const attempt = await throttler.attempt(factor, username, ip);
  if (attempt.limited) return attempt.retryAfter;
  await attempt.release();
  return false;
}

/** Redis state changes are logged by the server; these tests only need the store. */
const quietRedisLog = { warn() {}, info() {} };

/** Each throttle test runs on both stores: in memory, and in Redis under a prefix of its own. */
const stores: [string, (t: TestContext) => Promise<ThrottleStore>][] = [
  ['memory', async () => new MemoryThrottleStore()],
  [
    'redis',
    async (t) => {
      const store = await RedisThrottleStore.connect('redis://127.0.0.1:6379', `test-${randomUUID()}`, quietRedisLog);
      t.after(() => store.close());
      return store;
    },
  ],
];

for (const [kind, open] of stores) {
  test(`[${kind}] LoginThrottle limits failures per account, whatever the address (and the username's case)`, async (t) => {
    const throttler = throttle({}, await open(t));
    await fail(throttler, 'alice', '192.0.2.1', 2);
    assert.equal(await limited(throttler, 'alice', '192.0.2.1'), false, 'under the limit');
    await fail(throttler, 'Alice', '192.0.2.2', 1);
    for (const [username, ip] of [['alice', '192.0.2.1'], ['ALICE', '198.51.100.7']] as const) {
      const retryAfter = await limited(throttler, username, ip);
      assert.ok(retryAfter !== false && retryAfter > 0 && retryAfter <= 60 && Number.isInteger(retryAfter), `${username} from ${ip}: ${retryAfter}`);
    }
    assert.equal(await limited(throttler, 'bob', '192.0.2.1'), false, 'other accounts from that address are fine');
  });

  test(`[${kind}] LoginThrottle limits failures per address, whatever the usernames; IPv6 per /64`, async (t) => {
    const throttler = throttle({}, await open(t));
    for (const username of ['u1', 'u2', 'u3', 'u4', 'u5']) await fail(throttler, username, '203.0.113.9', 1);
    assert.ok(await limited(throttler, 'someone-new', '203.0.113.9'));
    assert.ok(await limited(throttler, 'someone-new', '::ffff:203.0.113.9'), 'an IPv4-mapped address is the IPv4 address');
    assert.equal(await limited(throttler, 'someone-new', '203.0.113.10'), false, 'another address is fine');
    assert.equal(await limited(throttler, 'u1', '203.0.113.10'), false, 'one failure per account stays under its limit');

    for (const [i, host] of ['2001:db8::1', '2001:db8:0:0:ffff::2', '2001:0DB8::3', '2001:db8::4%eth0', '2001:db8:0:0:1:2:3:4'].entries()) await fail(throttler, `v6-${i}`, host, 1);
    assert.ok(await limited(throttler, 'v6-new', '2001:db8::abcd'), 'the fifth host of the /64 filled it');
    assert.equal(await limited(throttler, 'v6-new', '2001:db8:0:1::1'), false, 'the next /64 is another client');
  });

  test(`[${kind}] a right factor clears its own account count only, and not the address's`, async (t) => {
    const throttler = throttle({ maxPerAccount: 3, maxPerIp: 7 }, await open(t));
    await fail(throttler, 'alice', '192.0.2.1', 2);
    await fail(throttler, 'user-id-1', '192.0.2.1', 3, 'second_factor');
    const right = await throttler.attempt('password', 'ALICE', '192.0.2.1');
    assert.equal(right.limited, false);
    if (!right.limited) await right.succeeded();
    await fail(throttler, 'alice', '192.0.2.1', 2);
    assert.equal(await limited(throttler, 'alice', '198.51.100.1'), false, 'the password count restarted at the right password');
    assert.ok(await limited(throttler, 'user-id-1', '198.51.100.1', 'second_factor'), 'the second factor count did not');
    assert.ok(await limited(throttler, 'zed', '192.0.2.1'), 'the address holds its 7 failures (the right password was released): full');
  });

  test(`[${kind}] attempts are reserved atomically: 40 at once, 3 allowed; RateLimiter too`, async (t) => {
    const store = await open(t);
    const throttler = throttle({ maxPerAccount: 3, maxPerIp: 100 }, store);
    const attempts = await Promise.all(Array.from({ length: 40 }, () => throttler.attempt('password', 'alice', '192.0.2.1')));
    assert.equal(attempts.filter((a) => !a.limited).length, 3);
    const limiter = new RateLimiter(store);
    const taken = await Promise.all(Array.from({ length: 40 }, () => limiter.take([{ key: 'mails:alice', max: 4 }, { key: 'mails:ip', max: 100 }], 60)));
    assert.equal(taken.filter((d) => !d.limited).length, 4);
    // A refused action counted nothing: the address key has 4 entries, not 40.
    assert.equal((await limiter.take([{ key: 'mails:ip', max: 5 }], 60)).limited, false);
    assert.equal((await limiter.take([{ key: 'mails:ip', max: 5 }], 60)).limited, true);
  });

  test(`[${kind}] a released attempt frees its place; clearing password failures leaves the second factor's`, async (t) => {
    const throttler = throttle({ maxPerAccount: 2, maxPerIp: 100 }, await open(t));
    const first = await throttler.attempt('password', 'alice', '192.0.2.1');
    await fail(throttler, 'alice', '192.0.2.1', 1);
    assert.ok(await limited(throttler, 'alice', '192.0.2.1'));
    if (!first.limited) await first.release();
    assert.equal(await limited(throttler, 'alice', '192.0.2.1'), false);
    await fail(throttler, 'id-a', '192.0.2.1', 2, 'second_factor');
    await fail(throttler, 'alice', '192.0.2.1', 1);
    await throttler.clearPasswordFailures('Alice');
    assert.equal(await limited(throttler, 'alice', '192.0.2.1'), false);
    assert.ok(await limited(throttler, 'id-a', '192.0.2.1', 'second_factor'));
  });
}

test('failures leave the window as it slides; retryAfter says when the oldest one goes', async (t: TestContext) => {
  t.mock.timers.enable({ apis: ['Date'], now: 1_700_000_000_000 });
  const throttler = throttle({ maxPerAccount: 2, windowSeconds: 60 });
  await fail(throttler, 'alice', '192.0.2.1', 1);
  t.mock.timers.tick(20_000);
  await fail(throttler, 'alice', '192.0.2.1', 1);
  assert.equal(await limited(throttler, 'alice', '192.0.2.1'), 40);
  t.mock.timers.tick(39_000);
  assert.equal(await limited(throttler, 'alice', '192.0.2.1'), 1);
  t.mock.timers.tick(1_001);
  assert.equal(await limited(throttler, 'alice', '192.0.2.1'), false, 'the first failure left the window');
});

test('addressKey: IPv4 as is, IPv4-mapped as IPv4, IPv6 by /64 whatever its spelling', () => {
  assert.equal(addressKey('192.0.2.1'), '192.0.2.1');
  assert.equal(addressKey('::ffff:192.0.2.1'), '192.0.2.1');
  assert.equal(addressKey('2001:DB8:0:0:1::1'), '2001:db8::/64');
  assert.equal(addressKey('2001:0db8:0000:0000:ffff:ffff:ffff:ffff'), '2001:db8::/64');
  assert.equal(addressKey('fe80::1%eth0'), 'fe80::/64');
  assert.equal(addressKey('2001:db8:1:2:3:4:5:6'), '2001:db8:1:2::/64');
  assert.notEqual(addressKey('2001:db8:1:2::1'), addressKey('2001:db8:1:3::1'));
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
