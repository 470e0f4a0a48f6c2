// Secrets at rest (issue 10 item 5): the envelope, and the storage contract for sealed secrets,
// written once and run on SQLite and PostgreSQL — private signing keys and server secrets are
// stored encrypted under a key from outside the database, bound to their row; the wrong key or no
// key is a ConfigError naming GATEHOUSE_SECRET_KEY; migration 004 encrypts what earlier versions
// wrote in plaintext, once, however many processes migrate at once; a rotation re-encrypts
// everything in one transaction. The attack itself, over HTTP: database-copy.test.ts.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { tempDir } from '@gatehouse/test-support/files';
import { runCli } from '../src/cli/main.ts';
import { tempPostgres } from '@gatehouse/test-support/postgres';
import { ConfigError } from '../src/config/load.ts';
import { SecretBox } from '../src/passwords/totp.ts';
import { decodeSecretKey, Keyring, SealedValueError, sealedKeyId } from '../src/keyring.ts';
import { migrate, openStorage, type Db } from '../src/storage/database.ts';
import { ensureSecrets, ensureSigningKeys, listSigningKeys } from '../src/storage/keys.ts';
import { migrationProvider } from '../src/storage/migrations/index.ts';
import { checkSecretsReadable, inspectSecrets, reencryptSecrets } from '../src/storage/secrets-at-rest.ts';
import { SEALED_CONTEXTS } from '../src/storage/sealing.ts';
import { twoFactorState } from '../src/storage/two-factor.ts';
import { createUser, findUser } from '../src/storage/users.ts';
import { withPasswordHash } from '../src/passwords/user-passwords.ts';
import { keyIdsOf, keyring, legacyDatabase, newKey, rawSecrets, type TestKey } from './secrets-support.ts';

const ENVELOPE = /^v1\.[A-Za-z0-9_-]{12}\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]{22}$/;

/** The promise rejects with a ConfigError whose every line matches `pattern` and names no secret. */
async function rejectsConfig(promise: Promise<unknown>, pattern: RegExp, secrets: readonly string[] = []): Promise<ConfigError> {
  let caught: unknown;
  await assert.rejects(promise, (error) => ((caught = error), true));
  assert.ok(caught instanceof ConfigError, `expected a ConfigError, got ${String(caught)}`);
  assert.match(caught.message, pattern);
  for (const secret of secrets) assert.ok(!caught.message.includes(secret), 'the message names no secret');
  return caught;
}

// Processes racing on one database, as instances (or the CLI and a server) starting together do.
// Each opens the storage with the given keys, says "ready", and on "go" migrates or re-encrypts,
// printing the result: only the storage modules, so several start quickly on a busy machine.
const CHILD = `
import { Keyring, decodeSecretKey } from ${JSON.stringify(new URL('../src/keyring.ts', import.meta.url).href)};
import { migrate, openStorage } from ${JSON.stringify(new URL('../src/storage/database.ts', import.meta.url).href)};
import { reencryptSecrets } from ${JSON.stringify(new URL('../src/storage/secrets-at-rest.ts', import.meta.url).href)};
const [url, operation, ...keys] = process.argv.slice(1);
const [current, ...previous] = keys.map(decodeSecretKey);
const storage = openStorage(url, { keys: new Keyring(current, previous) });
await storage.db.selectNoFrom((eb) => eb.lit(1).as('one')).execute();
process.stdout.write('ready\\n');
process.stdin.once('data', async () => {
  try {
    const result = operation === 'migrate' ? (await migrate(storage.db)).results.map((r) => r.migrationName) : await reencryptSecrets(storage.db);
    process.stdout.write(JSON.stringify(result) + '\\n');
  } finally {
    await storage.close();
    process.stdin.destroy();
  }
});
`;

async function race(url: string, operation: 'migrate' | 'reencrypt', keys: readonly TestKey[], processes = 2): Promise<any[]> {
  const children = Array.from({ length: processes }, () =>
    spawn(process.execPath, ['--input-type=module', '-e', CHILD, url, operation, ...keys.map((k) => k.text)], {
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
            child.stdout.on('data', () => outputs[i]!.stdout.includes('ready') && resolve());
            child.once('exit', () => reject(new Error(`child exited before it was ready:\n${outputs[i]!.stderr}`)));
          }),
      ),
    );
  } catch (error) {
    for (const child of children) child.kill();
    throw error;
  }
  for (const child of children) child.stdin.write('go\n');
  const codes = await Promise.all(exits);
  return codes.map(([code], i) => {
    assert.equal(code, 0, outputs[i]!.stderr);
    return JSON.parse(outputs[i]!.stdout.replace('ready\n', ''));
  });
}

/** `gatehouse <args>` in this process. */
async function gatehouse(env: Record<string, string>, args: string[]): Promise<{ code: number; stderr: string }> {
  let stderr = '';
  const stdin = Object.assign(Readable.from([]), { isTTY: true });
  const code = await runCli(args, { stdout: () => {}, stderr: (text) => void (stderr += text), env, stdin });
  return { code, stderr };
}

// ── The envelope ──────────────────────────────────────────────────────────────────────────────

test('keyring: envelopes name their key, are bound to their record, and refuse any change', () => {
  const a = newKey();
  const b = newKey();
  const ring = keyring(a);
  const sealed = ring.seal('the plaintext', 'server_secrets/cookie/initial/secret');
  assert.match(sealed, ENVELOPE);
  assert.equal(sealedKeyId(sealed), a.id);
  assert.ok(!sealed.includes('plaintext'));
  assert.notEqual(ring.seal('the plaintext', 'server_secrets/cookie/initial/secret'), sealed, 'a fresh IV every time');
  assert.equal(ring.open(sealed, 'server_secrets/cookie/initial/secret'), 'the plaintext');
  assert.equal(keyring(b, a).open(sealed, 'server_secrets/cookie/initial/secret'), 'the plaintext', 'a previous key still opens');
  assert.equal(sealedKeyId(keyring(b, a).seal('x', 'c')), b.id, 'the current key seals');

  const [version, keyId, iv, ciphertext, tag] = sealed.split('.') as [string, string, string, string, string];
  const flip = (part: string) => `${part[0] === 'A' ? 'B' : 'A'}${part.slice(1)}`;
  const refusals: [string, string, SealedValueError['reason']][] = [
    [sealed, 'server_secrets/csrf/initial/secret', 'not_authentic'], // moved to another record
    [[version, keyId, flip(iv), ciphertext, tag].join('.'), 'server_secrets/cookie/initial/secret', 'not_authentic'],
    [[version, keyId, iv, flip(ciphertext), tag].join('.'), 'server_secrets/cookie/initial/secret', 'not_authentic'],
    [[version, keyId, iv, ciphertext, flip(tag)].join('.'), 'server_secrets/cookie/initial/secret', 'not_authentic'],
    [[version, b.id, iv, ciphertext, tag].join('.'), 'server_secrets/cookie/initial/secret', 'not_authentic'], // relabelled as another known key
    [[version, newKey().id, iv, ciphertext, tag].join('.'), 'server_secrets/cookie/initial/secret', 'unknown_key'],
    ['the plaintext', 'server_secrets/cookie/initial/secret', 'not_sealed'],
    [`v2.${[keyId, iv, ciphertext, tag].join('.')}`, 'server_secrets/cookie/initial/secret', 'not_sealed'],
  ];
  for (const [value, context, reason] of refusals) {
    assert.throws(
      () => keyring(a, b).open(value, context),
      (error) => error instanceof SealedValueError && error.reason === reason && !error.message.includes(value) && !error.message.includes('plaintext'),
      `${reason}: ${value.slice(0, 30)}`,
    );
  }
});

test('secret keys: base64 or base64url of 32 bytes; anything else is refused without being echoed; ids are stable', () => {
  const bytes = Buffer.alloc(32, 0xfb);
  for (const text of [bytes.toString('base64'), bytes.toString('base64url'), ` ${bytes.toString('base64')}\n`]) {
    assert.deepEqual(decodeSecretKey(text), bytes, text);
  }
  for (const text of [Buffer.alloc(31).toString('base64'), Buffer.alloc(33).toString('base64'), 'not a key at all!', '']) {
    assert.throws(() => decodeSecretKey(text), (error: Error) => text === '' || !error.message.includes(text), JSON.stringify(text));
  }
  assert.equal(new Keyring(bytes).currentKeyId, new Keyring(Buffer.from(bytes)).currentKeyId);
  assert.notEqual(new Keyring(bytes).currentKeyId, new Keyring(Buffer.alloc(32, 1)).currentKeyId);
  assert.throws(() => new Keyring(Buffer.alloc(16)));
});

// ── The storage contract, on both databases ─────────────────────────────────────────────────

function contract(name: string, newDatabase: (t: TestContext) => Promise<string>): void {
  describe(`secrets at rest: ${name}`, { concurrency: 3 }, () => {
    /** A handle on the database with the given keys (none: no keyring at all). */
    function opener(t: TestContext, url: string) {
      const opened: { close(): Promise<void> }[] = [];
      t.after(() => Promise.all(opened.map((s) => s.close())));
      return (keys?: Keyring): Db => {
        const storage = openStorage(url, keys ? { keys } : {});
        opened.push(storage);
        return storage.db;
      };
    }

    async function migrated(t: TestContext, key: TestKey): Promise<{ url: string; open: (keys?: Keyring) => Db; db: Db }> {
      const url = await newDatabase(t);
      const open = opener(t, url);
      const db = open(keyring(key));
      await migrate(db);
      return { url, open, db };
    }

    test('signing keys and server secrets are stored sealed, bound to their row, and read back as plaintext', async (t) => {
      const key = newKey();
      const { db } = await migrated(t, key);
      const keys = await ensureSigningKeys(db);
      const cookie = await ensureSecrets(db, 'cookie');
      const csrf = await ensureSecrets(db, 'csrf');
      assert.ok(keys.every((k) => typeof k.privateJwk.d === 'string'), 'callers get the private keys');

      const raw = await rawSecrets(db);
      assert.equal(raw.length, 4);
      for (const { record, stored } of raw) {
        assert.match(stored, ENVELOPE, record);
        assert.equal(sealedKeyId(stored), key.id, record);
      }
      const everything = JSON.stringify(raw);
      for (const jwk of keys) assert.ok(!everything.includes(jwk.privateJwk.d!), 'no private key in the database');
      assert.ok(!everything.includes(cookie[0]!) && !everything.includes(csrf[0]!), 'no server secret in the database');

      // A sealed value copied to another row is not that row's secret.
      const csrfStored = raw.find((r) => r.record === 'server secret csrf/initial')!.stored;
      await db.updateTable('server_secrets').set({ secret: csrfStored }).where('purpose', '=', 'cookie').execute();
      await rejectsConfig(ensureSecrets(db, 'cookie'), /GATEHOUSE_SECRET_KEY: server secret cookie\/initial does not decrypt under secret key .*copied from another record/, [csrf[0]!, csrfStored]);
      const [es, rs] = [keys.find((k) => k.alg === 'ES256')!, keys.find((k) => k.alg === 'RS256')!];
      const esStored = raw.find((r) => r.record === `signing key ${es.kid}`)!.stored;
      await db.updateTable('signing_keys').set({ private_jwk: esStored }).where('kid', '=', rs.kid).execute();
      await rejectsConfig(listSigningKeys(db), new RegExp(`signing key ${rs.kid} does not decrypt`), [esStored]);
      await rejectsConfig(checkSecretsReadable(db), /signing key .* does not decrypt[\s\S]*server secret cookie\/initial does not decrypt/);
    });

    test('without a key, secrets are neither read nor written; everything else works', async (t) => {
      const url = await newDatabase(t);
      const db = opener(t, url)();
      await migrate(db); // a new database has nothing to encrypt
      assert.ok(await createUser(db, await withPasswordHash({ username: 'jane', password: 'correct horse' })));
      await rejectsConfig(ensureSecrets(db, 'cookie'), /GATEHOUSE_SECRET_KEY: .*no secret key was given/);
      await rejectsConfig(ensureSigningKeys(db), /GATEHOUSE_SECRET_KEY/);
      assert.deepEqual(await rawSecrets(db), [], 'nothing written');
    });

    test('the wrong key is refused naming the setting and both key ids, never a value', async (t) => {
      const right = newKey();
      const wrong = newKey();
      const { open, db } = await migrated(t, right);
      await ensureSigningKeys(db);
      const cookie = await ensureSecrets(db, 'cookie');
      const other = open(keyring(wrong));
      const error = await rejectsConfig(checkSecretsReadable(other), new RegExp(`GATEHOUSE_SECRET_KEY: .* under secret key ${right.id}, which is neither the current key \\(${wrong.id}\\) nor one of GATEHOUSE_SECRET_KEY_PREVIOUS`), [cookie[0]!, right.text, wrong.text]);
      assert.equal(error.problems.length, 1, 'one line for the three rows under the same key');
      assert.match(error.problems[0]!, /and 2 more secret\(s\) like it/);
      await rejectsConfig(listSigningKeys(other), /GATEHOUSE_SECRET_KEY/);
      await rejectsConfig(ensureSecrets(other, 'cookie'), /GATEHOUSE_SECRET_KEY/);
      assert.deepEqual(await ensureSecrets(open(keyring(wrong, right)), 'cookie'), cookie, 'with the right key as a previous one, it reads');
    });

    test('migration 004 encrypts an earlier version\'s plaintext secrets once, all or nothing, with two processes migrating at once', async (t) => {
      const url = await newDatabase(t);
      const legacy = await legacyDatabase(url);
      const open = opener(t, url);
      const migrationsApplied = async () =>
        (await open().selectFrom('gatehouse_migrations' as never).select('name' as never).execute()).map((r) => (r as { name: string }).name).sort();

      // Without the key, nothing changes.
      await rejectsConfig(migrate(open()), /GATEHOUSE_SECRET_KEY/);
      assert.ok(!(await migrationsApplied()).includes('004-encrypt-secrets'));
      assert.deepEqual(Object.values(await keyIdsOf(open())), Object.values(legacy.plaintext).map(() => 'plaintext'));
      const production = await gatehouse({ GATEHOUSE_DATABASE_URL: url, GATEHOUSE_PUBLIC_URL: 'https://auth.example.com' }, ['migrate']);
      assert.equal(production.code, 1);
      assert.match(production.stderr, /GATEHOUSE_SECRET_KEY: required in production/);

      // Two processes migrate at once, as instances starting together do.
      const key = newKey();
      const runs = await race(url, 'migrate', [key]);
      assert.deepEqual(runs.map((applied: string[]) => applied.includes('004-encrypt-secrets')).sort(), [false, true], 'applied once');
      assert.deepEqual(await migrationsApplied(), Object.keys(await migrationProvider.getMigrations()).sort());

      // Every secret encrypted once, under the key, with the same plaintext as before.
      const db = open(keyring(key));
      const ids = await keyIdsOf(db);
      assert.deepEqual(Object.keys(ids).sort(), Object.keys(legacy.plaintext).sort());
      for (const [record, id] of Object.entries(ids)) assert.equal(id, key.id, record);
      for (const report of await inspectSecrets(db, keyring(key))) assert.equal(report.status, 'current', report.record);
      assert.deepEqual((await listSigningKeys(db)).map((k) => JSON.stringify(k.privateJwk)).sort(), legacy.signingKids.map((kid) => legacy.plaintext[`signing key ${kid}`]).sort());
      for (const purpose of ['cookie', 'csrf', 'totp', 'admin-introspection']) {
        assert.deepEqual(await ensureSecrets(db, purpose), [legacy.plaintext[`server secret ${purpose}/initial`]], purpose);
      }
      // Two-factor secrets sealed under the (now encrypted) TOTP key still open.
      const state = await twoFactorState(db, (await findUser(db, 'johndoe'))!.id);
      assert.equal(new SecretBox(await ensureSecrets(db, 'totp')).open(state!.sealedSecret!), legacy.user.totpSecret);
      assert.deepEqual((await migrate(db)).results, [], 'nothing left to do');
    });

    test('rotation: previous keys still read, reencrypt moves everything to the current key in one transaction, an unreadable row changes nothing', async (t) => {
      const old = newKey();
      const current = newKey();
      const { open, db } = await migrated(t, old);
      const signing = (await ensureSigningKeys(db)).map((k) => k.privateJwk);
      const cookie = await ensureSecrets(db, 'cookie');

      const rotating = open(keyring(current, old));
      assert.deepEqual(await ensureSecrets(rotating, 'cookie'), cookie, 'read under the previous key');
      const csrf = await ensureSecrets(rotating, 'csrf'); // written now: under the current key
      assert.deepEqual(
        Object.values(await keyIdsOf(rotating)).sort(),
        [old.id, old.id, old.id, current.id].sort(),
      );
      const statuses = (await inspectSecrets(rotating, keyring(current, old))).map((r) => r.status).sort();
      assert.deepEqual(statuses, ['current', 'previous', 'previous', 'previous']);

      // A row no key opens: nothing is re-encrypted, the rows under the old key stay as they were.
      const stranger = newKey();
      await rotating.insertInto('server_secrets').values({ purpose: 'stray', id: 'initial', secret: keyring(stranger).seal('x', SEALED_CONTEXTS.serverSecret('stray', 'initial')), created_at: Date.now() }).execute();
      const before = await rawSecrets(rotating);
      await rejectsConfig(reencryptSecrets(rotating), new RegExp(`server secret stray/initial is encrypted under secret key ${stranger.id}`));
      assert.deepEqual(await rawSecrets(rotating), before, 'all or nothing');
      await rotating.deleteFrom('server_secrets').where('purpose', '=', 'stray').execute();

      const done = await reencryptSecrets(rotating);
      assert.deepEqual(done, { keyId: current.id, reencrypted: { [old.id]: 3 }, unchanged: 1 });
      const only = open(keyring(current));
      await checkSecretsReadable(only);
      assert.deepEqual(Object.values(await keyIdsOf(only)), [current.id, current.id, current.id, current.id]);
      assert.deepEqual((await listSigningKeys(only)).map((k) => k.privateJwk), signing, 'the same signing keys');
      assert.deepEqual([await ensureSecrets(only, 'cookie'), await ensureSecrets(only, 'csrf')], [cookie, csrf]);
      assert.deepEqual(await reencryptSecrets(rotating), { keyId: current.id, reencrypted: {}, unchanged: 4 }, 'a second run has nothing to do');
    });

    test('two re-encryptions at once (two processes) re-encrypt each secret exactly once', async (t) => {
      const old = newKey();
      const current = newKey();
      const { url, open, db } = await migrated(t, old);
      await ensureSigningKeys(db);
      for (const purpose of ['cookie', 'csrf', 'totp']) await ensureSecrets(db, purpose);
      const runs = await race(url, 'reencrypt', [current, old]);
      const moved = runs.map((r) => (r.reencrypted[old.id] ?? 0) as number);
      assert.equal(moved[0]! + moved[1]!, 5, `every secret once: ${JSON.stringify(runs)}`);
      assert.deepEqual(new Set(Object.values(await keyIdsOf(db))), new Set([current.id]));
      await checkSecretsReadable(open(keyring(current)));
    });
  });
}

contract('SQLite', async (t) => `sqlite:${join(tempDir(t), 'gatehouse.db')}`);
contract('PostgreSQL', (t) => tempPostgres(t));
