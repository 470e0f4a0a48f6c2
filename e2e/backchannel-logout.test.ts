// Back-channel logout end to end (issue 16): `gatehouse serve` in its own process, configured with
// the CLI as an operator would, and the example notes web app (examples/web-app, the SDK's web-app
// helper with `backchannelLogout: true`) listening on its own port. A visitor signs in to the app
// through the Gatehouse login page, then signs out at Gatehouse itself (not through the app): the
// app's session cookie stops giving access, because Gatehouse POSTed a logout token to the app.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildNotesApp } from '@gatehouse/example-web-app/app';
import { createBrowser, formValue, loginThroughForm, type Browser } from '@gatehouse/test-support/browser';
import { tempDir } from '@gatehouse/test-support/files';
import { cli, startProcess } from '@gatehouse/test-support/gatehouse';
import { freePort } from '@gatehouse/test-support/ports';
import { waitFor } from '@gatehouse/test-support/wait';

const SECRET = 'an e2e cookie secret, long enough: 0123456789';

test('signing out at Gatehouse ends the web app\'s session through back-channel logout', async (t) => {
  const dir = tempDir(t);
  const env = { GATEHOUSE_DATABASE_URL: `sqlite:${join(dir, 'gatehouse.db')}` };
  const mustRun = (...args: string[]) => {
    const result = cli(env, [...args, '--json']);
    assert.equal(result.code, 0, `gatehouse ${args.join(' ')} failed: ${result.stderr}`);
    return result.json;
  };
  // The items API is named but not running: the notes page says so and still renders.
  const api = `http://127.0.0.1:${await freePort()}`;
  const appPort = await freePort();
  const appUrl = `http://localhost:${appPort}`;
  mustRun('apis', 'create', '--identifier', api, '--name', 'Items', '--scopes', 'me items');
  mustRun('roles', 'create', '--name', 'user', '--scopes', 'me items');
  mustRun('users', 'create', '--username', 'johndoe', '--password', 'correct horse', '--roles', 'user');
  const created = mustRun('clients', 'create', '--id', 'notes', '--name', 'Notes', '--first-party', '--grants', 'authorization_code,refresh_token',
    '--api', api, '--scopes', 'me items', '--redirect-uri', `${appUrl}/auth/callback`, '--post-logout-redirect-uri', `${appUrl}/`,
    '--backchannel-logout-uri', `${appUrl}/auth/backchannel-logout`);
  assert.equal(created.client.backchannelLogoutUri, `${appUrl}/auth/backchannel-logout`);

  const gatehouse = await startProcess(t, env);
  const faults: Error[] = [];
  const app = await buildNotesApp({ issuer: gatehouse.issuer, publicUrl: appUrl, api, clientId: 'notes', clientSecret: created.clientSecret, secret: SECRET, onError: (e) => faults.push(e) });
  await app.listen({ port: appPort, host: '127.0.0.1' });
  t.after(() => app.close());

  const browser = createBrowser();
  await signIn(browser, appUrl);
  assert.equal((await browser.get(`${appUrl}/notes`)).status, 200, 'signed in to the app');

  await signOutAtGatehouse(browser, gatehouse.issuer);

  // The app's cookie is still in the jar, and still opens: only the logout token can end it.
  assert.ok(browser.jar.get('gatehouse_session'), 'the app was never told by the browser');
  // fetch says `Sec-Fetch-Mode: cors`: the app answers 401 rather than redirecting to sign in.
  await waitFor(async () => (await browser.get(`${appUrl}/notes`)).status === 401, { message: 'the app session to end' });
  assert.equal((await browser.get(`${appUrl}/notes`)).status, 401, 'and it stays ended');
  assert.doesNotMatch(gatehouse.output(), /back-channel logout not delivered/);
  assert.deepEqual(faults, []);
});

/** The app's sign-in link, through the Gatehouse login page, back to the app's callback. */
async function signIn(browser: Browser, appUrl: string): Promise<void> {
  const start = await browser.get(`${appUrl}/auth/login?returnTo=/notes`);
  assert.equal(start.status, 303, 'sent to sign in');
  const authorize = new URL(start.headers.get('location')!);
  const { callback } = await loginThroughForm(browser, authorize, { username: 'johndoe', password: 'correct horse' }, `${appUrl}/auth/callback`);
  const back = await browser.get(callback);
  assert.equal(back.status, 303, 'the callback starts the session');
}

/** RP-initiated logout at Gatehouse with no client named: the confirmation page, then its form. */
async function signOutAtGatehouse(browser: Browser, issuer: string): Promise<void> {
  const page = await browser.get(`${issuer}/logout`);
  assert.equal(page.status, 200);
  const html = await page.text();
  const action = /action="([^"]+)"/.exec(html)![1]!;
  const confirmed = await browser.post(new URL(action, issuer), { xsrf: formValue(html, 'xsrf'), logout: 'yes' });
  assert.equal(confirmed.status, 303);
}
