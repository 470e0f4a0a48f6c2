// An OpenID Connect relying party (openid-client, as mod_auth_openidc or Authlib would behave)
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
