// The secret key as an operator meets it (issue 10 item 5): required in production, where
// "production" is any public URL but http on a loopback host; a development key kept in
// ./data/secret.key otherwise, said at every start; the wrong key stops the server at start with
// the setting named; a rotation (new key, old key as previous, `gatehouse secrets reencrypt`,
// old key removed) changes no signing key; a database written by an earlier version is encrypted
// at its first start and its users with two-factor authentication still sign in. Real processes
// (`gatehouse serve`, the CLI) and real HTTP; nothing secret in any output.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { test, type TestContext } from 'node:test';
import { decodeProtectedHeader } from 'jose';
import { createBrowser, formAction, formValue, type Browser } from '@gatehouse/test-support/browser';
import { tempDir } from '@gatehouse/test-support/files';
import { GATEHOUSE_BIN, startInProcess, tokenRequest, type Env } from '@gatehouse/test-support/gatehouse';
import { freePort } from '@gatehouse/test-support/ports';
import { tempPostgres } from '@gatehouse/test-support/postgres';
import { buildServer } from '../src/app.ts';
import { runCli } from '../src/cli/main.ts';
import { ConfigError, loadConfig } from '../src/config/load.ts';
import { isProduction } from '../src/config/production.ts';
import { totpCode } from '../src/passwords/totp.ts';
import { keyIdsOf, legacyDatabase, newKey, rawSecrets } from './secrets-support.ts';

const sqlite = (t: TestContext) => `sqlite:${join(tempDir(t), 'gatehouse.db')}`;

/** `gatehouse <args>` in this process (fast), for the refusals. */
async function gatehouse(env: Env, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const stdin = Object.assign(Readable.from([]), { isTTY: true });
  const code = await runCli(args, { stdout: (text) => void (stdout += text), stderr: (text) => void (stderr += text), env, stdin });
  return { code, stdout, stderr };
}

async function jwksKids(issuer: string): Promise<string[]> {
  const jwks = (await (await fetch(`${issuer}/jwks`)).json()) as { keys: { kid: string }[] };
  return jwks.keys.map((k) => k.kid).sort();
}

test('production is any public URL but http on a loopback host', () => {
  const cases: [string, boolean][] = [
    ['http://localhost:8000', false],
    ['http://127.0.0.1:8000', false],
    ['http://127.3.4.5', false],
    ['http://[::1]:8000', false],
    ['http://auth.localhost:8000', false],
    ['https://localhost:8000', true],
    ['https://auth.example.com', true],
    ['http://auth.example.com', true],
    ['http://192.168.1.10:8000', true],
    ['http://0.0.0.0:8000', true],
    ['http://localhost.example.com', true],
  ];
  for (const [publicUrl, production] of cases) assert.equal(isProduction({ publicUrl }), production, publicUrl);
});

test('in production, no key (or a bad one) stops the server at start, naming the setting, exit 1, nothing written', async (t) => {
  const dir = tempDir(t);
  const base = { GATEHOUSE_DATABASE_URL: `sqlite:${join(dir, 'gatehouse.db')}`, GATEHOUSE_PUBLIC_URL: 'https://auth.example.com', GATEHOUSE_PORT: '0' };
  const refusals: [Env, RegExp, string?][] = [
    [{}, /GATEHOUSE_SECRET_KEY: required in production \(GATEHOUSE_PUBLIC_URL is https:\/\/auth\.example\.com, not an http URL on a loopback host\)/],
    [{ GATEHOUSE_SECRET_KEY: 'too-short-to-be-a-key' }, /GATEHOUSE_SECRET_KEY: expected 32 random bytes in base64/, 'too-short-to-be-a-key'],
    [{ GATEHOUSE_SECRET_KEY: newKey().text, GATEHOUSE_SECRET_KEY_FILE: join(dir, 'key') }, /GATEHOUSE_SECRET_KEY and GATEHOUSE_SECRET_KEY_FILE are both set/],
    [{ GATEHOUSE_SECRET_KEY_FILE: join(dir, 'missing.key') }, /GATEHOUSE_SECRET_KEY_FILE: cannot read ".*missing\.key" \(ENOENT\)/],
    [{ GATEHOUSE_SECRET_KEY_FILE: join(dir, 'bad.key') }, /GATEHOUSE_SECRET_KEY_FILE: line 2 of ".*bad\.key" is not a key/, 'this-is-not-a-key'],
  ];
  writeFileSync(join(dir, 'bad.key'), '# the key\nthis-is-not-a-key\n');
  for (const [env, message, secret] of refusals) {
    const run = await gatehouse({ ...base, ...env }, ['serve']);
    assert.equal(run.code, 1, JSON.stringify(env));
    assert.match(run.stderr, message);
    assert.doesNotMatch(run.stderr, /\n\s+at /, 'no stack trace');
    if (secret) assert.ok(!run.stderr.includes(secret), 'the value is not echoed');
  }
  assert.equal(existsSync(join(dir, 'gatehouse.db')), false, 'refused before the database is touched');
  assert.equal(existsSync(join(dir, 'data')), false, 'no development key in production');
  // Embedding the server from code: the same refusal.
  await assert.rejects(buildServer({ config: loadConfig(base).config }), (error) => error instanceof ConfigError && /GATEHOUSE_SECRET_KEY: required in production/.test(error.message));
});

/** `gatehouse serve` in a directory of its own (the development key goes to ./data/secret.key there). */
async function serveIn(t: TestContext, cwd: string, env: Env): Promise<{ issuer: string; output: () => string; stop: () => Promise<void> }> {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, [GATEHOUSE_BIN, 'serve'], {
    cwd,
    env: { ...process.env, GATEHOUSE_PUBLIC_URL: issuer, GATEHOUSE_PORT: String(port), GATEHOUSE_HOST: '127.0.0.1', GATEHOUSE_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    await once(child, 'exit');
  };
  t.after(stop);
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', () => output.includes('Gatehouse is listening') && resolve());
    child.once('exit', (code) => reject(new Error(`exited with ${code}:\n${output}`)));
  });
  return { issuer, output: () => output, stop };
}

test('outside production, `gatehouse serve` keeps a development key in ./data/secret.key and warns at every start', async (t) => {
  const cwd = tempDir(t);
  const env = { GATEHOUSE_DATABASE_URL: 'sqlite:./gatehouse.db' };
  const first = await serveIn(t, cwd, env);
  const keyFile = join(cwd, 'data', 'secret.key');
  assert.match(first.output(), new RegExp(`GATEHOUSE_SECRET_KEY or GATEHOUSE_SECRET_KEY_FILE is not set: the secrets in the database are encrypted with a development key kept in ${keyFile.replace(/[.\\]/g, '\\$&')}`));
  assert.equal(statSync(keyFile).mode & 0o777, 0o600, 'readable by its owner only');
  const kids = await jwksKids(first.issuer);
  await first.stop();

  const second = await serveIn(t, cwd, env);
  assert.deepEqual(await jwksKids(second.issuer), kids, 'the same key reads the same secrets');
  assert.match(second.output(), /development key kept in/);
  await second.stop();
});

test('rotating the secret key: the wrong key stops the server naming the setting; previous key, reencrypt, doctor; no signing key changes', async (t) => {
  // Servers and the CLI in this process (the refusals go through `gatehouse serve` itself): a
  // rotation is many starts, and process starts are slow on a busy machine.
  const databaseUrl = sqlite(t);
  const a = newKey();
  const b = newKey();
  const outputs: string[] = [];
  const logs = (): { logger: { level: string; stream: Writable } } => ({ logger: { level: 'info', stream: new Writable({ write: (chunk, _encoding, done) => (outputs.push(String(chunk)), done()) }) } });
  const withA = { GATEHOUSE_DATABASE_URL: databaseUrl, GATEHOUSE_SECRET_KEY: a.text };
  assert.equal((await gatehouse(withA, ['apis', 'create', '--identifier', 'https://api.example', '--name', 'API', '--scopes', 'read'])).code, 0);
  const service = JSON.parse((await gatehouse(withA, ['clients', 'create', '--api', 'https://api.example', '--name', 'Service', '--grants', 'client_credentials', '--scopes', 'read', '--json'])).stdout);
  const serviceAuth = { clientId: service.client.clientId, clientSecret: service.clientSecret };
  const tokenKid = async (issuer: string) => {
    const response = await tokenRequest(issuer, { grant_type: 'client_credentials', resource: 'https://api.example', scope: 'read' }, serviceAuth);
    assert.equal(response.status, 200, JSON.stringify(response.body));
    return decodeProtectedHeader(response.body.access_token).kid;
  };

  const first = await startInProcess(t, withA, logs());
  const kids = await jwksKids(first.issuer);
  const signingKid = await tokenKid(first.issuer);
  await first.close();

  // The new key alone cannot read what the old one encrypted: a clear refusal at start.
  const withB = { GATEHOUSE_DATABASE_URL: databaseUrl, GATEHOUSE_SECRET_KEY: b.text };
  const refused = await gatehouse({ ...withB, GATEHOUSE_PORT: '0' }, ['serve']);
  outputs.push(refused.stdout, refused.stderr);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, new RegExp(`GATEHOUSE_SECRET_KEY: .* is encrypted under secret key ${a.id}, which is neither the current key \\(${b.id}\\) nor one of GATEHOUSE_SECRET_KEY_PREVIOUS`));
  assert.doesNotMatch(refused.stderr, /\n\s+at /, 'no stack trace');

  // New key current, old key previous (here in a key file: first line current, then previous).
  const keyFile = join(tempDir(t), 'keys');
  writeFileSync(keyFile, `# rotated today\n${b.text}\n${a.text}\n`, { mode: 0o600 });
  const rotating = { GATEHOUSE_DATABASE_URL: databaseUrl, GATEHOUSE_SECRET_KEY_FILE: keyFile };
  const during = await startInProcess(t, rotating, logs());
  assert.deepEqual(await jwksKids(during.issuer), kids);
  assert.equal(await tokenKid(during.issuer), signingKid, 'the same signing key signs');
  const secretsCheck = async (env: Env) => {
    const report = JSON.parse((await gatehouse({ ...env, GATEHOUSE_PUBLIC_URL: during.issuer }, ['doctor', '--json'])).stdout);
    return report.checks.find((c: { name: string }) => c.name === 'secrets at rest');
  };
  const before = await secretsCheck(rotating);
  assert.equal(before.status, 'warn');
  assert.match(before.message, new RegExp(`6 of 6 secret\\(s\\) still under previous key\\(s\\) ${a.id}; the current key is ${b.id}`));
  assert.match(before.fix, /gatehouse secrets reencrypt/);

  const reencrypt = await gatehouse(rotating, ['secrets', 'reencrypt']);
  assert.equal(reencrypt.code, 0, reencrypt.stderr);
  assert.match(reencrypt.stdout, new RegExp(`Re-encrypted 6 secret\\(s\\) under key ${b.id} \\(6 under key ${a.id}\\); 0 already were\\.`));
  outputs.push(reencrypt.stdout, reencrypt.stderr);
  const after = await secretsCheck(rotating);
  assert.equal(after.status, 'ok');
  assert.match(after.message, new RegExp(`6 secret\\(s\\) .* under key ${b.id}; previous key\\(s\\) ${a.id} encrypt nothing any more and can be removed`));
  await during.server.maintainKeys(); // reloads the keys, as every instance does periodically
  assert.equal(await tokenKid(during.issuer), signingKid, 'the running server never noticed');
  await during.close();

  // The old key is gone: the new one alone reads everything.
  const last = await startInProcess(t, withB, logs());
  assert.deepEqual(await jwksKids(last.issuer), kids);
  assert.equal(await tokenKid(last.issuer), signingKid);
  await last.close();
  assert.ok(outputs.some((line) => line.includes('"msg":"request completed"')), 'the servers\' logs were captured');
  for (const output of outputs) assert.ok(!output.includes(a.text) && !output.includes(b.text), 'no key in any output');
});

/** Signs in on the account pages with a password and a TOTP code; true when the account page shows. */
async function signInWithTotp(issuer: string, username: string, password: string, code: string): Promise<boolean> {
  const browser: Browser = createBrowser();
  const follow = async (response: Response, from: URL) => {
    let url = from;
    for (let hops = 0; hops < 10; hops++) {
      const location = response.headers.get('location');
      if (response.status < 300 || response.status >= 400 || !location) return { url, status: response.status, html: await response.text() };
      url = new URL(location, url);
      response = await browser.get(url);
    }
    throw new Error('too many redirects');
  };
  const start = new URL('/account', issuer);
  const login = await follow(await browser.get(start), start);
  const passwordStep = await browser.post(new URL(formAction(login.html, '/login'), login.url), { csrf: formValue(login.html, 'csrf'), username, password });
  const page = await passwordStep.text();
  assert.equal(passwordStep.status, 200, 'the second-factor page');
  const action = new URL(formAction(page, '/second-factor'), login.url);
  const landed = await follow(await browser.post(action, { csrf: formValue(page, 'csrf'), pending: formValue(page, 'pending'), code }), action);
  return landed.url.pathname === '/account' && landed.status === 200 && landed.html.includes(username);
}

for (const [name, newDatabase] of [['SQLite', sqlite], ['PostgreSQL', tempPostgres]] as const) {
  test(`${name}: a database an earlier version wrote in plaintext is encrypted at first start; its keys and two-factor users keep working`, async (t) => {
    const databaseUrl = await newDatabase(t);
    const legacy = await legacyDatabase(databaseUrl);
    const gh = await startInProcess(t, { GATEHOUSE_DATABASE_URL: databaseUrl });
    assert.deepEqual(await jwksKids(gh.issuer), [...legacy.signingKids].sort(), 'the same signing keys, published');
    const ids = await keyIdsOf(gh.db);
    assert.ok(Object.values(ids).every((id) => id !== 'plaintext'), JSON.stringify(ids));
    const stored = JSON.stringify(await rawSecrets(gh.db));
    for (const plaintext of Object.values(legacy.plaintext)) assert.ok(!stored.includes(plaintext), 'no plaintext left');
    assert.ok(await signInWithTotp(gh.issuer, legacy.user.username, legacy.user.password, totpCode(legacy.user.totpSecret)), 'the two-factor user signs in');
  });
}
