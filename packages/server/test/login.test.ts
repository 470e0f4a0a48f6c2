// The login page and the password grant: one throttled, timing-equalized password check, CSRF,
// strict headers, cookies, session rotation, imported bcrypt hashes, disabled users.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as client from 'openid-client';
import * as audit from '../src/storage/audit.ts';
import * as users from '../src/storage/users.ts';
import * as hashing from '../src/passwords/hash.ts';
import { createBrowser, formAction, formValue, loginThroughForm, type Browser } from '@gatehouse/test-support/browser';
import { ITEMS_API, seedDemo, startInProcess, tokenRequest, type Env } from '@gatehouse/test-support/gatehouse';

const REDIRECT = 'http://127.0.0.1:8999/callback';
// The hash FastAPI's OAuth2-scopes tutorial (seed 002) stores for johndoe's password "secret".
const SEED_BCRYPT = '$2b$12$EixZaYVK1fsbw1ZfbX3OXePaWxn96p36WQoeG6Lruj3vjPGga31lW';

async function setup(t: test.TestContext, env: Env = {}, options = {}) {
  const gh = await startInProcess(t, { GATEHOUSE_DEFAULT_API: ITEMS_API, ...env }, options);
  const seed = await seedDemo(gh.db);
  return { ...gh, seed };
}

async function authorizationUrl(issuer: string, extra: Record<string, string> = {}): Promise<URL> {
  const url = new URL(`${issuer}/authorize`);
  const params = {
    client_id: 'web',
    response_type: 'code',
    redirect_uri: REDIRECT,
    scope: 'openid items',
    code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
    code_challenge_method: 'S256',
    ...extra,
  };
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  return url;
}

/** Opens the login page of a fresh authorization request. */
async function openLoginPage(browser: Browser, issuer: string, extra: Record<string, string> = {}) {
  const start = await browser.get(await authorizationUrl(issuer, extra));
  assert.equal(start.status, 303);
  const page = await browser.get(new URL(start.headers.get('location')!, issuer));
  const html = await page.text();
  return { page, html, action: new URL(formAction(html, '/login'), issuer), csrf: formValue(html, 'csrf') };
}

async function submitLogin(browser: Browser, issuer: string, username: string, password: string) {
  const { action, csrf } = await openLoginPage(browser, issuer);
  const response = await browser.post(action, { csrf, username, password });
  return { status: response.status, html: await response.text(), response };
}

test('the login page is served with strict headers and an accessible form', async (t) => {
  const { issuer } = await setup(t);
  const { page, html } = await openLoginPage(createBrowser(), issuer);
  assert.equal(page.status, 200);
  const csp = page.headers.get('content-security-policy')!;
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.match(csp, /form-action 'self' http:\/\/127\.0\.0\.1:8999/, 'the post-login redirect target is allowed, nothing else');
  assert.doesNotMatch(csp, /unsafe-inline/);
  assert.equal(page.headers.get('referrer-policy'), 'no-referrer');
  assert.equal(page.headers.get('x-frame-options'), 'DENY');
  assert.equal(page.headers.get('cache-control'), 'no-store');
  assert.match(html, /<label for="username">/);
  assert.match(html, /<label for="password">/);
  assert.match(html, /autocomplete="current-password"/);
  // One script: the passkey script, a file of this server (no inline code), which the CSP allows.
  assert.deepEqual([...html.matchAll(/<script[^>]*>/g)].map((m) => m[0]), ['<script type="module" src="/assets/passkeys.js">']);
  assert.match(csp, /script-src 'self'/);
  assert.match(csp, /connect-src 'self'/);
});

test('unknown user and wrong password get the same generic answer, on the page and the password grant', async (t) => {
  const { issuer, seed } = await setup(t);
  const unknown = await submitLogin(createBrowser(), issuer, 'nobody', 'whatever1');
  const wrong = await submitLogin(createBrowser(), issuer, 'johndoe', 'whatever1');
  assert.equal(unknown.status, 401);
  assert.equal(wrong.status, 401);
  const message = (html: string) => /role="alert">([^<]+)</.exec(html)![1];
  assert.equal(message(unknown.html), 'Invalid username or password.');
  assert.equal(message(wrong.html), message(unknown.html));

  const grantUnknown = await tokenRequest(issuer, { grant_type: 'password', username: 'nobody', password: 'whatever1' }, seed.passwordClient);
  const grantWrong = await tokenRequest(issuer, { grant_type: 'password', username: 'johndoe', password: 'whatever1' }, seed.passwordClient);
  assert.deepEqual(grantUnknown.body, grantWrong.body);
  assert.equal(grantWrong.body.error, 'invalid_grant');
});

test('an unknown user costs the same argon2id verification as a known one (dummy hash)', async (t) => {
  const calls: string[] = [];
  const passwords = {
    ...hashing,
    verifyPassword: async (hash: string, password: string) => {
      calls.push('verify');
      return hashing.verifyPassword(hash, password);
    },
    verifyDummy: async (password: string) => {
      calls.push('dummy');
      return hashing.verifyDummy(password);
    },
  };
  const { issuer, seed } = await setup(t, {}, { passwords });
  await tokenRequest(issuer, { grant_type: 'password', username: 'nobody', password: 'whatever1' }, seed.passwordClient);
  assert.deepEqual(calls, ['dummy'], 'one argon2id verification for an unknown user');
  calls.length = 0;
  await tokenRequest(issuer, { grant_type: 'password', username: 'johndoe', password: 'whatever1' }, seed.passwordClient);
  assert.deepEqual(calls, ['verify'], 'one for a known user');
  // The dummy hash really is an argon2id hash with the same parameters as real ones.
  const row = await users.findLoginRecord((await setup(t)).db, 'johndoe');
  assert.equal(hashing.needsRehash(row!.passwordHash!), false);
});

test('failed logins are throttled per account across the login page and the password grant (429 + Retry-After)', async (t) => {
  const { issuer, seed } = await setup(t, { GATEHOUSE_LOGIN_MAX_FAILURES_PER_ACCOUNT: '3', GATEHOUSE_LOGIN_MAX_FAILURES_PER_IP: '100' });
  const browser = createBrowser();
  assert.equal((await submitLogin(browser, issuer, 'johndoe', 'bad-one-1')).status, 401);
  assert.equal((await tokenRequest(issuer, { grant_type: 'password', username: 'johndoe', password: 'bad-one-2' }, seed.passwordClient)).status, 400);
  assert.equal((await submitLogin(browser, issuer, 'JohnDoe', 'bad-one-3')).status, 401, 'usernames are counted case-insensitively');
  // The fourth attempt is refused before any password check, even with the right password.
  const page = await submitLogin(browser, issuer, 'johndoe', 'correct horse');
  assert.equal(page.status, 429);
  const retry = Number(page.response.headers.get('retry-after'));
  assert.ok(retry > 0 && retry <= 900, `Retry-After ${retry}`);
  const grant = await tokenRequest(issuer, { grant_type: 'password', username: 'johndoe', password: 'correct horse' }, seed.passwordClient);
  assert.equal(grant.status, 429);
  assert.equal(grant.body.error, 'too_many_attempts');
  assert.ok(Number(grant.headers.get('retry-after')) > 0);
  // Another account from the same address is not affected.
  const other = await tokenRequest(issuer, { grant_type: 'password', username: 'alice', password: 'wrong-pass' }, seed.passwordClient);
  assert.equal(other.status, 400);
});

test('failed logins are throttled per IP address whatever the username', async (t) => {
  const { issuer, seed } = await setup(t, { GATEHOUSE_LOGIN_MAX_FAILURES_PER_ACCOUNT: '100', GATEHOUSE_LOGIN_MAX_FAILURES_PER_IP: '3' });
  for (const name of ['a1', 'a2', 'a3']) {
    assert.equal((await tokenRequest(issuer, { grant_type: 'password', username: name, password: 'wrong-pass' }, seed.passwordClient)).status, 400);
  }
  const limited = await tokenRequest(issuer, { grant_type: 'password', username: 'johndoe', password: 'correct horse' }, seed.passwordClient);
  assert.equal(limited.status, 429);
});

test('forms without a valid CSRF token are refused', async (t) => {
  const { issuer } = await setup(t);
  const browser = createBrowser();
  const { action } = await openLoginPage(browser, issuer);
  const missing = await browser.post(action, { username: 'johndoe', password: 'correct horse' });
  assert.equal(missing.status, 403);
  const other = await openLoginPage(createBrowser(), issuer);
  const foreign = await browser.post(action, { csrf: other.csrf, username: 'johndoe', password: 'correct horse' });
  assert.equal(foreign.status, 403, "another interaction's token does not work here");
  // A form posted without the interaction cookie (another browser) is refused too.
  const mine = await openLoginPage(browser, issuer);
  const stranger = await createBrowser().post(mine.action, { csrf: mine.csrf, username: 'johndoe', password: 'correct horse' });
  assert.equal(stranger.status, 400);
  assert.match(await stranger.text(), /no longer valid/);
});

test('a successful login answers 303, sets HttpOnly SameSite cookies, and rotates the session id', async (t) => {
  const { issuer } = await setup(t);
  const browser = createBrowser();
  const { action, csrf } = await openLoginPage(browser, issuer);
  const posted = await browser.post(action, { csrf, username: 'johndoe', password: 'correct horse' });
  assert.equal(posted.status, 303, 'never 200 or 302 after a credential POST');
  const resumed = await browser.get(new URL(posted.headers.get('location')!, issuer));
  const sessionCookie = resumed.headers.getSetCookie().find((c) => c.startsWith('_session='))!;
  assert.ok(sessionCookie, 'a session cookie');
  assert.match(sessionCookie, /httponly/i);
  assert.match(sessionCookie, /samesite=lax/i);
  const firstSession = browser.jar.get('_session');
  assert.ok(firstSession);

  // Logging in again in the same browser (prompt=login) gives a new session id.
  await loginThroughForm(browser, await authorizationUrl(issuer, { prompt: 'login' }), { username: 'johndoe', password: 'correct horse' }, REDIRECT);
  assert.ok(browser.jar.get('_session'));
  assert.notEqual(browser.jar.get('_session'), firstSession, 'session id rotated at login');
});

test('cookies are Secure when the public URL is https', async (t) => {
  const gh = await startInProcess(t, { GATEHOUSE_PUBLIC_URL: 'https://auth.example.com' });
  await seedDemo(gh.db);
  const port = gh.server.app.server.address() as { port: number };
  const response = await fetch(await authorizationUrl(`http://127.0.0.1:${port.port}`), { redirect: 'manual' });
  assert.equal(response.status, 303);
  assert.match(response.headers.get('location')!, /^\/interaction\//);
  const cookies = response.headers.getSetCookie();
  assert.ok(cookies.length > 0);
  for (const cookie of cookies) assert.match(cookie, /;\s*secure/i, cookie);
});

test('an imported bcrypt hash logs in and is upgraded to argon2id at that login', async (t) => {
  const { issuer, seed, db } = await setup(t);
  await users.importUsers(db, [{ username: 'fastapi-john', passwordHash: SEED_BCRYPT, roles: ['user'] }]);
  const response = await tokenRequest(issuer, { grant_type: 'password', username: 'fastapi-john', password: 'secret' }, seed.passwordClient);
  assert.equal(response.status, 200);
  const record = await users.findLoginRecord(db, 'fastapi-john');
  assert.equal(hashing.hashKind(record!.passwordHash!), 'argon2id');
  assert.equal(await hashing.verifyPassword(record!.passwordHash!, 'secret'), true);
  // And the login page accepts it from then on.
  const page = await submitLogin(createBrowser(), issuer, 'fastapi-john', 'secret');
  assert.equal(page.status, 303);
});

test('a disabled user can neither log in nor get tokens; only the right password learns why', async (t) => {
  const { issuer, seed } = await setup(t);
  const right = await submitLogin(createBrowser(), issuer, 'alice', 'alice password');
  assert.equal(right.status, 403);
  assert.match(right.html, /disabled/);
  const wrong = await submitLogin(createBrowser(), issuer, 'alice', 'not her password');
  assert.equal(wrong.status, 401);
  assert.doesNotMatch(wrong.html, /disabled/);
  const grant = await tokenRequest(issuer, { grant_type: 'password', username: 'alice', password: 'alice password' }, seed.passwordClient);
  assert.equal(grant.status, 400);
  assert.equal(grant.body.error, 'invalid_grant');
});

test('an oversized login form is refused with 413', async (t) => {
  const { issuer } = await setup(t, { GATEHOUSE_BODY_LIMIT: '2048' });
  const browser = createBrowser();
  const { action, csrf } = await openLoginPage(browser, issuer);
  const response = await browser.post(action, { csrf, username: 'johndoe', password: 'x'.repeat(5000) });
  assert.equal(response.status, 413);
});

test('every login, success and failure, on the page and the password grant, is in the audit log without the password, naming only usernames that exist', async (t) => {
  const { issuer, seed, db } = await setup(t);
  await submitLogin(createBrowser(), issuer, 'johndoe', 'correct horse');
  await submitLogin(createBrowser(), issuer, 'johndoe', 'a wrong password');
  await submitLogin(createBrowser(), issuer, 'nobody', 'a wrong password');
  // A password pasted into the username field (issue #10, item 8): no account has that name, so
  // the event names none.
  await submitLogin(createBrowser(), issuer, 'Tr0ub4dor&3 pasted', 'a wrong password');
  await tokenRequest(issuer, { grant_type: 'password', username: 'Tr0ub4dor&3 pasted', password: 'a wrong password' }, seed.passwordClient);
  await tokenRequest(issuer, { grant_type: 'password', username: 'johndoe', password: 'correct horse' }, seed.passwordClient);
  await tokenRequest(issuer, { grant_type: 'password', username: 'alice', password: 'alice password' }, seed.passwordClient);
  const { items } = await audit.listAuditEvents(db, { limit: 50 });
  const john = (await users.findUser(db, 'johndoe'))!.id;
  const summary = items
    .map((e) => `${e.type} ${e.outcome} ${e.actor.kind}${e.actor.id === john ? ':john' : ''} ${String(e.details.username)} ${String(e.details.result)}`)
    .sort();
  assert.deepEqual(summary, [
    'login failure anonymous johndoe invalid',
    'login failure anonymous undefined invalid',
    'login failure anonymous undefined invalid',
    'login success user:john johndoe ok',
    'login.password_grant failure anonymous undefined invalid',
    'login.password_grant failure user johndoe disabled'.replace('user johndoe', 'anonymous alice'),
    'login.password_grant success user:john johndoe ok',
  ].sort());
  for (const event of items) {
    assert.equal(event.ip, '127.0.0.1');
    assert.ok(event.at);
  }
  const everything = JSON.stringify(items);
  for (const secret of ['correct horse', 'a wrong password', 'alice password', 'Tr0ub4dor', 'nobody']) assert.ok(!everything.includes(secret), 'no password in the audit log');
  assert.equal(items.find((e) => e.type === 'login.password_grant')?.details.client_id, 'cli');
});
