// A login session that outlives what it was made for (issue 10, item 15): the user disabled or
// deleted, their grant gone. The browser's next /authorize is answered login_required (prompt=none)
// or the login page, never a 500; disabling a user ends their sessions.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as client from 'openid-client';
import * as users from '../src/storage/users.ts';
import { createBrowser, loginThroughForm, type Browser } from '@gatehouse/test-support/browser';
import { ITEMS_API, cliAsync, seedDemo, startInProcess } from '@gatehouse/test-support/gatehouse';
import { tempPostgres } from '@gatehouse/test-support/postgres';
import { startAdmin } from './admin-support.ts';

const JOHN = { username: 'johndoe', password: 'correct horse' };

const DATABASES = ['sqlite', 'postgres'] as const;

/** The database a test runs on: a temporary SQLite file (the default) or a temporary PostgreSQL database. */
async function databaseEnv(t: test.TestContext, database: (typeof DATABASES)[number]): Promise<Record<string, string>> {
  return database === 'postgres' ? { GATEHOUSE_DATABASE_URL: await tempPostgres(t) } : {};
}

async function setup(t: test.TestContext, database: (typeof DATABASES)[number] = 'sqlite') {
  const gh = await startInProcess(t, { GATEHOUSE_DEFAULT_API: ITEMS_API, ...(await databaseEnv(t, database)) });
  const seed = await seedDemo(gh.db);
  return { ...gh, seed };
}

async function authorizeUrl(issuer: string, redirectUri: string, extra: Record<string, string> = {}): Promise<URL> {
  const url = new URL(`${issuer}/authorize`);
  const verifier = client.randomPKCECodeVerifier();
  const params = {
    client_id: 'web',
    response_type: 'code',
    redirect_uri: redirectUri,
    scope: 'openid items',
    state: 'st',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    ...extra,
  };
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  return url;
}

/** A browser signed in as johndoe at the server (its session cookie set). */
async function signedIn(issuer: string, redirectUri: string): Promise<Browser> {
  const browser = createBrowser();
  const { callback } = await loginThroughForm(browser, await authorizeUrl(issuer, redirectUri), JOHN, redirectUri);
  assert.ok(callback.searchParams.get('code'), 'signed in');
  return browser;
}

/** Follows the browser's redirects from /authorize until it leaves the server or lands on a page. */
async function visit(browser: Browser, start: URL, redirectUri: string): Promise<{ status: number; url: URL; html: string }> {
  let url = start;
  let response = await browser.get(url);
  for (let hops = 0; hops < 10; hops++) {
    const location = response.headers.get('location');
    if (response.status >= 300 && response.status < 400 && location) {
      url = new URL(location, url);
      if (url.href.startsWith(redirectUri)) return { status: response.status, url, html: '' };
      response = await browser.get(url);
      continue;
    }
    return { status: response.status, url, html: await response.text() };
  }
  throw new Error('too many redirects');
}

/** What the stale browser gets: login_required with prompt=none, the login page without. */
async function assertStaleSessionHandled(issuer: string, browser: Browser, redirectUri: string, why: string): Promise<void> {
  const silent = await visit(browser, await authorizeUrl(issuer, redirectUri, { prompt: 'none' }), redirectUri);
  assert.notEqual(silent.status, 500, `${why}: prompt=none is not a 500`);
  assert.equal(silent.url.searchParams.get('error'), 'login_required', `${why}: prompt=none gets login_required (${silent.url})`);
  const interactive = await visit(browser, await authorizeUrl(issuer, redirectUri), redirectUri);
  assert.equal(interactive.status, 200, `${why}: the login page, not a ${interactive.status}`);
  assert.match(interactive.url.pathname, /^\/interaction\//, why);
  assert.match(interactive.html, /name="password"/, `${why}: the login page`);
}

for (const database of DATABASES) {
test(`[${database}] a user disabled while signed in: their session ends, and their browser gets login_required or the login page`, async (t) => {
  const { issuer, seed, db } = await setup(t, database);
  const browser = await signedIn(issuer, seed.webRedirectUri);
  const john = (await users.findUser(db, 'johndoe'))!;
  const sessionsOf = async () => (await db.selectFrom('oidc_payloads').select('model').where('model', '=', 'Session').where('account_id', '=', john.id).execute()).length;
  assert.equal(await sessionsOf(), 1);
  await users.setUserDisabled(db, 'johndoe', true);
  assert.equal(await sessionsOf(), 0, 'disabling ended the session');
  await assertStaleSessionHandled(issuer, browser, seed.webRedirectUri, 'disabled');
});
}

test('a session whose user row is gone, or whose grant is gone, is answered as no session', async (t) => {
  const { issuer, seed, db } = await setup(t);
  // The grant behind the session is removed (a revocation from elsewhere, an expiry).
  const browser = await signedIn(issuer, seed.webRedirectUri);
  await db.deleteFrom('oidc_payloads').where('model', '=', 'Grant').execute();
  const again = await visit(browser, await authorizeUrl(issuer, seed.webRedirectUri, { prompt: 'none' }), seed.webRedirectUri);
  assert.notEqual(again.status, 500);
  assert.ok(again.url.searchParams.get('code') ?? again.url.searchParams.get('error'), `answered: ${again.url}`);

  // The user is disabled behind the server's back (another instance, the database): the session
  // is still there, and must not break /authorize either.
  const stale = await signedIn(issuer, seed.webRedirectUri);
  const john = (await users.findUser(db, 'johndoe'))!;
  await db.updateTable('users').set({ disabled: 1 }).where('id', '=', john.id).execute();
  await assertStaleSessionHandled(issuer, stale, seed.webRedirectUri, 'disabled in the database');
  // The account pages read the same session: they ask for a login too.
  const account = await visit(stale, new URL('/account', issuer), seed.webRedirectUri);
  assert.equal(account.status, 200, `/account: ${account.status}`);
  assert.match(account.html, /name="password"/, '/account: the login page');

  // The user row is deleted outright (by hand, in the database).
  await db.updateTable('users').set({ disabled: 0 }).where('id', '=', john.id).execute();
  const orphan = await signedIn(issuer, seed.webRedirectUri);
  await db.deleteFrom('users').where('id', '=', john.id).execute();
  await assertStaleSessionHandled(issuer, orphan, seed.webRedirectUri, 'deleted');
});

for (const database of DATABASES) {
test(`[${database}] disabling through the CLI or the admin API ends the user's sessions too`, async (t) => {
  const admin = await startAdmin(t, { GATEHOUSE_DEFAULT_API: ITEMS_API, ...(await databaseEnv(t, database)) });
  const seed = await seedDemo(admin.db);
  const sessionsOf = async (userId: string) =>
    (await admin.db.selectFrom('oidc_payloads').select('model').where('model', '=', 'Session').where('account_id', '=', userId).execute()).length;

  const john = (await users.findUser(admin.db, 'johndoe'))!;
  const viaCli = await signedIn(admin.issuer, seed.webRedirectUri);
  assert.equal(await sessionsOf(john.id), 1);
  const disabled = await cliAsync({ GATEHOUSE_DATABASE_URL: admin.databaseUrl }, ['users', 'disable', 'johndoe']);
  assert.equal(disabled.code, 0, disabled.stderr);
  assert.equal(await sessionsOf(john.id), 0, 'the CLI ended the session');
  await assertStaleSessionHandled(admin.issuer, viaCli, seed.webRedirectUri, 'disabled by the CLI');

  await users.setUserDisabled(admin.db, 'johndoe', false);
  const viaApi = await signedIn(admin.issuer, seed.webRedirectUri);
  assert.equal(await sessionsOf(john.id), 1);
  const token = await admin.clientToken(await admin.machine('ops', ['admin:users:write']), ['admin:users:write']);
  const answer = await admin.call('POST', `/admin/api/users/${john.id}/disable`, { token });
  assert.equal(answer.status, 200, answer.text);
  assert.equal(await sessionsOf(john.id), 0, 'the admin API ended the session');
  await assertStaleSessionHandled(admin.issuer, viaApi, seed.webRedirectUri, 'disabled by the admin API');
});
}
