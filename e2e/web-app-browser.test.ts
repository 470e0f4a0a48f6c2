// The web-app flow in a real browser (issue #6, Debian chromium via playwright-core): the example
// notes app (examples/web-app) sends a visitor of a protected page to the Gatehouse login page,
// gets them back signed in, refreshes the access token before it expires, refuses a cross-site
// form post, and signs out of both the app and Gatehouse. Screenshots of every page, at desktop
// and phone width, go to test-results/web-app/.
//
// The app is served as http://localhost:<port> and Gatehouse as http://127.0.0.1:<port>: two
// different sites, as in production, so the SameSite=Lax cookie has to survive the cross-site
// redirect back from Gatehouse.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { test } from 'node:test';
import type { Page } from 'playwright-core';
import * as apis from '@gatehouse/server/internal/storage/apis';
import * as clients from '@gatehouse/server/internal/storage/clients';
import * as roles from '@gatehouse/server/internal/storage/roles';
import { withPasswordHash } from '@gatehouse/server/internal/passwords/user-passwords';
import * as users from '@gatehouse/server/internal/storage/users';
import { buildItemsApi } from '@gatehouse/example-items-api/app';
import { buildNotesApp } from '@gatehouse/example-web-app/app';
import { launchChromium } from '@gatehouse/test-support/chromium';
import { textLayoutProblems } from '@gatehouse/test-support/layout-check';
import { REPO_ROOT, startInProcess } from '@gatehouse/test-support/gatehouse';
import { startTinyServer } from '@gatehouse/test-support/http-server';
import { freePort } from '@gatehouse/test-support/ports';
import { waitFor } from '@gatehouse/test-support/wait';

const SCREENSHOTS = `${REPO_ROOT}test-results/web-app`;
const VIEWPORTS = { desktop: { width: 1280, height: 800 }, phone: { width: 390, height: 844 } } as const;
// Access tokens live 30 s (Gatehouse's minimum); the app refreshes them 27 s before expiry, so a
// refresh is due 3 s after each one is issued and the test does not wait for the full lifetime.
const TOKEN_TTL = 30;
const REFRESH_SKEW = 27;

test('notes web app: protected page → Gatehouse login → signed in → refresh → form post → sign out', async (t) => {
  const gh = await startInProcess(t, { GATEHOUSE_ACCESS_TOKEN_TTL: String(TOKEN_TTL) });
  const apiUrl = `http://127.0.0.1:${await freePort()}`;
  await apis.createApi(gh.db, { identifier: apiUrl, name: 'Items API', scopes: 'me items', accessTokenTtl: TOKEN_TTL });
  await roles.createRole(gh.db, { name: 'user', scopes: 'me items' });
  await users.createUser(gh.db, await withPasswordHash({ username: 'johndoe', password: 'correct horse', roles: ['user'] }));

  const api = await buildItemsApi({ issuer: gh.issuer, publicUrl: apiUrl, docsClientId: 'docs' });
  await api.listen({ port: Number(new URL(apiUrl).port), host: '127.0.0.1' });
  t.after(() => api.close());

  const appPort = await freePort();
  const appUrl = `http://localhost:${appPort}`;
  const { clientSecret } = await clients.createClient(gh.db, {
    clientId: 'notes',
    name: 'Notes',
    grantTypes: 'authorization_code refresh_token',
    redirectUris: [`${appUrl}/auth/callback`],
    postLogoutRedirectUris: [`${appUrl}/`],
    scopes: 'me items',
    apis: [apiUrl],
    firstParty: true,
  });
  const faults: Error[] = [];
  const app = await buildNotesApp({
    issuer: gh.issuer,
    publicUrl: appUrl,
    api: apiUrl,
    clientId: 'notes',
    clientSecret: clientSecret!,
    secret: 'browser test secret, long enough: 0123456789abcdef',
    refreshSkew: REFRESH_SKEW,
    onError: (error) => faults.push(error),
  });
  await app.listen({ port: appPort, host: '127.0.0.1' });
  t.after(() => app.close());

  const browser = await launchChromium(t);
  const context = await browser.newContext({ viewport: VIEWPORTS.desktop });
  const page = await context.newPage();
  const violations: string[] = [];
  page.on('console', (message) => {
    if (/Content Security Policy|Refused to/i.test(message.text())) violations.push(message.text());
  });
  mkdirSync(SCREENSHOTS, { recursive: true });
  const shoot = async (name: string, on: Page = page) => {
    for (const [label, size] of Object.entries(VIEWPORTS)) {
      await on.setViewportSize(size);
      await on.screenshot({ path: `${SCREENSHOTS}/${name}-${label}.png`, fullPage: true });
      assert.deepEqual(await textLayoutProblems(on), [], `${name} at ${label} width: no clipped, overlapping or split text`);
    }
    await on.setViewportSize(VIEWPORTS.desktop);
  };
  const sessionCookie = async () => (await context.cookies(appUrl)).find((cookie) => cookie.name === 'gatehouse_session');

  // 1. The home page, signed out.
  await page.goto(appUrl);
  assert.equal(await page.title(), 'Home · Notes');
  await shoot('01-home-signed-out');
  const favicon = await fetch(`${appUrl}/favicon.ico`);
  assert.equal(favicon.status, 200, 'the web app\'s icon (the issuer\'s brand, through a redirect)');
  assert.equal(favicon.headers.get('content-type'), 'image/svg+xml');

  // 2. The protected page sends the browser to the Gatehouse login page.
  await page.getByRole('link', { name: 'Sign in to see your notes' }).click();
  await page.waitForURL(`${gh.issuer}/interaction/**`);
  assert.equal(await page.title(), 'Sign in · Gatehouse');
  assert.match((await page.textContent('body')) ?? '', /Notes/, 'the login page names the app');
  await shoot('02-gatehouse-login');
  await page.getByLabel('Username').fill('johndoe');
  await page.getByLabel('Password').fill('correct horse');
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();

  // 3. No consent page: the app is a first-party client and the helper sends no `prompt`
  // (@gatehouse/sdk/webapp's default), so Gatehouse goes straight back, refresh token included.
  await page.waitForURL((url) => url.href.startsWith(appUrl) || /\/interaction\//.test(url.pathname));
  assert.ok(page.url().startsWith(appUrl), `a first-party app's sign-in stops at ${page.url()}`);

  // 4. Back on the protected page, signed in; the items come from the items API with the session's token.
  await page.waitForURL(`${appUrl}/notes`);
  assert.equal(await page.textContent('#username'), 'johndoe');
  assert.equal(await page.textContent('#items'), 'Foo');
  const cookie = await sessionCookie();
  assert.ok(cookie, 'the session cookie is set');
  assert.deepEqual([cookie.httpOnly, cookie.sameSite, cookie.secure, cookie.path], [true, 'Lax', false, '/']);
  assert.equal((await context.cookies(appUrl)).find((c) => c.name === 'gatehouse_session_login'), undefined, 'the sign-in cookie was consumed');
  assert.equal(await page.evaluate(() => document.cookie), '', 'no script can read the session');
  await shoot('04-signed-in');

  // 5. The refresh: once the access token is due, the next page view refreshes it. The new one
  //    expires later, and the items API accepts it.
  const expiryShown = async () => Date.parse((await page.getAttribute('#token-expires', 'datetime'))!);
  const firstExpiry = await expiryShown();
  // Page views before the token is due (REFRESH_SKEW seconds before it expires) keep it; the
  // first one after refreshes it.
  const secondExpiry = await waitFor(
    async () => {
      await page.reload();
      const shown = await expiryShown();
      return shown > firstExpiry ? shown : undefined;
    },
    { timeout: TOKEN_TTL * 1000, interval: 500, message: 'a page view that refreshed the token' },
  );
  assert.ok(secondExpiry > firstExpiry);
  assert.equal(await page.textContent('#username'), 'johndoe');
  assert.equal(await page.textContent('#items'), 'Foo', 'the API accepts the refreshed token');
  assert.notEqual((await sessionCookie())!.value, cookie.value, 'the refreshed session (and rotated refresh token) was saved');
  await shoot('05-after-refresh');

  // 6. A form POST from the app's own page (CSRF check: Sec-Fetch-Site same-origin).
  await page.getByLabel('New note').fill('Buy milk & <eggs>');
  await page.getByRole('button', { name: 'Add note' }).click();
  await page.waitForSelector('#notes li');
  assert.equal(await page.textContent('#notes li'), 'Buy milk & <eggs>', 'escaped, shown as typed');
  await shoot('06-note-added');

  // 7. The same form posted by another site is refused.
  const attacker = await startTinyServer(t, () => ({
    type: 'text/html',
    body: `<form id="f" method="post" action="${appUrl}/notes"><input name="note" value="pwned"></form><script>document.getElementById('f').submit()</script>`,
  }));
  const evil = await context.newPage();
  const refused = evil.waitForResponse((response) => response.url() === `${appUrl}/notes` && response.request().method() === 'POST');
  await evil.goto(attacker.origin);
  assert.equal((await refused).status(), 403);
  await evil.waitForLoadState();
  assert.match((await evil.textContent('h1')) ?? '', /another site/);
  await shoot('07-cross-site-post-refused', evil);
  await evil.close();
  await page.reload();
  assert.deepEqual(await page.locator('#notes li').allTextContents(), ['Buy milk & <eggs>'], 'nothing was added');

  // 8. Sign out: the app ends its session, and Gatehouse, given an id_token_hint for the current
  // session and a registered post-logout URI, asks nothing (RP-Initiated Logout 1.0 §2) and sends
  // the browser home.
  const visited: string[] = [];
  page.on('framenavigated', (frame) => {
    if (frame === page.mainFrame()) visited.push(frame.url());
  });
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(`${appUrl}/`);
  assert.ok(visited.some((url) => url.startsWith(`${gh.issuer}/logout`)), `through Gatehouse's logout: ${visited.join(' → ')}`);
  assert.ok(!visited.some((url) => url.startsWith(`${gh.issuer}/logout/confirm`) || /Sign out\?/.test(url)), 'no question on the way');
  assert.equal(await sessionCookie(), undefined, 'the session cookie is gone');
  assert.ok(await page.getByRole('link', { name: 'Sign in to see your notes' }).isVisible());
  await shoot('09-signed-out');

  // 9. Gatehouse's session ended too: the protected page asks for the password again.
  await page.goto(`${appUrl}/notes`);
  await page.waitForURL(`${gh.issuer}/interaction/**`);
  await page.getByLabel('Password').waitFor();

  assert.deepEqual(violations, [], 'no CSP violation');
  assert.deepEqual(faults.map((error) => error.message), [], 'nothing went wrong on the app\'s side');
});
