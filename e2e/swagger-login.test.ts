// Swagger UI that logs in (issue #3's browser test): the items API's /docs, Authorize with
// authorization code + PKCE against the Gatehouse login page as johndoe, then calls from the page.
// A route within the user's scopes answers 200; one outside them answers 403.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { test } from 'node:test';
import * as apis from '@gatehouse/server/internal/storage/apis';
import * as clients from '@gatehouse/server/internal/storage/clients';
import * as roles from '@gatehouse/server/internal/storage/roles';
import { withPasswordHash } from '@gatehouse/server/internal/passwords/user-passwords';
import * as users from '@gatehouse/server/internal/storage/users';
import { buildItemsApi } from '@gatehouse/example-items-api/app';
import { launchChromium } from '@gatehouse/test-support/chromium';
import { startInProcess, REPO_ROOT } from '@gatehouse/test-support/gatehouse';
import { freePort } from '@gatehouse/test-support/ports';
import { assertAuthorizeDialogAtTop, documentedExample } from '@gatehouse/test-support/swagger-ui';

test('Swagger UI: Authorize with PKCE on the Gatehouse login page, then 200 within scope and 403 outside it', async (t) => {
  const apiPort = await freePort();
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  const gh = await startInProcess(t);
  await apis.createApi(gh.db, { identifier: apiUrl, name: 'Items API', scopes: 'me items accounts:read' });
  await roles.createRole(gh.db, { name: 'user', scopes: 'me items' });
  await users.createUser(gh.db, await withPasswordHash({ username: 'johndoe', password: 'correct horse', roles: ['user'] }));
  await clients.createClient(gh.db, {
    clientId: 'docs',
    name: 'Items API docs',
    public: true,
    grantTypes: 'authorization_code',
    redirectUris: [`${apiUrl}/docs/static/oauth2-redirect.html`],
    corsOrigins: [apiUrl],
    scopes: 'me items accounts:read',
    apis: [apiUrl],
    firstParty: true,
  });

  const api = await buildItemsApi({ issuer: gh.issuer, publicUrl: apiUrl, docsClientId: 'docs' });
  await api.listen({ port: apiPort, host: '127.0.0.1' });
  t.after(() => api.close());

  const browser = await launchChromium(t);
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const screenshots = `${REPO_ROOT}test-results/swagger-login`;
  mkdirSync(screenshots, { recursive: true });

  await page.goto(`${apiUrl}/docs`);
  await page.locator('button.authorize').first().click();
  const codeFlow = page.locator('.auth-container', { hasText: 'authorizationCode' });
  await codeFlow.waitFor();
  await assertAuthorizeDialogAtTop(page);
  assert.equal(await codeFlow.locator('input#client_id_authorizationCode').inputValue(), 'docs', 'the public client id is preset');
  // Swagger UI always shows a secret field for this flow; with PKCE it stays empty: no secret in the browser.
  assert.equal(await codeFlow.locator('input#client_secret_authorizationCode').inputValue(), '');
  assert.match(await codeFlow.textContent() ?? '', /authorizationCode with PKCE/);

  // Authorize opens the Gatehouse login page in a popup.
  const [popup] = await Promise.all([context.waitForEvent('page'), codeFlow.getByRole('button', { name: 'Apply given OAuth2 credentials' }).click()]);
  await popup.waitForLoadState();
  assert.ok(popup.url().startsWith(`${gh.issuer}/interaction/`), `the login page, got ${popup.url()}`);
  await popup.getByLabel('Username').fill('johndoe');
  await popup.getByLabel('Password').fill('correct horse');
  // The redirect page hands the code to Swagger UI through window.opener and closes itself.
  await Promise.all([popup.waitForEvent('close'), popup.getByRole('button', { name: 'Sign in', exact: true }).click()]);

  // Back in Swagger UI: the scheme shows as authorized (the code was exchanged with PKCE).
  await codeFlow.getByRole('button', { name: 'Remove authorization' }).waitFor({ timeout: 15_000 });
  assert.match(await codeFlow.textContent() ?? '', /Authorized/);
  // Only the flow used: the password flow is a scheme of its own, still waiting for credentials.
  const passwordFlow = page.locator('.auth-container', { hasText: 'Flow: password' });
  assert.doesNotMatch(await passwordFlow.textContent() ?? '', /Authorized/);
  assert.equal(await passwordFlow.locator('#oauth_username').count(), 1, 'the password flow still asks for a username');
  await page.screenshot({ path: `${screenshots}/authorized.png` });
  await page.locator('.modal-ux button.close-modal').click();

  async function execute(operationPath: string, fill?: (block: ReturnType<typeof page.locator>) => Promise<void>): Promise<string> {
    const block = page.locator('.opblock', { has: page.locator(`[data-path="${operationPath}"]`) }).first();
    await block.locator('.opblock-summary').first().click();
    await block.getByRole('button', { name: 'Try it out' }).click();
    if (fill) await fill(block);
    await block.getByRole('button', { name: 'Execute' }).click();
    const status = block.locator('.live-responses-table .response .response-col_status').first();
    await status.waitFor();
    return (await status.textContent())!.trim().split(/\s+/)[0]!;
  }

  assert.equal(await execute('/users/me/items/'), '200');
  // The documented answers show realistic bodies (issue 13), not Swagger UI's `"string"` placeholders.
  const items = page.locator('.opblock', { has: page.locator('[data-path="/users/me/items/"]') }).first();
  assert.match((await documentedExample(items, '200')) ?? '', /"item_id": "Foo"/);
  assert.match((await documentedExample(items, '403')) ?? '', /"error": "insufficient_scope"[\s\S]*"scope": "items"/);
  await page.screenshot({ path: `${screenshots}/items-200.png`, fullPage: true });
  const forbidden = await execute('/accounts/{username}', async (block) => {
    await block.locator('input[placeholder="username"]').fill('alice');
  });
  assert.equal(forbidden, '403', 'accounts:read is not among johndoe\'s scopes');
});

// Scenario 1: Swagger UI's password flow, every setting left at Swagger UI's default. Its default
// "Client credentials location" is the Authorization header: `Basic base64("docs:")` for a public
// client, which the server takes as the client naming itself (engine/public-client-basic.ts).
test('Swagger UI: the password flow with Swagger UI\'s defaults (HTTP Basic, empty secret), then 200 within scope', async (t) => {
  const apiPort = await freePort();
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  // As in the demo: the password grant's form carries no `resource` (Swagger UI puts it in the token
  // URL's query, which a POST's parameters do not include), so the default API names the audience.
  const gh = await startInProcess(t, { GATEHOUSE_DEFAULT_API: apiUrl });
  await apis.createApi(gh.db, { identifier: apiUrl, name: 'Items API', scopes: 'me items accounts:read' });
  await roles.createRole(gh.db, { name: 'user', scopes: 'me items' });
  await users.createUser(gh.db, await withPasswordHash({ username: 'johndoe', password: 'correct horse', roles: ['user'] }));
  await clients.createClient(gh.db, {
    clientId: 'docs',
    name: 'Items API docs',
    public: true,
    grantTypes: 'authorization_code password',
    redirectUris: [`${apiUrl}/docs/static/oauth2-redirect.html`],
    corsOrigins: [apiUrl],
    scopes: 'me items accounts:read',
    apis: [apiUrl],
    firstParty: true,
  });
  const api = await buildItemsApi({ issuer: gh.issuer, publicUrl: apiUrl, docsClientId: 'docs' });
  await api.listen({ port: apiPort, host: '127.0.0.1' });
  t.after(() => api.close());

  const browser = await launchChromium(t);
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  const tokenRequests: { authorization: string | undefined; body: string }[] = [];
  page.on('request', (request) => {
    if (request.method() === 'POST' && request.url().startsWith(`${gh.issuer}/token`)) tokenRequests.push({ authorization: request.headers().authorization, body: request.postData() ?? '' });
  });
  await page.goto(`${apiUrl}/docs`);
  await page.locator('button.authorize').first().click();
  const passwordFlow = page.locator('.auth-container', { hasText: 'Flow: password' });
  await passwordFlow.waitFor();
  await passwordFlow.locator('#oauth_username').fill('johndoe');
  await passwordFlow.locator('#oauth_password').fill('correct horse');
  // Nothing else touched: the client id is preset, the secret empty, the location the default header.
  assert.equal(await passwordFlow.locator('#client_id_password').inputValue(), 'docs');
  assert.equal(await passwordFlow.locator('#client_secret_password').inputValue(), '');
  assert.equal(await passwordFlow.locator('#password_type').inputValue(), 'basic');
  await passwordFlow.getByRole('button', { name: 'Apply given OAuth2 credentials' }).click();
  await passwordFlow.getByRole('button', { name: 'Remove authorization' }).waitFor({ timeout: 15_000 });
  // The authorization-code flow, a scheme of its own, is not shown as authorized by this login.
  const codeFlow = page.locator('.auth-container', { hasText: 'authorizationCode' });
  assert.doesNotMatch(await codeFlow.textContent() ?? '', /Authorized/);
  assert.equal(await codeFlow.getByRole('button', { name: 'Remove authorization' }).count(), 0);

  // Swagger UI sent what its defaults send: the public client in HTTP Basic with an empty secret.
  assert.equal(tokenRequests.length, 1);
  assert.equal(tokenRequests[0]!.authorization, `Basic ${Buffer.from('docs:').toString('base64')}`);
  assert.doesNotMatch(tokenRequests[0]!.body, /client_id|client_secret/);
  await page.locator('.modal-ux button.close-modal').click();

  const block = page.locator('.opblock', { has: page.locator('[data-path="/users/me/items/"]') }).first();
  await block.locator('.opblock-summary').first().click();
  await block.getByRole('button', { name: 'Try it out' }).click();
  await block.getByRole('button', { name: 'Execute' }).click();
  const status = block.locator('.live-responses-table .response .response-col_status').first();
  await status.waitFor();
  assert.equal((await status.textContent())!.trim().split(/\s+/)[0], '200');
});
