// The admin console (/admin) in a real browser (Debian chromium via playwright-core), signed in
// through the login page as the demo administrator of `npm start`: every page is used the way an
// operator would, and each action is then found in the audit log. A second operator, whose role
// grants read scopes only, sees no write control, and a write forged with their session's token is
// refused by the admin API. Screenshots of every page, at desktop and phone width, go to
// test-results/admin-console/.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { test } from 'node:test';
import type { Page } from 'playwright-core';
import { withPasswordHashes } from '@gatehouse/server/internal/passwords/user-passwords';
import * as roles from '@gatehouse/server/internal/storage/roles';
import * as users from '@gatehouse/server/internal/storage/users';
import { launchChromium } from '@gatehouse/test-support/chromium';
import { REPO_ROOT, startInProcess, tokenRequest } from '@gatehouse/test-support/gatehouse';
import { waitFor } from '@gatehouse/test-support/wait';
import { DEMO, ensureDemoData } from '../scripts/demo-data.ts';

const SCREENSHOTS = `${REPO_ROOT}test-results/admin-console`;
const VIEWPORTS = { desktop: { width: 1280, height: 800 }, phone: { width: 390, height: 844 } } as const;
const ORDERS = 'https://orders.example.com';

async function shoot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  for (const [label, size] of Object.entries(VIEWPORTS)) {
    await page.setViewportSize(size);
    await page.screenshot({ path: `${SCREENSHOTS}/${name}-${label}.png`, fullPage: true });
    if (label === 'phone') {
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `${name}: the page is ${overflow}px wider than a phone screen`);
    }
  }
  await page.setViewportSize(VIEWPORTS.desktop);
}

async function openConsole(page: Page, issuer: string, username: string, password: string): Promise<void> {
  await page.goto(`${issuer}/admin`);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await Promise.all([page.waitForURL(`${issuer}/admin#**`), page.getByRole('button', { name: 'Sign in', exact: true }).click()]).catch(async () => {
    await page.waitForURL(`${issuer}/admin**`);
  });
  await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor({ timeout: 10_000 }).catch(async (error: Error) => {
    throw new Error(`${error.message}\n${page.url()}\n${await page.locator('body').innerText()}`);
  });
}

async function go(page: Page, title: string): Promise<void> {
  await page.getByRole('navigation', { name: 'Admin console' }).getByRole('link', { name: title, exact: true }).click();
  await page.getByRole('heading', { level: 1, name: title }).waitFor();
}

async function confirm(page: Page, label: string): Promise<void> {
  await page.getByRole('button', { name: label, exact: true }).first().click();
  await page.getByRole('dialog').getByRole('button', { name: `Yes, ${label.toLowerCase()}` }).click();
}

function cspWatch(page: Page): string[] {
  const violations: string[] = [];
  page.on('console', (message) => {
    if (/Content Security Policy|Refused to/i.test(message.text())) violations.push(message.text());
  });
  return violations;
}

test('the demo admin manages APIs, roles, users, clients, API keys and signing keys, and finds each action in the audit log', async (t) => {
  const gh = await startInProcess(t, { GATEHOUSE_BRAND_NAME: 'Acme ID', GATEHOUSE_BRAND_COLOR: '#0b6e4f' });
  await ensureDemoData(gh.db);
  const browser = await launchChromium(t);
  const page = await (await browser.newContext({ viewport: VIEWPORTS.desktop })).newPage();
  const violations = cspWatch(page);

  // Signed in on the login page, as the built-in first-party client: no consent page.
  await openConsole(page, gh.issuer, DEMO.adminUsername, DEMO.adminPassword);
  await waitFor(async () => (await page.title()) === 'Overview · Admin · Acme ID', { message: 'the page titled' });
  const csp = (await page.request.get(`${gh.issuer}/admin`)).headers()['content-security-policy'] ?? '';
  assert.match(csp, /script-src 'self'/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  await shoot(page, 'overview');

  // An API with scopes; the API's refusal of a bad identifier is shown beside that field.
  await go(page, 'APIs');
  await page.getByLabel('Identifier').fill('not a url');
  await page.getByLabel('Name', { exact: true }).fill('Orders');
  await page.getByLabel('Scopes').fill('orders:read orders:write');
  await page.getByRole('button', { name: 'Create API' }).click();
  await waitFor(async () => (await page.getByLabel('Identifier').getAttribute('aria-invalid')) === 'true', { message: 'the identifier marked invalid' });
  assert.match((await page.locator('#field-identifier-error').textContent()) ?? '', /identifier|URL/i);
  await page.getByLabel('Identifier').fill(ORDERS);
  await page.getByRole('button', { name: 'Create API' }).click();
  await page.getByText(ORDERS, { exact: true }).waitFor();
  await shoot(page, 'apis');

  // A role granting one of its scopes.
  await go(page, 'Roles');
  await page.getByLabel('Name', { exact: true }).fill('orders-clerk');
  await page.getByLabel('Scopes').fill('orders:read');
  await page.getByRole('button', { name: 'Create role' }).click();
  await page.getByText('orders-clerk', { exact: true }).waitFor();
  await shoot(page, 'roles');

  // A user with that role.
  await go(page, 'Users');
  await page.getByLabel('Username', { exact: true }).fill('carol');
  await page.getByLabel('Email').fill('carol@example.com');
  await page.getByLabel('Password', { exact: true }).fill('orders clerk passphrase');
  await page.getByLabel('Roles', { exact: true }).fill('orders-clerk');
  await page.getByRole('button', { name: 'Create user' }).click();
  await page.getByRole('cell', { name: 'carol', exact: true }).waitFor();
  await page.getByLabel('Search').fill('carol');
  await page.getByRole('button', { name: 'Open carol' }).click();
  await page.getByRole('heading', { name: 'User carol' }).waitFor();
  await shoot(page, 'users');

  // A confidential client: its secret is shown once, and it works.
  await go(page, 'Clients');
  const newClient = page.getByRole('region', { name: 'New client' });
  await newClient.getByLabel('Name', { exact: true }).fill('Orders service');
  await newClient.getByLabel('Grant types').fill('client_credentials');
  await newClient.getByLabel('APIs').fill(ORDERS);
  await newClient.getByLabel('Scopes').fill('orders:read');
  await page.getByRole('button', { name: 'Create client' }).click();
  const shown = page.getByTestId('secret');
  await shown.waitFor();
  const secret = (await shown.textContent())!;
  const clientId = /Secret of ([^\s:]+)/.exec((await page.getByRole('status').textContent()) ?? '')![1]!;
  const token = await tokenRequest(gh.issuer, { grant_type: 'client_credentials', resource: ORDERS }, { clientId, clientSecret: secret });
  assert.equal(token.status, 200, JSON.stringify(token.body));
  assert.equal(token.body.scope, 'orders:read');
  await shoot(page, 'clients');

  // A web client told of logouts (Back-Channel Logout): the URI is kept and shown; a bad one is
  // refused on its field.
  await newClient.getByLabel('Name', { exact: true }).fill('Orders web');
  await newClient.getByLabel('Grant types').fill('authorization_code');
  await newClient.getByLabel('Redirect URIs').fill('https://orders.example.com/cb');
  await newClient.getByLabel('Back-channel logout URI').fill('http://orders.example.com/bcl');
  await page.getByRole('button', { name: 'Create client' }).click();
  await newClient.getByText('backchannel_logout_uri must use https').waitFor();
  await newClient.getByLabel('Back-channel logout URI').fill('https://orders.example.com/bcl');
  await page.getByRole('button', { name: 'Create client' }).click();
  await page.getByText('Back-channel logout: https://orders.example.com/bcl').waitFor();

  // An API key for that client, shown once; then revoked.
  await go(page, 'API keys');
  await page.getByLabel('Owner', { exact: true }).fill(clientId);
  await page.getByLabel('API', { exact: true }).fill(ORDERS);
  await page.getByLabel('Scopes').fill('orders:read');
  await page.getByLabel('Key name').fill('orders-key');
  await page.getByRole('button', { name: 'Create API key' }).click();
  await page.getByTestId('secret').waitFor();
  assert.match((await page.getByTestId('secret').textContent()) ?? '', /\S{20,}/);
  await page.getByRole('cell', { name: 'orders-key' }).waitFor();
  await confirm(page, 'Revoke key');
  await page.getByRole('cell', { name: /^revoked/ }).waitFor();
  await shoot(page, 'api-keys');

  // Signing keys: a rotation scheduled, the next key listed.
  await go(page, 'Signing keys');
  await confirm(page, 'Rotate ES256');
  await page.getByRole('cell', { name: 'next', exact: true }).waitFor();
  await shoot(page, 'signing-keys');

  // The user disabled.
  await go(page, 'Users');
  await page.getByRole('button', { name: 'Open carol' }).click();
  await confirm(page, 'Disable user');
  await page.getByText(/; disabled;/).waitFor();
  const carol = await users.findUser(gh.db, 'carol');
  assert.equal(carol?.disabled, true);

  // Each action in the audit log, by the admin, found through the filters.
  const admin = (await users.findUser(gh.db, DEMO.adminUsername))!;
  await go(page, 'Audit log');
  await page.getByLabel('Actor').fill(admin.id);
  for (const action of ['api.created', 'role.created', 'user.created', 'client.created', 'api_key.created', 'api_key.revoked', 'signing_key.rotation_scheduled', 'user.disabled']) {
    await page.getByLabel('Action').fill(action);
    await page.getByRole('cell', { name: action, exact: true }).first().waitFor();
    await waitFor(async () => (await page.locator('tbody tr').allTextContents()).every((row) => row.includes(action)), { message: `only ${action} events` });
    assert.ok((await page.locator('tbody tr').allTextContents()).some((row) => row.includes(`${action}success`)), `${action} succeeded`);
  }
  // The failed API creation is there too.
  await page.getByLabel('Action').fill('api.created');
  await page.getByRole('cell', { name: 'failure' }).first().waitFor();
  await page.getByLabel('Action').fill('');
  await shoot(page, 'audit');
  assert.deepEqual(violations, [], 'no CSP violation');
});

test('an operator with read scopes only sees no write control, and a write forged from their session is refused', async (t) => {
  const gh = await startInProcess(t, {});
  await ensureDemoData(gh.db);
  const reads = ['users', 'roles', 'apis', 'clients', 'api-keys', 'keys', 'audit'].map((r) => `admin:${r}:read`);
  await roles.createRole(gh.db, { name: 'auditor', scopes: reads.join(' ') });
  await users.importUsers(gh.db, await withPasswordHashes([{ username: 'olive', password: 'read only operator', roles: ['auditor'] }]));
  const browser = await launchChromium(t);
  const page = await (await browser.newContext({ viewport: VIEWPORTS.desktop })).newPage();
  const violations = cspWatch(page);
  let bearer: string | undefined;
  page.on('request', (request) => {
    if (request.url().includes('/admin/api/')) bearer = request.headers().authorization ?? bearer;
  });

  await openConsole(page, gh.issuer, 'olive', 'read only operator');
  for (const title of ['Users', 'Roles', 'APIs', 'Clients', 'API keys', 'Signing keys', 'Audit log']) {
    await go(page, title);
    await page.locator('main .panel').first().waitFor();
    await page.waitForLoadState('networkidle');
    const writes = page.getByRole('button', { name: /^(Create|Delete|Revoke|Rotate|Disable|Enable|End sessions|Reset|Save)/ });
    assert.equal(await writes.count(), 0, `${title}: no write control`);
    assert.equal(await page.locator('form').count(), 0, `${title}: no form`);
    if (title === 'Users') {
      await page.getByRole('button', { name: 'Open johndoe' }).click();
      await page.getByRole('heading', { name: 'User johndoe' }).waitFor();
      assert.equal(await writes.count(), 0, 'no write control on a user');
    }
    await shoot(page, `read-only-${title.toLowerCase().replace(' ', '-')}`);
  }

  // The session's own token, used for a write the console never offered: refused by the API.
  assert.ok(bearer?.startsWith('Bearer '), 'the console called the admin API with a bearer token');
  const forged = await page.evaluate(async (authorization) => {
    const response = await fetch('/admin/api/users', { method: 'POST', headers: { authorization, 'content-type': 'application/json' }, body: JSON.stringify({ username: 'mallory', roles: ['gatehouse-admin'] }) });
    return { status: response.status, body: await response.json() };
  }, bearer!);
  assert.equal(forged.status, 403);
  assert.equal(forged.body.error, 'insufficient_scope');
  assert.equal(await users.findUser(gh.db, 'mallory'), undefined);
  assert.deepEqual(violations, [], 'no CSP violation');
});
