// The admin console (/admin) in a real browser (Debian chromium via playwright-core), signed in
// through the login page as the demo administrator of `npm start`: every page is used the way an
// operator would (including editing a user's email and password, a role's scopes and an API's
// scopes), and each action is then found through the admin API and in the audit log. A second operator, whose role
// grants read scopes only, sees no write control, and a write forged with their session's token is
// refused by the admin API. Screenshots of every page, at desktop and phone width, go to
// test-results/admin-console/.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { test } from 'node:test';
import type { Page } from 'playwright-core';
import { withPasswordHashes } from '@gatehouse/server/internal/passwords/user-passwords';
import * as roles from '@gatehouse/server/internal/storage/roles';
import { createStream, findStream } from '@gatehouse/server/internal/storage/streams';
import { createUpstreamProvider, findUpstreamProvider } from '@gatehouse/server/internal/storage/upstream';
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

/** The bearer token the console sends to the admin API, as it last sent it. */
function bearerWatch(page: Page): () => string {
  let bearer: string | undefined;
  page.on('request', (request) => {
    if (request.url().includes('/admin/api/')) bearer = request.headers().authorization ?? bearer;
  });
  return () => {
    assert.ok(bearer?.startsWith('Bearer '), 'the console called the admin API with a bearer token');
    return bearer!;
  };
}

/** A GET on the admin API with the console's own token: what the console wrote, as the API reads it. */
async function adminGet(page: Page, path: string, authorization: string): Promise<any> {
  const response = await page.request.get(`${new URL(page.url()).origin}/admin/api${path}`, { headers: { authorization } });
  assert.equal(response.status(), 200, `${path}: ${await response.text()}`);
  return response.json();
}

/** Opens the fold of an edit form (its <summary>) inside `scope`. */
async function unfold(scope: Page | ReturnType<Page['locator']>, summary: string): Promise<void> {
  await scope.locator('summary', { hasText: summary }).click();
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
  const bearer = bearerWatch(page);

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
  const newRole = page.getByRole('region', { name: 'New role' });
  await newRole.getByLabel('Name', { exact: true }).fill('orders-clerk');
  await newRole.getByLabel('Scopes').fill('orders:read');
  await page.getByRole('button', { name: 'Create role' }).click();
  await page.getByText('orders-clerk', { exact: true }).waitFor();

  // Its scopes edited in place: a scope that is no RFC 6749 scope token is refused beside the field.
  const clerk = page.getByRole('listitem').filter({ has: page.getByText('orders-clerk', { exact: true }) });
  await unfold(clerk, 'Edit orders-clerk');
  await clerk.getByLabel('Scopes of orders-clerk').fill('orders:read bad"scope');
  await clerk.getByRole('button', { name: 'Save role' }).click();
  await waitFor(async () => (await clerk.getByLabel('Scopes of orders-clerk').getAttribute('aria-invalid')) === 'true', { message: 'the role\'s scopes marked invalid' });
  assert.match((await clerk.locator('.field-error').textContent()) ?? '', /scopes/);
  await clerk.getByLabel('Scopes of orders-clerk').fill('orders:read orders:write');
  await clerk.getByRole('button', { name: 'Save role' }).click();
  await clerk.getByText('orders:read orders:write', { exact: true }).waitFor();
  assert.deepEqual((await adminGet(page, '/roles/orders-clerk', bearer())).scopes.sort(), ['orders:read', 'orders:write']);
  await shoot(page, 'roles');

  // A user with that role.
  await go(page, 'Users');
  const newUser = page.getByRole('region', { name: 'New user' });
  await newUser.getByLabel('Username', { exact: true }).fill('carol');
  await newUser.getByLabel('Email').fill('carol@example.com');
  await newUser.getByLabel('Password', { exact: true }).fill('orders clerk passphrase');
  await newUser.getByLabel('Roles', { exact: true }).fill('orders-clerk');
  await page.getByRole('button', { name: 'Create user' }).click();
  await page.getByRole('cell', { name: 'carol', exact: true }).waitFor();
  await page.getByLabel('Search').fill('carol');
  await page.getByRole('button', { name: 'Open carol' }).click();
  await page.getByRole('heading', { name: 'User carol' }).waitFor();

  // Her email changed and marked verified.
  const carolPanel = page.getByRole('region', { name: 'User carol' });
  await unfold(carolPanel, 'Edit email');
  // Another user's address: the API's conflict is shown beside the field.
  await carolPanel.getByLabel('Email of this user').fill('johndoe@example.com');
  await carolPanel.getByRole('button', { name: 'Save email' }).click();
  await waitFor(async () => (await carolPanel.getByLabel('Email of this user').getAttribute('aria-invalid')) === 'true', { message: 'the taken address marked invalid' });
  assert.match((await carolPanel.locator('#field-email-user-error').textContent()) ?? '', /another user has this email address/);
  await carolPanel.getByLabel('Email of this user').fill('carol.new@example.com');
  await carolPanel.getByLabel('Email verified').check();
  await carolPanel.getByRole('button', { name: 'Save email' }).click();
  await carolPanel.getByText(/email carol\.new@example\.com \(verified\)/).waitFor();
  const carolRead = await adminGet(page, '/users/carol', bearer());
  assert.equal(carolRead.email, 'carol.new@example.com');
  assert.equal(carolRead.email_verified, true);

  // A password set for her: typed twice, the server's refusal of a common one shown, then set.
  await unfold(carolPanel, 'Set password');
  const newPassword = 'carol chose this one herself';
  await carolPanel.getByLabel('New password', { exact: true }).fill(newPassword);
  await carolPanel.getByLabel('New password again').fill(`${newPassword}!`);
  await carolPanel.getByRole('button', { name: 'Save password' }).click();
  await waitFor(async () => (await carolPanel.getByLabel('New password again').getAttribute('aria-invalid')) === 'true', { message: 'the second copy marked invalid' });
  assert.match((await carolPanel.locator('#field-password_again-user-error').textContent()) ?? '', /differ/);
  await carolPanel.getByLabel('New password', { exact: true }).fill('password123');
  await carolPanel.getByLabel('New password again').fill('password123');
  await carolPanel.getByRole('button', { name: 'Save password' }).click();
  await waitFor(async () => (await carolPanel.getByLabel('New password', { exact: true }).getAttribute('aria-invalid')) === 'true', { message: 'the common password marked invalid' });
  assert.match((await carolPanel.locator('#field-password-user-error').textContent()) ?? '', /common passwords/);
  await carolPanel.getByLabel('New password', { exact: true }).fill(newPassword);
  await carolPanel.getByLabel('New password again').fill(newPassword);
  await carolPanel.getByRole('button', { name: 'Save password' }).click();
  await carolPanel.getByText('Password set; the sessions of carol have ended.').waitFor();
  await shoot(page, 'users');

  // She signs in with it on the login page (her roles grant no admin scope: the console says so).
  const carolPage = await (await browser.newContext({ viewport: VIEWPORTS.desktop })).newPage();
  await carolPage.goto(`${gh.issuer}/admin`);
  await carolPage.getByLabel('Username').fill('carol');
  await carolPage.getByLabel('Password').fill(newPassword);
  await carolPage.getByRole('button', { name: 'Sign in', exact: true }).click();
  await carolPage.getByText('Your account holds no admin scope').waitFor({ timeout: 10_000 });
  await carolPage.context().close();

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

  // The API's scopes edited: one described, one removed, one added; a bad name refused on its row.
  await go(page, 'APIs');
  const orders = page.getByRole('listitem').filter({ has: page.getByText(ORDERS, { exact: true }) });
  await unfold(orders, 'Edit scopes of Orders');
  await orders.getByLabel('Description of scope 1').fill('Read orders');
  await orders.getByRole('button', { name: 'Remove scope 2' }).click();
  await orders.getByRole('button', { name: 'Add scope' }).click();
  await orders.getByLabel('Name of scope 2').fill('orders admin');
  await orders.getByRole('button', { name: 'Save scopes' }).click();
  await waitFor(async () => (await orders.getByLabel('Name of scope 2').getAttribute('aria-invalid')) === 'true', { message: 'the bad scope name marked invalid' });
  assert.match((await orders.locator('.field-error').textContent()) ?? '', /scopes\[1\]\.name/);
  await orders.getByLabel('Name of scope 2').fill('orders:admin');
  await orders.getByLabel('Description of scope 2').fill('Cancel and refund orders');
  await orders.getByRole('button', { name: 'Save scopes' }).click();
  await orders.getByRole('listitem').filter({ hasText: 'orders:admin Cancel and refund orders' }).waitFor();
  const ordersRead = (await adminGet(page, `/apis?identifier=${encodeURIComponent(ORDERS)}`, bearer())).items[0];
  const byName = (a: { name: string }, b: { name: string }) => a.name.localeCompare(b.name);
  assert.deepEqual(ordersRead.scopes.sort(byName), [{ name: 'orders:admin', description: 'Cancel and refund orders' }, { name: 'orders:read', description: 'Read orders' }]);
  await shoot(page, 'apis-edited');

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

  // Sign-in providers: listed, and no longer offered once disabled.
  await createUpstreamProvider(gh.db, { id: 'corp', name: 'Corp SSO', kind: 'oidc', issuer: 'https://sso.corp.example', clientId: 'gatehouse', clientSecret: 'corp-client-secret' });
  await go(page, 'Sign-in providers');
  await page.getByRole('cell', { name: 'https://sso.corp.example' }).waitFor();
  await confirm(page, 'Disable Corp SSO');
  await page.getByRole('button', { name: 'Enable Corp SSO', exact: true }).waitFor();
  assert.equal((await findUpstreamProvider(gh.db, 'corp'))?.enabled, false);
  assert.doesNotMatch(await page.locator('main').innerText(), /corp-client-secret/);
  await shoot(page, 'providers');

  // Event streams: an API's stream, paused.
  const stream = await createStream(gh.db, { clientId: 'items-api', deliveryMethod: 'poll', eventsRequested: ['https://schemas.openid.net/secevent/caep/event-type/session-revoked'], description: 'the items API' });
  await go(page, 'Event streams');
  await page.getByRole('cell', { name: 'items-api the items API' }).waitFor();
  await confirm(page, 'Pause items-api');
  await page.getByRole('button', { name: 'Resume items-api', exact: true }).waitFor();
  assert.equal((await findStream(gh.db, stream.id))?.status, 'paused');
  await shoot(page, 'streams');

  // Each action in the audit log, by the admin, found through the filters.
  const admin = (await users.findUser(gh.db, DEMO.adminUsername))!;
  await go(page, 'Audit log');
  await page.getByLabel('Actor').fill(admin.id);
  for (const action of ['api.created', 'role.created', 'user.created', 'client.created', 'api_key.created', 'api_key.revoked', 'signing_key.rotation_scheduled', 'user.disabled', 'user.updated', 'user.password_set', 'role.updated', 'api.updated']) {
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
  // The password change names its target, never the password.
  const passwordSet = await adminGet(page, `/audit-events?type=user.password_set&actor_id=${admin.id}`, bearer());
  assert.ok(passwordSet.items.some((e: any) => e.outcome === 'success' && e.target?.id === carol!.id), JSON.stringify(passwordSet.items));
  assert.doesNotMatch(JSON.stringify(passwordSet.items), /carol chose|password123/);
  assert.deepEqual(violations, [], 'no CSP violation');
});

test('an operator with read scopes only sees no write control, and a write forged from their session is refused', async (t) => {
  const gh = await startInProcess(t, {});
  await ensureDemoData(gh.db);
  const reads = ['users', 'roles', 'apis', 'clients', 'api-keys', 'keys', 'audit', 'providers', 'streams'].map((r) => `admin:${r}:read`);
  await roles.createRole(gh.db, { name: 'auditor', scopes: reads.join(' ') });
  await users.importUsers(gh.db, await withPasswordHashes([{ username: 'olive', password: 'read only operator', roles: ['auditor'] }]));
  const browser = await launchChromium(t);
  const page = await (await browser.newContext({ viewport: VIEWPORTS.desktop })).newPage();
  const violations = cspWatch(page);
  const bearer = bearerWatch(page);

  await openConsole(page, gh.issuer, 'olive', 'read only operator');
  for (const title of ['Users', 'Roles', 'APIs', 'Clients', 'API keys', 'Signing keys', 'Sign-in providers', 'Event streams', 'Audit log']) {
    await go(page, title);
    await page.locator('main .panel').first().waitFor();
    await page.waitForLoadState('networkidle');
    const writes = page.getByRole('button', { name: /^(Create|Delete|Revoke|Rotate|Disable|Enable|End sessions|Reset|Save|Set|Add|Remove)/ });
    // Edit forms fold under a <summary> ("Edit …", "Set password"): none at all for this operator.
    const edits = page.locator('summary');
    assert.equal(await writes.count(), 0, `${title}: no write control`);
    assert.equal(await edits.count(), 0, `${title}: no edit form`);
    assert.equal(await page.locator('form').count(), 0, `${title}: no form`);
    if (title === 'Users') {
      await page.getByRole('button', { name: 'Open johndoe' }).click();
      await page.getByRole('heading', { name: 'User johndoe' }).waitFor();
      assert.equal(await writes.count(), 0, 'no write control on a user');
      assert.equal(await edits.count(), 0, 'no email or password form on a user');
      assert.equal(await page.getByLabel(/Email of this user|New password/).count(), 0, 'no email or password field');
    }
    await shoot(page, `read-only-${title.toLowerCase().replace(' ', '-')}`);
  }

  // The session's own token, used for a write the console never offered: refused by the API.
  const forged = await page.evaluate(async (authorization) => {
    const response = await fetch('/admin/api/users', { method: 'POST', headers: { authorization, 'content-type': 'application/json' }, body: JSON.stringify({ username: 'mallory', roles: ['gatehouse-admin'] }) });
    return { status: response.status, body: await response.json() };
  }, bearer());
  assert.equal(forged.status, 403);
  assert.equal(forged.body.error, 'insufficient_scope');
  assert.equal(await users.findUser(gh.db, 'mallory'), undefined);
  assert.deepEqual(violations, [], 'no CSP violation');
});
