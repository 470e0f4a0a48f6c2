// @gatehouse/sdk against a running Gatehouse server: real tokens of every kind the server
// issues, checked by the SDK exactly as an API would (discovery, JWKS, introspection over HTTP).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as client from 'openid-client';
import { createAuthenticator, type Authenticator } from '@gatehouse/sdk';
import * as apis from '@gatehouse/server/internal/storage/apis';
import * as clients from '@gatehouse/server/internal/storage/clients';
import { createBrowser, loginThroughForm } from '@gatehouse/test-support/browser';
import { ITEMS_API, seedDemo, startInProcess, tokenRequest } from '@gatehouse/test-support/gatehouse';

const bearer = (token: string) => ({ method: 'GET', url: 'http://api.test/items', headers: { authorization: `Bearer ${token}` } });

async function setup(t: test.TestContext) {
  const gh = await startInProcess(t, { GATEHOUSE_DEFAULT_API: ITEMS_API });
  const seed = await seedDemo(gh.db);
  await apis.createApi(gh.db, { identifier: 'https://other.example', name: 'Other API', scopes: 'items' });
  // The password client may get tokens for the other API too: a real token with another audience.
  await clients.updateClient(gh.db, seed.passwordClient.clientId, { apis: [ITEMS_API, 'https://other.example'] });
  // The API's own confidential client, for introspection (RFC 7662 §2.1: authenticated).
  const introspector = await clients.createClient(gh.db, { clientId: 'items-api', name: 'Items API', grantTypes: 'client_credentials' });
  const authenticator = createAuthenticator({
    issuer: gh.issuer,
    audience: ITEMS_API,
    algorithms: ['ES256'],
    introspection: { clientId: 'items-api', clientSecret: introspector.clientSecret! },
  });
  return { ...gh, seed, authenticator };
}

async function expectInvalid(authenticator: Authenticator, token: string, description?: RegExp) {
  const outcome = await authenticator.authenticate(bearer(token));
  assert.equal(outcome.ok, false);
  if (outcome.ok) return;
  assert.equal(outcome.response.status, 401);
  assert.equal(outcome.error.code, 'invalid_token');
  assert.match(outcome.response.headers['www-authenticate']!, /error="invalid_token"/);
  assert.ok(!JSON.stringify(outcome.response).includes(token), 'the token is never echoed');
  if (description) assert.match(outcome.error.message, description);
}

test('a user token from the password grant is a user principal with the granted scopes', async (t) => {
  const { issuer, seed, authenticator } = await setup(t);
  const tokens = (await tokenRequest(issuer, { grant_type: 'password', username: 'johndoe', password: 'correct horse', scope: 'me items' }, seed.passwordClient)).body;
  const outcome = await authenticator.authenticate(bearer(tokens.access_token), { scopes: ['items'], kinds: ['user'] });
  assert.ok(outcome.ok);
  assert.equal(outcome.principal!.kind, 'user');
  assert.equal(outcome.principal!.clientId, seed.passwordClient.clientId);
  assert.deepEqual([...outcome.principal!.scopes].sort(), ['items', 'me']);
  assert.equal(outcome.principal!.claims.preferred_username, 'johndoe');
  const denied = await authenticator.authenticate(bearer(tokens.access_token), { scopes: ['accounts:read'] });
  assert.equal(denied.ok, false);
  if (!denied.ok) {
    assert.equal(denied.response.status, 403);
    assert.match(denied.response.headers['www-authenticate']!, /error="insufficient_scope".*scope="accounts:read"/);
  }
});

test('a client-credentials token is a client principal and cannot pass as a user', async (t) => {
  const { issuer, seed, authenticator } = await setup(t);
  const tokens = (await tokenRequest(issuer, { grant_type: 'client_credentials' }, seed.service)).body;
  const ok = await authenticator.authenticate(bearer(tokens.access_token), { scopes: ['accounts:read'] });
  assert.ok(ok.ok);
  assert.equal(ok.principal!.kind, 'client');
  assert.equal(ok.principal!.subject, 'service');
  const asUser = await authenticator.authenticate(bearer(tokens.access_token), { kinds: ['user'] });
  assert.equal(asUser.ok, false);
  if (!asUser.ok) assert.equal(asUser.response.status, 403);
});

test('tokens that are not access tokens for this API are refused', async (t) => {
  const { issuer, seed, authenticator } = await setup(t);
  // For another API (aud).
  const other = (await tokenRequest(issuer, { grant_type: 'password', username: 'johndoe', password: 'correct horse', resource: 'https://other.example' }, seed.passwordClient)).body;
  await expectInvalid(authenticator, other.access_token);

  // An ID token is signed by the same keys, but is not an access token (typ, RFC 9068 §4).
  const config = await client.discovery(new URL(issuer), 'web', undefined, client.None(), { execute: [client.allowInsecureRequests] });
  const verifier = client.randomPKCECodeVerifier();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: seed.webRedirectUri,
    scope: 'openid items',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state: 's',
  });
  const { callback } = await loginThroughForm(createBrowser(), url, { username: 'johndoe', password: 'correct horse' }, seed.webRedirectUri);
  const code = await client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: 's' });
  assert.ok((await authenticator.authenticate(bearer(code.access_token))).ok, 'the access token itself is accepted');
  await expectInvalid(authenticator, code.id_token!, /not an access token/i);

  // A refresh token sent as a bearer token: introspection knows it, but it is not for this API.
  const withRefresh = (await tokenRequest(issuer, { grant_type: 'password', username: 'johndoe', password: 'correct horse' }, seed.passwordClient)).body;
  await expectInvalid(authenticator, withRefresh.refresh_token);
  await expectInvalid(authenticator, 'not-a-real-opaque-token');
});

test('JWTs verify without the server once keys are cached; a cold API gets 503 (not 401) when it cannot reach it', async (t) => {
  const { issuer, seed, authenticator, close } = await setup(t);
  const first = (await tokenRequest(issuer, { grant_type: 'client_credentials' }, seed.service)).body.access_token;
  const second = (await tokenRequest(issuer, { grant_type: 'client_credentials' }, seed.service)).body.access_token;
  assert.ok((await authenticator.authenticate(bearer(first))).ok, 'discovery and JWKS fetched');
  await close();

  // A token this API has never seen verifies locally: the server is not on the hot path.
  assert.ok((await authenticator.authenticate(bearer(second))).ok);

  // A fresh authenticator has no keys yet: it must fetch them, and cannot.
  const cold = createAuthenticator({ issuer, audience: ITEMS_API, algorithms: ['ES256'], timeout: 1000 });
  const outcome = await cold.authenticate(bearer(second));
  assert.equal(outcome.ok, false);
  if (!outcome.ok) {
    assert.equal(outcome.response.status, 503);
    assert.equal(outcome.error.code, 'temporarily_unavailable');
  }
});
