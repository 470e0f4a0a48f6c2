// The login page in a real browser (Debian chromium): the form works, errors are announced,
// and the strict CSP does not block the redirect chain back to the client after the POST
// (Chrome applies form-action to redirects that follow a form submission).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as client from 'openid-client';
import { mkdirSync } from 'node:fs';
import type { Page } from 'playwright-core';
import { launchChromium } from '@gatehouse/test-support/chromium';
import { textLayoutProblems } from '@gatehouse/test-support/layout-check';
import * as clients from '@gatehouse/server/internal/storage/clients';
import { ITEMS_API, REPO_ROOT, seedDemo, startInProcess } from '@gatehouse/test-support/gatehouse';
import { startTinyServer } from '@gatehouse/test-support/http-server';

const SCREENSHOTS = `${REPO_ROOT}test-results/login`;

/** A screenshot at desktop and phone width, and no clipped, overlapping or split text at either. */
async function checkLayout(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  for (const [label, size] of [['desktop', { width: 1280, height: 800 }], ['phone', { width: 390, height: 844 }]] as const) {
    await page.setViewportSize(size);
    await page.screenshot({ path: `${SCREENSHOTS}/${name}-${label}.png`, fullPage: true });
    assert.deepEqual(await textLayoutProblems(page), [], `${name} at ${label} width: no clipped, overlapping or split text`);
  }
}

test('a browser signs in on the login page and lands on the client with a code', async (t) => {
  const gh = await startInProcess(t, { GATEHOUSE_DEFAULT_API: ITEMS_API });
  await seedDemo(gh.db);
  // The client: a real page on another origin that receives the redirect.
  const app = await startTinyServer(t, () => ({ body: 'client callback' }));
  const REDIRECT = `${app.origin}/callback`;
  await clients.createClient(gh.db, { clientId: 'spa', name: 'Web app', public: true, firstParty: true, grantTypes: 'authorization_code', redirectUris: [REDIRECT], scopes: 'items', apis: [ITEMS_API] });
  const browser = await launchChromium(t);
  const page = await browser.newPage();
  const violations: string[] = [];
  page.on('console', (message) => {
    if (/Content Security Policy|Refused to/i.test(message.text())) violations.push(message.text());
  });
  const verifier = client.randomPKCECodeVerifier();
  const url = new URL(`${gh.issuer}/authorize`);
  for (const [k, v] of Object.entries({
    client_id: 'spa',
    response_type: 'code',
    redirect_uri: REDIRECT,
    scope: 'openid items',
    state: 'browser-state',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
  })) url.searchParams.set(k, v);

  await page.goto(url.href);
  assert.equal(await page.title(), 'Sign in · Gatehouse');
  assert.match(await page.textContent('body') ?? '', /Web app/, 'names the client');
  await checkLayout(page, '01-login');

  // A wrong password: the error is announced (role=alert) and tied to the form.
  await page.getByLabel('Username').fill('johndoe');
  await page.getByLabel('Password').fill('not the password');
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.waitForSelector('[role=alert]');
  assert.equal((await page.textContent('[role=alert]'))?.trim(), 'Invalid username or password.');
  assert.equal(await page.getByLabel('Password').getAttribute('aria-invalid'), 'true');
  assert.equal(await page.getByLabel('Username').inputValue(), 'johndoe', 'the username is kept');
  await checkLayout(page, '02-login-error');

  // The right password: through the redirect chain to the client.
  await page.getByLabel('Password').fill('correct horse');
  await Promise.all([page.waitForURL(`${REDIRECT}**`), page.getByRole('button', { name: 'Sign in', exact: true }).click()]);
  const landed = app.requests.find((request) => request.pathname === '/callback');
  assert.ok(landed, 'the browser reached the client');
  assert.equal(landed.searchParams.get('state'), 'browser-state');
  assert.ok(landed.searchParams.get('code'));
  assert.deepEqual(violations, [], 'no CSP violation');

  // The code works for the client (with the verifier only it knows).
  const config = await client.discovery(new URL(gh.issuer), 'spa', undefined, client.None(), { execute: [client.allowInsecureRequests] });
  const tokens = await client.authorizationCodeGrant(config, new URL(`${REDIRECT}${landed.search}`), { pkceCodeVerifier: verifier, expectedState: 'browser-state' });
  assert.ok(tokens.access_token);
});

test('the login page cannot be framed', async (t) => {
  const gh = await startInProcess(t, { GATEHOUSE_DEFAULT_API: ITEMS_API });
  const { webRedirectUri } = await seedDemo(gh.db);
  const url = `${gh.issuer}/authorize?client_id=web&response_type=code&redirect_uri=${encodeURIComponent(webRedirectUri)}&scope=openid&code_challenge=${'a'.repeat(43)}&code_challenge_method=S256`;
  const framer = await startTinyServer(t, () => ({ type: 'text/html', body: `<iframe id="f" src="${url}"></iframe>` }));
  const browser = await launchChromium(t);
  const page = await browser.newPage();
  const blocked = page.waitForEvent('console', { predicate: (m) => /frame-ancestors|X-Frame-Options|Refused to (display|frame)/i.test(m.text()), timeout: 10_000 });
  await page.goto(framer.origin);
  assert.ok(await blocked, 'the browser refused to frame the login page');
  const frame = page.frames().find((f) => f !== page.mainFrame());
  const framedText = frame ? await frame.evaluate(() => document.body?.innerText ?? '').catch(() => '') : '';
  assert.doesNotMatch(framedText, /Sign in/);
});
