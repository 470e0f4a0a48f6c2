// "Sign in with <another provider>" in a real browser (issue 17, docs/adr/0017-upstream-identity-providers.md):
// Chromium, an application signing in at Gatehouse with openid-client, and, as the upstream
// provider, a second Gatehouse server that nobody mocks. The user clicks the provider's button on
// the login page, signs in on the provider's own login page, and lands back at the application
// with a code; the ID token's amr says `fed`. No page breaks its Content Security Policy.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as client from 'openid-client';
import * as clients from '@gatehouse/server/internal/storage/clients';
import { createUpstreamProvider, listLinkedIdentities } from '@gatehouse/server/internal/storage/upstream';
import * as users from '@gatehouse/server/internal/storage/users';
import { withPasswordHash } from '@gatehouse/server/internal/passwords/user-passwords';
import { launchChromium } from '@gatehouse/test-support/chromium';
import { startInProcess } from '@gatehouse/test-support/gatehouse';
import { startTinyServer } from '@gatehouse/test-support/http-server';

test('a user signs in to an application with another OpenID Connect provider, in Chromium', async (t) => {
  // The server the application uses (localhost), and the provider (127.0.0.1): two hosts, as two sites.
  const gatehouse = await startInProcess(t, {}, { publicHost: 'localhost' });
  const provider = await startInProcess(t);
  const registered = await clients.createClient(provider.db, {
    clientId: 'gatehouse',
    name: 'Gatehouse',
    grantTypes: ['authorization_code'],
    redirectUris: [`${gatehouse.issuer}/upstream/corp/callback`],
    firstParty: true,
  });
  await createUpstreamProvider(gatehouse.db, { id: 'corp', name: 'Corp SSO', kind: 'oidc', issuer: provider.issuer, clientId: 'gatehouse', clientSecret: registered.clientSecret! });
  await users.createUser(provider.db, await withPasswordHash({ username: 'erin', email: 'erin@corp.example', emailVerified: true, password: 'a passphrase at corp' }));

  // The application: a public client with PKCE, its redirect URI a real page.
  const app = await startTinyServer(t, () => ({ body: 'application callback' }));
  const redirectUri = `${app.origin}/callback`;
  await clients.createClient(gatehouse.db, { clientId: 'app', name: 'The application', public: true, firstParty: true, grantTypes: 'authorization_code', redirectUris: [redirectUri] });
  const config = await client.discovery(new URL(gatehouse.issuer), 'app', undefined, client.None(), { execute: [client.allowInsecureRequests] });
  const verifier = client.randomPKCECodeVerifier();
  const authorize = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope: 'openid profile email',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state: 'app-state',
  });

  const browser = await launchChromium(t);
  const page = await (await browser.newContext()).newPage();
  const violations: string[] = [];
  page.on('console', (message) => {
    if (/Content Security Policy|Refused to/i.test(message.text())) violations.push(message.text());
  });
  await page.goto(authorize.href);
  await page.waitForURL(`${gatehouse.issuer}/interaction/**`);
  await page.getByRole('link', { name: 'Sign in with Corp SSO' }).click();
  // The provider's own login page.
  await page.waitForURL(`${provider.issuer}/interaction/**`);
  await page.getByLabel('Username').fill('erin');
  await page.getByLabel('Password').fill('a passphrase at corp');
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.waitForURL(`${redirectUri}?**`, { timeout: 15_000 }).catch(async (error: unknown) => assert.fail(`${String(error)}\nat ${page.url()}:\n${(await page.textContent('body'))?.slice(0, 500)}\n${violations.join('\n')}`));

  const tokens = await client.authorizationCodeGrant(config, new URL(page.url()), { pkceCodeVerifier: verifier, expectedState: 'app-state' });
  const claims = tokens.claims()!;
  const erin = (await users.findUser(gatehouse.db, 'erin'))!;
  assert.ok(erin, 'a local user, made at the first sign-in');
  assert.equal(claims.sub, erin.id);
  assert.deepEqual(claims.amr, ['fed']);
  assert.equal((await listLinkedIdentities(gatehouse.db, erin.id))[0]!.providerId, 'corp');

  // The account page shows the link (the same browser: signed in already).
  await page.goto(`${gatehouse.issuer}/account`);
  await page.getByRole('heading', { name: 'Other accounts you sign in with' }).waitFor();
  assert.match((await page.textContent('ul.identities')) ?? '', /Corp SSO\s*erin@corp\.example, linked/);
  assert.deepEqual(violations, []);
});
