// "Sign in with <another provider>" in a real browser (issue 17, docs/adr/0017-upstream-identity-providers.md):
// Chromium, an application signing in at Gatehouse with openid-client, and, as the upstream
// provider, a second Gatehouse server that nobody mocks. The user clicks the provider's button on
// the login page, signs in on the provider's own login page, and lands back at the application
// with a code; the ID token's amr says `fed`. No page breaks its Content Security Policy.
// packages/server/test/upstream.test.ts covers the same rules over HTTP; here each is what a
// person sees: the next sign-in finds the same user, an email already here asks for its password,
// a disabled user is refused, and an answer whose state was changed is a page saying so.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import * as client from 'openid-client';
import type { Page } from 'playwright-core';
import { listAuditEvents } from '@gatehouse/server/internal/storage/audit';
import * as clients from '@gatehouse/server/internal/storage/clients';
import { createUpstreamProvider, listLinkedIdentities } from '@gatehouse/server/internal/storage/upstream';
import * as users from '@gatehouse/server/internal/storage/users';
import { withPasswordHash } from '@gatehouse/server/internal/passwords/user-passwords';
import { newTotpSecret, SecretBox, totpCode } from '@gatehouse/server/internal/passwords/totp';
import { ensureSecrets } from '@gatehouse/server/internal/storage/keys';
import { enableTwoFactor } from '@gatehouse/server/internal/storage/two-factor';
import { launchChromium } from '@gatehouse/test-support/chromium';
import { startInProcess, type InProcessServer } from '@gatehouse/test-support/gatehouse';
import { startTinyServer } from '@gatehouse/test-support/http-server';

interface Setup {
  /** The server the application uses (localhost). */
  readonly gatehouse: InProcessServer;
  /** The upstream provider (127.0.0.1): two hosts, as two sites. */
  readonly provider: InProcessServer;
  /** A new browser context (no cookie at either server) with its page and the CSP violations it logs. */
  readonly newPage: () => Promise<{ page: Page; violations: string[] }>;
  /** The application's authorization request, with what it needs to redeem the answer. */
  readonly authorize: () => Promise<{ url: string; redeem: (callback: string) => Promise<client.IDToken> }>;
  readonly redirectUri: string;
}

async function setup(t: TestContext): Promise<Setup> {
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

  // The application: a public client with PKCE, its redirect URI a real page.
  const app = await startTinyServer(t, () => ({ body: 'application callback' }));
  const redirectUri = `${app.origin}/callback`;
  await clients.createClient(gatehouse.db, { clientId: 'app', name: 'The application', public: true, firstParty: true, grantTypes: 'authorization_code', redirectUris: [redirectUri] });
  const config = await client.discovery(new URL(gatehouse.issuer), 'app', undefined, client.None(), { execute: [client.allowInsecureRequests] });

  const browser = await launchChromium(t);
  return {
    gatehouse,
    provider,
    redirectUri,
    newPage: async () => {
      const page = await (await browser.newContext()).newPage();
      const violations: string[] = [];
      page.on('console', (message) => {
        if (/Content Security Policy|Refused to/i.test(message.text())) violations.push(message.text());
      });
      return { page, violations };
    },
    authorize: async () => {
      const verifier = client.randomPKCECodeVerifier();
      const url = client.buildAuthorizationUrl(config, {
        redirect_uri: redirectUri,
        scope: 'openid profile email',
        code_challenge: await client.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        state: 'app-state',
      }).href;
      const redeem = async (callback: string) => {
        const tokens = await client.authorizationCodeGrant(config, new URL(callback), { pkceCodeVerifier: verifier, expectedState: 'app-state' });
        return tokens.claims()!;
      };
      return { url, redeem };
    },
  };
}

/** From the application, through Gatehouse's login page, to the provider's button and its own login page, signed in there. */
async function signInAtProvider(s: Setup, page: Page, username: string, password: string): Promise<{ redeem: (callback: string) => Promise<client.IDToken> }> {
  const { url, redeem } = await s.authorize();
  await page.goto(url);
  await page.waitForURL(`${s.gatehouse.issuer}/interaction/**`);
  await page.getByRole('link', { name: 'Sign in with Corp SSO' }).click();
  // The provider's own login page.
  await page.waitForURL(`${s.provider.issuer}/interaction/**`);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  return { redeem };
}

/** Waits for the application's callback, saying where the browser is instead when it never comes. */
async function landedAtApplication(s: Setup, page: Page, violations: string[]): Promise<string> {
  await page.waitForURL(`${s.redirectUri}?**`, { timeout: 15_000 }).catch(async (error: unknown) => assert.fail(`${String(error)}\nat ${page.url()}:\n${(await page.textContent('body'))?.slice(0, 500)}\n${violations.join('\n')}`));
  return page.url();
}

test('a user signs in to an application with another OpenID Connect provider, in Chromium; the next sign-in finds the same user; with two-factor on, a code follows', async (t) => {
  const s = await setup(t);
  await users.createUser(s.provider.db, await withPasswordHash({ username: 'erin', email: 'erin@corp.example', emailVerified: true, password: 'a passphrase at corp' }));

  const { page, violations } = await s.newPage();
  const { redeem } = await signInAtProvider(s, page, 'erin', 'a passphrase at corp');
  const claims = await redeem(await landedAtApplication(s, page, violations));
  const erin = (await users.findUser(s.gatehouse.db, 'erin'))!;
  assert.ok(erin, 'a local user, made at the first sign-in');
  assert.equal(claims.sub, erin.id);
  assert.deepEqual(claims.amr, ['fed']);
  assert.equal((await listLinkedIdentities(s.gatehouse.db, erin.id))[0]!.providerId, 'corp');

  // The account page shows the link (the same browser: signed in already).
  await page.goto(`${s.gatehouse.issuer}/account`);
  await page.getByRole('heading', { name: 'Other accounts you sign in with' }).waitFor();
  assert.match((await page.textContent('ul.identities')) ?? '', /Corp SSO\s*erin@corp\.example, linked/);
  assert.deepEqual(violations, []);

  // Another browser, signed in nowhere: through the provider again, to the same user.
  const again = await s.newPage();
  const second = await signInAtProvider(s, again.page, 'erin', 'a passphrase at corp');
  const claimsAgain = await second.redeem(await landedAtApplication(s, again.page, again.violations));
  assert.equal(claimsAgain.sub, erin.id, 'the linked user, not a new one');
  assert.deepEqual(claimsAgain.amr, ['fed']);
  assert.deepEqual((await users.listUsers(s.gatehouse.db)).items.map((user) => user.username).filter((name) => name.startsWith('erin')), ['erin']);
  assert.equal((await listLinkedIdentities(s.gatehouse.db, erin.id)).length, 1);
  const results = (await listAuditEvents(s.gatehouse.db, { type: 'login.upstream' })).items.map((event) => [event.outcome, event.details.result]).reverse();
  assert.deepEqual(results, [['success', 'created'], ['success', 'ok']]);
  assert.deepEqual(again.violations, []);

  // Two-factor on here (the provider's own sign-in is a password alone): its code after the provider.
  const secret = newTotpSecret();
  await enableTwoFactor(s.gatehouse.db, erin.id, new SecretBox(await ensureSecrets(s.gatehouse.db, 'totp')).seal(secret), 0, ['unused-recovery-code-hash']);
  const third = await s.newPage();
  const withCode = await signInAtProvider(s, third.page, 'erin', 'a passphrase at corp');
  await third.page.getByLabel('Authentication code').fill(totpCode(secret));
  await third.page.getByRole('button', { name: 'Verify' }).click();
  const claimsWithCode = await withCode.redeem(await landedAtApplication(s, third.page, third.violations));
  assert.equal(claimsWithCode.sub, erin.id);
  assert.deepEqual(claimsWithCode.amr, ['fed', 'otp', 'mfa']);
  assert.deepEqual(third.violations, []);
});

test('in Chromium, the provider\'s verified email of an account here links only after that account\'s password; disabled, it is refused', async (t) => {
  const s = await setup(t);
  const bob = await users.createUser(s.gatehouse.db, await withPasswordHash({ username: 'bob', email: 'bob@corp.example', password: 'local passphrase 22' }));
  await users.createUser(s.provider.db, await withPasswordHash({ username: 'robert', email: 'bob@corp.example', emailVerified: true, password: 'upstream passphrase 2' }));

  const { page, violations } = await s.newPage();
  const { redeem } = await signInAtProvider(s, page, 'robert', 'upstream passphrase 2');
  await page.getByRole('heading', { name: 'Link your account' }).waitFor();
  assert.match(page.url(), /\/upstream\/link\?/);
  assert.match((await page.textContent('main')) ?? '', /bob.*bob@corp\.example.*Corp SSO/s);
  assert.deepEqual(await listLinkedIdentities(s.gatehouse.db, bob.id), [], 'nothing linked by the email alone');

  // A wrong password links nothing and says so.
  await page.getByLabel('Password of the account').fill('not it at all');
  await page.getByRole('button', { name: 'Link and sign in' }).click();
  await page.getByText('This is not the password of that account.').waitFor();
  assert.deepEqual(await listLinkedIdentities(s.gatehouse.db, bob.id), []);

  await page.getByLabel('Password of the account').fill('local passphrase 22');
  await page.getByRole('button', { name: 'Link and sign in' }).click();
  const claims = await redeem(await landedAtApplication(s, page, violations));
  assert.equal(claims.sub, bob.id, 'the account that proved its password');
  assert.deepEqual(claims.amr, ['fed', 'pwd']);
  assert.equal((await listLinkedIdentities(s.gatehouse.db, bob.id)).length, 1);
  assert.equal(await users.findUser(s.gatehouse.db, 'robert'), undefined, 'no second account');
  assert.deepEqual(violations, []);

  // Disabled here: the provider's sign-in no longer gets in.
  await users.setUserDisabled(s.gatehouse.db, bob.id, true);
  const later = await s.newPage();
  await signInAtProvider(s, later.page, 'robert', 'upstream passphrase 2');
  await later.page.getByText('This account is disabled.').waitFor();
  assert.match(later.page.url(), new RegExp(`^${s.gatehouse.issuer}/interaction/[^/]+/upstream/done\\?`));
  const last = (await listAuditEvents(s.gatehouse.db, { type: 'login.upstream' })).items[0]!;
  assert.deepEqual([last.outcome, last.details.result, last.target?.id], ['failure', 'disabled', bob.id]);
  assert.deepEqual(later.violations, []);
});

test('in Chromium, an answer whose state is not the one this browser was given, and a cancelled sign-in, are pages saying so, not 500s; nobody is signed in', async (t) => {
  const s = await setup(t);
  await users.createUser(s.provider.db, await withPasswordHash({ username: 'mallory', email: 'mallory@corp.example', emailVerified: true, password: 'upstream passphrase 9' }));
  const { page, violations } = await s.newPage();
  const { url } = await s.authorize();
  await page.goto(url);
  await page.waitForURL(`${s.gatehouse.issuer}/interaction/**`);
  // The button's request, made with this browser's cookies (page.request shares them, and keeps the
  // sign-in cookie it sets: state, nonce, verifier), its redirect held: the provider is then asked
  // with another state, and answers with a good code and that state.
  const button = await page.getByRole('link', { name: 'Sign in with Corp SSO' }).getAttribute('href');
  const begin = new URL(button!, page.url()).href;
  const started = await page.request.get(begin, { maxRedirects: 0 });
  assert.equal(started.status(), 303);
  const toProvider = new URL(started.headers()['location']!);
  const state = toProvider.searchParams.get('state')!;
  toProvider.searchParams.set('state', `${state}-changed`);
  await page.goto(toProvider.href);
  await page.waitForURL(`${s.provider.issuer}/interaction/**`);
  await page.getByLabel('Username').fill('mallory');
  await page.getByLabel('Password').fill('upstream passphrase 9');
  const callback = page.waitForResponse((response) => new URL(response.url()).pathname === '/upstream/corp/callback');
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  const answer = await callback;
  const answered = new URL(answer.url());
  assert.equal(answered.searchParams.get('state'), `${state}-changed`);
  assert.ok(answered.searchParams.get('code'), 'the provider answered with a code');

  assert.equal(answer.status(), 400);
  await page.getByRole('heading', { name: 'Sign-in did not work' }).waitFor();
  assert.match((await page.textContent('main')) ?? '', /Corp SSO did not sign you in/);
  assert.ok(await page.getByRole('link', { name: 'Back to the sign-in page' }).isVisible());
  assert.equal(await users.findUser(s.gatehouse.db, 'mallory'), undefined, 'no user made');
  const last = (await listAuditEvents(s.gatehouse.db, { type: 'login.upstream' })).items[0]!;
  assert.deepEqual([last.outcome, last.details.result], ['failure', 'invalid_answer']);
  assert.doesNotMatch(JSON.stringify(last), new RegExp(answered.searchParams.get('code')!), 'no code in the audit log');

  // The same code with the state this browser was given: refused too, the sign-in cookie went with the refused answer.
  answered.searchParams.set('state', state);
  const replay = await page.goto(answered.href);
  assert.equal(replay?.status(), 400);
  assert.match((await page.textContent('main')) ?? '', /does not belong to a sign-in started in this browser/);
  assert.equal(await users.findUser(s.gatehouse.db, 'mallory'), undefined);

  // Started again from the same login page, then cancelled at the provider: its answer is
  // access_denied with the right state and, as the provider's metadata promises (RFC 9207), its issuer.
  const restarted = await page.request.get(begin, { maxRedirects: 0 });
  const again = new URL(restarted.headers()['location']!).searchParams.get('state')!;
  const cancelled = await page.goto(`${s.gatehouse.issuer}/upstream/corp/callback?${new URLSearchParams({ error: 'access_denied', state: again, iss: s.provider.issuer })}`);
  assert.equal(cancelled?.status(), 400);
  assert.match((await page.textContent('main')) ?? '', /The sign-in at Corp SSO was cancelled/);
  const latest = (await listAuditEvents(s.gatehouse.db, { type: 'login.upstream' })).items[0]!;
  assert.deepEqual([latest.outcome, latest.details.result], ['failure', 'access_denied']);
  assert.deepEqual(violations, []);
});
