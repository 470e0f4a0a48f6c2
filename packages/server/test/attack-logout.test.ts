// Attacks on RP-initiated logout without the question (provider-pages.ts): an ID token of someone
// else, or of another client, must not sign out the browser's user unasked, and no URI the client
// did not register is ever redirected to. Real server, real HTTP.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as client from 'openid-client';
import { createBrowser, loginThroughForm, type Browser } from '@gatehouse/test-support/browser';
import { startInProcess } from '@gatehouse/test-support/gatehouse';
import * as clients from '../src/storage/clients.ts';
import * as users from '../src/storage/users.ts';
import { withPasswordHash } from '../src/passwords/user-passwords.ts';

const REDIRECT = 'http://127.0.0.1:8999/callback';
const HOME = 'http://127.0.0.1:8999/home';
const PASSWORD = 'analytical engine 1843';

test('a hint for another user or another client asks the question, and an unregistered post-logout URI is refused', async (t) => {
  const { issuer, db } = await startInProcess(t);
  for (const username of ['ada', 'bob']) await users.createUser(db, await withPasswordHash({ username, email: `${username}@example.com`, password: PASSWORD }));
  const configs = new Map<string, client.Configuration>();
  for (const clientId of ['rp', 'other-rp']) {
    const { clientSecret } = await clients.createClient(db, { clientId, name: clientId, grantTypes: 'authorization_code', redirectUris: [REDIRECT], postLogoutRedirectUris: [HOME], firstParty: true });
    configs.set(clientId, await client.discovery(new URL(issuer), clientId, undefined, client.ClientSecretBasic(clientSecret!), { execute: [client.allowInsecureRequests] }));
  }
  const signIn = async (browser: Browser, username: string, clientId: string) => {
    const config = configs.get(clientId)!;
    const verifier = client.randomPKCECodeVerifier();
    const url = client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: 'openid', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' });
    const { callback } = await loginThroughForm(browser, url, { username, password: PASSWORD }, REDIRECT);
    return (await client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier })).id_token!;
  };
  const ada = createBrowser();
  await signIn(ada, 'ada', 'rp');
  const bobsToken = await signIn(createBrowser(), 'bob', 'rp');
  // Ada's session never signed in to other-rp; this token of hers for it comes from another browser.
  const adasOtherToken = await signIn(createBrowser(), 'ada', 'other-rp');
  const logoutPage = async (params: Record<string, string>) => {
    const response = await ada.get(client.buildEndSessionUrl(configs.get('rp')!, params));
    return { status: response.status, location: response.headers.get('location'), html: await response.text() };
  };
  assert.match((await logoutPage({ id_token_hint: bobsToken, post_logout_redirect_uri: HOME })).html, /Sign out\?/, "another user's hint: asked");
  const otherClient = await ada.get(client.buildEndSessionUrl(configs.get('other-rp')!, { id_token_hint: adasOtherToken, post_logout_redirect_uri: HOME }));
  assert.match(await otherClient.text(), /Sign out\?/, 'a client this session did not sign in to: asked');
  for (const uri of ['https://evil.example/', `${HOME}/`, `${HOME}?x=1`]) {
    const refused = await logoutPage({ id_token_hint: bobsToken, post_logout_redirect_uri: uri });
    assert.equal(refused.status, 400, uri);
    assert.equal(refused.location, null, uri);
    assert.match(refused.html, /post_logout_redirect_uri not registered/, uri);
  }
});
