// OpenID Connect relying parties (openid-client, as mod_auth_openidc or Authlib would behave)
// against a server with GATEHOUSE_DEFAULT_API set: a sign-in that names no `resource` and asks
// only for OpenID Connect scopes keeps a userinfo access token; asking for an API scope still
// gets the default API's JWT (docs/adr/0014-interop-choices.md).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeJwt } from 'jose';
import * as client from 'openid-client';
import * as clients from '@gatehouse/server/internal/storage/clients';
import { createBrowser, loginThroughForm } from '@gatehouse/test-support/browser';
import { ITEMS_API, seedDemo, startInProcess } from '@gatehouse/test-support/gatehouse';
import { secondPassed } from '@gatehouse/test-support/wait';

const REDIRECT = 'http://127.0.0.1:8999/rp/callback';

test('GATEHOUSE_DEFAULT_API: an OpenID Connect sign-in without resource keeps userinfo working; an API scope gets the API', async (t) => {
  const gh = await startInProcess(t, { GATEHOUSE_DEFAULT_API: ITEMS_API });
  await seedDemo(gh.db);
  // The relying party is granted the default API too: that is the case that used to break.
  const rp = await clients.createClient(gh.db, {
    clientId: 'rp',
    name: 'Relying party',
    grantTypes: 'authorization_code refresh_token',
    redirectUris: [REDIRECT],
    scopes: 'me items',
    apis: [ITEMS_API],
    firstParty: true,
  });
  const config = await client.discovery(new URL(gh.issuer), 'rp', undefined, client.ClientSecretBasic(rp.clientSecret!), {
    execute: [client.allowInsecureRequests],
  });
  const browser = createBrowser();

  async function signIn(scope: string) {
    const verifier = client.randomPKCECodeVerifier();
    const nonce = client.randomNonce();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT,
      scope,
      nonce,
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    const { callback } = await loginThroughForm(browser, url, { username: 'johndoe', password: 'correct horse' }, REDIRECT);
    return client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedNonce: nonce });
  }

  const signedIn = await signIn('openid profile email');
  const subject = signedIn.claims()!.sub;
  const userinfo = await client.fetchUserInfo(config, signedIn.access_token, subject);
  assert.equal(userinfo.sub, subject);
  assert.equal(userinfo.preferred_username, 'johndoe');
  assert.equal(userinfo.email, 'johndoe@example.com');

  // Asking for an API scope without `resource` is a request for the default API, as before.
  const forApi = await signIn('openid items');
  assert.equal(decodeJwt(forApi.access_token).aud, ITEMS_API);
  assert.match(forApi.scope ?? '', /\bitems\b/);
});

// OpenID Connect RP-Initiated Logout 1.0 §2: ask the End-User only when the id_token_hint is
// missing or not for the current session; with a current hint and a registered
// post_logout_redirect_uri, the page submits the sign-out by itself (one hash-pinned script).
test('RP-initiated logout: no question for a current id_token_hint and a registered post-logout URI; the question otherwise', async (t) => {
  const gh = await startInProcess(t);
  await seedDemo(gh.db);
  const home = 'http://127.0.0.1:8999/rp/';
  const rp = await clients.createClient(gh.db, {
    clientId: 'rp',
    name: 'Relying party',
    grantTypes: 'authorization_code',
    redirectUris: [REDIRECT],
    postLogoutRedirectUris: [home],
    firstParty: true,
  });
  const config = await client.discovery(new URL(gh.issuer), 'rp', undefined, client.ClientSecretBasic(rp.clientSecret!), {
    execute: [client.allowInsecureRequests],
  });
  const browser = createBrowser();
  async function signIn(): Promise<string> {
    const verifier = client.randomPKCECodeVerifier();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT,
      scope: 'openid',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    const { callback } = await loginThroughForm(browser, url, { username: 'johndoe', password: 'correct horse' }, REDIRECT);
    return (await client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier })).id_token!;
  }
  const logoutPage = async (params: Record<string, string>) => {
    const response = await browser.get(client.buildEndSessionUrl(config, params));
    return { status: response.status, html: await response.text(), csp: response.headers.get('content-security-policy') ?? '' };
  };

  const first = await signIn();
  const current = await logoutPage({ id_token_hint: first, post_logout_redirect_uri: home });
  assert.equal(current.status, 200);
  assert.doesNotMatch(current.html, /Sign out\?/, 'nothing is asked');
  assert.match(current.html, /<input type="hidden" form="op.logoutForm" name="logout" value="yes">/);
  assert.match(current.csp, /script-src 'sha256-[A-Za-z0-9+/]+=*'$/, 'the one script, pinned by its hash');
  // What the script submits: the form, which ends the session and goes back to the relying party.
  const done = await browser.post(new URL(/action="([^"]+)"/.exec(current.html)![1]!, gh.issuer), {
    xsrf: /name="xsrf" value="([^"]+)"/.exec(current.html)![1]!,
    logout: 'yes',
  });
  assert.equal(done.status, 303);
  assert.equal(done.headers.get('location'), home);

  // A new session: the first ID token is from the one before (a second earlier at least).
  await secondPassed(decodeJwt(first).iat!);
  const second = await signIn();
  const stale = await logoutPage({ id_token_hint: first, post_logout_redirect_uri: home });
  assert.match(stale.html, /Sign out\?/, 'a hint from an earlier session: asked');
  assert.doesNotMatch(stale.csp, /script-src/);
  const nowhere = await logoutPage({ id_token_hint: second });
  assert.match(nowhere.html, /Sign out\?/, 'no post-logout redirect URI: asked');
  const noHint = await logoutPage({ client_id: 'rp', post_logout_redirect_uri: home });
  assert.match(noHint.html, /Sign out\?/, 'no hint: asked');
});
