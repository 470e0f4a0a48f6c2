// Redis unreachable or gone (issue #11, items 4 and 7), with `gatehouse serve` and the CLI as
// operators run them. The rule (docs/adr/0007-outages.md): a server starts without Redis, says so
// once, answers 503 with Retry-After where Redis is needed (password checks: throttling fails
// closed) and serves everything else; it recovers by itself when Redis is back. Every CLI command
// exits, with its change stored and a warning that the running instances were not told.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { openStorage } from '@gatehouse/server';
import { migrate } from '@gatehouse/server/internal/storage/database';
import { createBrowser, formAction, formValue } from '@gatehouse/test-support/browser';
import { tempDir } from '@gatehouse/test-support/files';
import { cliAsync, seedDemo, startProcess, tokenRequest, type DemoSeed, type ServerProcess } from '@gatehouse/test-support/gatehouse';
import { freePort } from '@gatehouse/test-support/ports';
import { startPrivateRedis } from '@gatehouse/test-support/private-redis';

/** A port where "Redis" accepts connections and drops them at once, counting the attempts. */
async function droppingConnections(t: test.TestContext, port: number): Promise<{ attempts(): number; close(): Promise<void> }> {
  let attempts = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    attempts++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  t.after(close);
  return { attempts: () => attempts, close };
}

async function waitFor(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function seededDatabase(t: test.TestContext): Promise<{ databaseUrl: string; seed: DemoSeed }> {
  const databaseUrl = `sqlite:${join(tempDir(t), 'gatehouse.db')}`;
  const storage = openStorage(databaseUrl);
  await migrate(storage.db);
  const seed = await seedDemo(storage.db);
  await storage.close();
  return { databaseUrl, seed };
}

const postForm = (server: ServerProcess, path: string, form: Record<string, string>) =>
  fetch(`${server.issuer}${path}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form) });
const selfServiceForms = [
  (server: ServerProcess) => postForm(server, '/forgot-password', { email: 'johndoe@example.com' }),
  (server: ServerProcess) => postForm(server, '/register', { username: `new-${randomBytes(3).toString('hex')}`, email: `new-${randomBytes(3).toString('hex')}@example.com`, password: 'a long enough new passphrase' }),
];
const healthz = async (server: ServerProcess) => (await fetch(`${server.issuer}/healthz`)).json() as Promise<any>;

const passwordGrant = (server: ServerProcess, seed: DemoSeed) =>
  tokenRequest(server.issuer, { grant_type: 'password', username: 'johndoe', password: 'correct horse', scope: 'me' }, seed.passwordClient);

/** GET /authorize, then the login page's form posted: the answer to the POST. */
async function loginPage(server: ServerProcess, seed: DemoSeed): Promise<Response> {
  const browser = createBrowser();
  const authorize = new URL('/authorize', server.issuer);
  for (const [k, v] of Object.entries({ client_id: 'web', response_type: 'code', redirect_uri: seed.webRedirectUri, scope: 'items', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' })) {
    authorize.searchParams.set(k, v);
  }
  let response = await browser.get(authorize);
  while (response.status === 303 || response.status === 302) response = await browser.get(new URL(response.headers.get('location')!, server.issuer));
  const html = await response.text();
  return browser.post(new URL(formAction(html, '/login'), server.issuer), { csrf: formValue(html, 'csrf'), username: 'johndoe', password: 'correct horse' });
}

const lines = (output: string, pattern: RegExp) => output.split('\n').filter((line) => pattern.test(line));

test('serve with Redis unreachable starts degraded: password checks 503, the rest served, one warning per change of state, recovery without restart', { timeout: 120_000 }, async (t) => {
  const { databaseUrl, seed } = await seededDatabase(t);
  const port = await freePort();
  const dead = await droppingConnections(t, port);
  const prefix = `gh-${randomBytes(6).toString('hex')}`;
  const server = await startProcess(t, {
    GATEHOUSE_DATABASE_URL: databaseUrl,
    GATEHOUSE_REDIS_URL: `redis://127.0.0.1:${port}`,
    GATEHOUSE_REDIS_PREFIX: prefix,
    GATEHOUSE_DEFAULT_API: 'http://localhost:8001',
    // Only an announcement on the bus can make the server see a client change in time.
    GATEHOUSE_CACHE_TTL: '300',
    GATEHOUSE_REGISTRATION: 'true',
  });

  // Up, and saying what is missing.
  const degraded = await healthz(server);
  assert.deepEqual(degraded, { status: 'degraded', checks: { database: 'ok', redis: 'unavailable' } });
  const grant = await passwordGrant(server, seed);
  assert.equal(grant.status, 503, JSON.stringify(grant.body));
  assert.ok(Number(grant.headers.get('retry-after')) > 0);
  assert.equal(grant.body.error, 'server_error', 'RFC 6749 has no code for this at the token endpoint (docs/adr/0007)');
  const login = await loginPage(server, seed);
  assert.equal(login.status, 503);
  assert.ok(Number(login.headers.get('retry-after')) > 0);
  assert.match(await login.text(), /Temporarily unavailable/);
  const service = await tokenRequest(server.issuer, { grant_type: 'client_credentials' }, seed.service);
  assert.equal(service.status, 200, 'what needs no Redis is served');
  // The self-service forms whose rate limits live in Redis: a 503 page, never a mail sent uncounted.
  for (const form of selfServiceForms) {
    const refused = await form(server);
    assert.equal(refused.status, 503, `${refused.url}: ${refused.status}`);
    assert.ok(Number(refused.headers.get('retry-after')) > 0, refused.url);
    assert.match(await refused.text(), /Temporarily unavailable/);
  }

  // Many reconnection attempts, one warning per connection.
  await waitFor('reconnection attempts', () => dead.attempts() >= 15);
  assert.equal(lines(server.output(), /Redis is unreachable at start \(login throttling\)/).length, 1, server.output());
  assert.equal(lines(server.output(), /Redis is unreachable/).length, 3, 'throttling, bus publisher, bus subscriber: once each');
  for (const line of lines(server.output(), /Redis is unreachable/)) assert.equal(JSON.parse(line).level, 40, 'a structured warning');

  // Redis comes up: served again, no restart.
  await dead.close();
  const redis = await startPrivateRedis(t, port);
  await waitFor('Redis healthy again', async () => (await healthz(server)).checks.redis === 'ok');
  assert.equal((await passwordGrant(server, seed)).status, 200);
  assert.equal((await loginPage(server, seed)).status, 303);
  for (const form of selfServiceForms) assert.equal((await form(server)).status, 200, 'the forms are served again');
  // Each connection comes back on its own backoff (at most 2 s): one line each.
  await waitFor('every connection back', () => lines(server.output(), /Redis is reachable again/).length >= 3);
  assert.equal(lines(server.output(), /Redis is reachable again/).length, 3);
  // The bus works again: a secret rotated from the CLI is announced, and the server heard it
  // (the client is in its cache, for GATEHOUSE_CACHE_TTL, after this request).
  assert.equal((await tokenRequest(server.issuer, { grant_type: 'client_credentials' }, seed.service)).status, 200);
  const rotated = await cliAsync({ GATEHOUSE_DATABASE_URL: databaseUrl, GATEHOUSE_REDIS_URL: redis.url, GATEHOUSE_REDIS_PREFIX: prefix }, ['clients', 'rotate-secret', 'service', '--json'], { timeoutMs: 60_000 });
  assert.equal(rotated.code, 0, rotated.stderr);
  assert.doesNotMatch(rotated.stderr, /warning/);
  await waitFor('the server to hear of the new secret', async () => (await tokenRequest(server.issuer, { grant_type: 'client_credentials' }, { clientId: 'service', clientSecret: rotated.json.clientSecret })).status === 200);

  // Redis frozen (connections open, nothing answers): a password check is a 503 after the
  // command timeout, not a hang; served again once it resumes.
  redis.freeze();
  const frozen = await tokenRequest(server.issuer, { grant_type: 'password', username: 'johndoe', password: 'correct horse', scope: 'me' }, seed.passwordClient);
  assert.equal(frozen.status, 503, JSON.stringify(frozen.body));
  redis.resume();
  await waitFor('served after the resume', async () => (await passwordGrant(server, seed)).status === 200);

  // Redis dies while running: 503 again, once more one warning each.
  await redis.stop();
  const deadAgain = await droppingConnections(t, port);
  await waitFor('reconnection attempts', () => deadAgain.attempts() >= 15);
  assert.equal((await passwordGrant(server, seed)).status, 503);
  assert.equal(lines(server.output(), /Redis is unreachable \(/).length, 3, server.output());

  assert.equal(server.child.exitCode, null, 'still running');
  assert.doesNotMatch(server.output(), /Unhandled error event|\[ioredis\]/, 'no ioredis stack traces');
});

test('every CLI command that announces a change exits while Redis is unreachable: the change stored, a warning, exit 0', { timeout: 180_000 }, async (t) => {
  const { databaseUrl } = await seededDatabase(t);
  const port = await freePort();
  const dead = await droppingConnections(t, port);
  const env = { GATEHOUSE_DATABASE_URL: databaseUrl, GATEHOUSE_REDIS_URL: `redis://127.0.0.1:${port}` };
  const commands = [
    ['users', 'disable', 'johndoe'],
    ['users', 'enable', 'johndoe'],
    ['clients', 'rotate-secret', 'service'],
    ['clients', 'revoke', 'service'],
    ['clients', 'delete', 'service'],
    ['apis', 'create', '--identifier', 'https://notes.example', '--name', 'Notes', '--scopes', 'notes'],
    ['keys', 'rotate', '--alg', 'ES256'],
  ];
  for (const args of commands) {
    const result = await cliAsync(env, [...args, '--json'], { timeoutMs: 30_000 });
    assert.equal(result.timedOut, false, `${args.join(' ')} never exited:\n${result.stdout}${result.stderr}`);
    assert.equal(result.code, 0, `${args.join(' ')}: ${result.stderr}`);
    assert.ok(result.json !== undefined, `${args.join(' ')}: one JSON object on standard output, nothing else: ${result.stdout}`);
    assert.match(result.stderr, /warning: the change is stored, but running instances were not told/);
    assert.doesNotMatch(result.stderr, /Unhandled error event|\[ioredis\]|\n\s+at /, 'no stack trace');
  }
  assert.ok(dead.attempts() >= commands.length, 'each command tried Redis');
  const doctor = await cliAsync(env, ['doctor'], { timeoutMs: 30_000 });
  assert.equal(doctor.timedOut, false);
  assert.equal(doctor.code, 1, 'doctor reports Redis unreachable');
  assert.match(doctor.stdout, /redis/);
  assert.doesNotMatch(doctor.stderr, /Unhandled error event|\[ioredis\]/, 'no ioredis stack trace');
});
