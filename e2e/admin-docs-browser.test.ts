// The admin API's Swagger UI signs in through Gatehouse itself (issue 13): Authorize on /admin/docs
// opens this server's login page (authorization code + PKCE as the built-in first-party client
// gatehouse-admin-docs, engine/admin-docs-client.ts), and the page then calls the admin API with
// the token — no pasted token, no secret. What the token carries follows the user's roles. The
// page keeps its strict CSP: no violation in the console.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { test } from 'node:test';
import { withPasswordHash } from '@gatehouse/server/internal/passwords/user-passwords';
import * as users from '@gatehouse/server/internal/storage/users';
import { launchChromium } from '@gatehouse/test-support/chromium';
import { startInProcess, REPO_ROOT } from '@gatehouse/test-support/gatehouse';
import { assertAuthorizeDialogAtTop, documentedExample } from '@gatehouse/test-support/swagger-ui';

test('/admin/docs: Authorize signs in on the Gatehouse login page with PKCE, then the admin API answers from the page', async (t) => {
  const gh = await startInProcess(t);
  // gatehouse-admin (migration 006) grants every admin scope; a reader gets the read scopes only.
  await users.createUser(gh.db, await withPasswordHash({ username: 'ops', password: 'a long passphrase', roles: ['gatehouse-admin'] }));

  const browser = await launchChromium(t);
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const screenshots = `${REPO_ROOT}test-results/admin-docs`;
  mkdirSync(screenshots, { recursive: true });

  // A strict CSP that the page itself keeps: no violation reported in the console.
  const violations: string[] = [];
  page.on('console', (message) => {
    if (/Content Security Policy/.test(message.text())) violations.push(message.text());
  });
  await page.goto(`${gh.issuer}/admin/docs`);
  await page.locator('button.authorize').first().click();
  const codeFlow = page.locator('.auth-container', { hasText: 'authorizationCode' });
  await codeFlow.waitFor();
  // At the sign-in, not scrolled down to the API key field below it.
  await assertAuthorizeDialogAtTop(page);
  assert.equal(await codeFlow.locator('input#client_id_authorizationCode').inputValue(), 'gatehouse-admin-docs', 'the built-in client is preset');
  assert.equal(await codeFlow.locator('input#client_secret_authorizationCode').inputValue(), '', 'no secret in the browser');
  assert.match((await codeFlow.textContent()) ?? '', /authorizationCode with PKCE/);

  const [popup] = await Promise.all([context.waitForEvent('page'), codeFlow.getByRole('button', { name: 'Apply given OAuth2 credentials' }).click()]);
  await popup.waitForLoadState();
  assert.ok(popup.url().startsWith(`${gh.issuer}/interaction/`), `the login page, got ${popup.url()}`);
  await popup.getByLabel('Username').fill('ops');
  await popup.getByLabel('Password').fill('a long passphrase');
  // First-party: no consent page; the redirect page hands the code back and closes itself.
  await Promise.all([popup.waitForEvent('close'), popup.getByRole('button', { name: 'Sign in', exact: true }).click()]);
  await codeFlow.getByRole('button', { name: 'Remove authorization' }).waitFor({ timeout: 15_000 }).catch(async (error: Error) => assert.fail(`${error.message}: ${await page.locator('.modal-ux').textContent()}`));
  await page.screenshot({ path: `${screenshots}/authorized.png` });
  await page.locator('.modal-ux button.close-modal').click();

  // GET /admin/api/users from the page, with the token Swagger UI got.
  const block = page.locator('.opblock', { has: page.locator('[data-path="/admin/api/users"]') }).filter({ has: page.locator('.opblock-summary-method', { hasText: 'GET' }) }).first();
  await block.locator('.opblock-summary').first().click();
  await block.getByRole('button', { name: 'Try it out' }).click();
  await block.getByRole('button', { name: 'Execute' }).click();
  const status = block.locator('.live-responses-table .response .response-col_status').first();
  await status.waitFor();
  assert.equal((await status.textContent())!.trim().split(/\s+/)[0], '200');
  const body = (await block.locator('.live-responses-table .response .highlight-code').first().textContent()) ?? '';
  assert.match(body, /"username": "ops"/, 'the admin API answered with its users');
  // The documented answer shows a realistic page of users (issue 13), not `"string"` placeholders.
  const documented = (await documentedExample(block, '200')) ?? '';
  assert.match(documented, /"username": "johndoe"/);
  assert.doesNotMatch(documented, /"string"/);
  await page.screenshot({ path: `${screenshots}/users-200.png`, fullPage: true });
  assert.deepEqual(violations, [], 'no CSP violation on /admin/docs');
});
