// The items API, checked twice: against @gatehouse/sdk/testing's local issuer (how an API's own
// tests should look: no server to run) and against a real Gatehouse server with real tokens.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createTestIssuer, assertInsufficientScope, assertInvalidToken, assertMissingCredentials } from '@gatehouse/sdk/testing';
import * as apis from '@gatehouse/server/internal/storage/apis';
import * as clients from '@gatehouse/server/internal/storage/clients';
import * as roles from '@gatehouse/server/internal/storage/roles';
import { withPasswordHash } from '@gatehouse/server/internal/passwords/user-passwords';
import * as users from '@gatehouse/server/internal/storage/users';
import { startInProcess, tokenRequest } from '@gatehouse/test-support/gatehouse';
import { assertRealisticExamples } from '@gatehouse/test-support/openapi-examples';
import { startHttpsServer, trustInThisProcess } from '@gatehouse/test-support/https-server';
import { buildItemsApi, TOKEN_COOKIE, tokenCookieName } from '../src/app.ts';

test('with the SDK test issuer: 401 without a token, 403 without the scope, 200 with it', async (t) => {
  const issuer = await createTestIssuer({ audience: 'https://items.example' });
  t.after(() => issuer.close());
  const api = await buildItemsApi({ issuer: issuer.issuer, publicUrl: 'https://items.example', docsClientId: 'docs' });
  t.after(() => api.close());

  assert.deepEqual((await api.inject({ url: '/' })).json(), { Hello: 'World' });
  const favicon = await api.inject({ url: '/favicon.ico' });
  assert.equal(favicon.statusCode, 302, 'the brand icon is the issuer\'s');
  assert.equal(favicon.headers.location, new URL('/favicon.ico', issuer.issuer).href);
  assertMissingCredentials(await api.inject({ url: '/users/me/items/' }));

  const meOnly = await issuer.mintAccessToken({ sub: 'user-1', scopes: ['me'], claims: { preferred_username: 'johndoe' } });
  assertInsufficientScope(await api.inject({ url: '/users/me/items/', headers: { authorization: `Bearer ${meOnly}` } }), { scopes: ['items'] });
  const me = await api.inject({ url: '/users/me', headers: { authorization: `Bearer ${meOnly}` } });
  assert.equal(me.statusCode, 200);
  assert.equal(me.json().username, 'johndoe');

  const items = await issuer.mintAccessToken({ scopes: ['items'], claims: { preferred_username: 'johndoe' } });
  const list = await api.inject({ url: '/users/me/items/', headers: { authorization: `Bearer ${items}` } });
  assert.deepEqual(list.json(), [{ item_id: 'Foo', owner: 'johndoe' }]);

  // A client-credentials token has no user: it cannot pass as one, even with the scope.
  const service = await issuer.mintClientToken({ scopes: ['me', 'accounts:read'] });
  assert.equal((await api.inject({ url: '/users/me', headers: { authorization: `Bearer ${service}` } })).statusCode, 403);
  const account = await api.inject({ url: '/accounts/alice', headers: { authorization: `Bearer ${service}` } });
  assert.equal(account.statusCode, 200);
  assert.equal(account.json().read_by.kind, 'client');
  assert.equal((await api.inject({ url: '/accounts/nobody', headers: { authorization: `Bearer ${service}` } })).statusCode, 404);

  assertInvalidToken(await api.inject({ url: '/users/me', headers: { authorization: `Bearer ${await issuer.mintBadToken('expired', { scopes: ['me'] })}` } }));
  assertInvalidToken(await api.inject({ url: '/users/me', headers: { authorization: `Bearer ${await issuer.mintBadToken('wrong_audience', { scopes: ['me'] })}` } }));
});

// Issue 13: Swagger UI shows realistic bodies, not `{"item_id": "string"}`: every route's answers
// have examples that fit their schemas, the SDK's refusals included (RFC 6750 bodies).
test('the docs show a realistic example for every response', async (t) => {
  const issuer = await createTestIssuer({ audience: 'https://items.example' });
  t.after(() => issuer.close());
  const api = await buildItemsApi({ issuer: issuer.issuer, publicUrl: 'https://items.example', docsClientId: 'docs' });
  t.after(() => api.close());
  const examples = assertRealisticExamples((await api.inject({ url: '/docs/json' })).json());
  const example = (label: string) => examples.find((found) => found.label === label)?.example;
  assert.deepEqual(example('GET /users/me/items/ 200'), [{ item_id: 'Foo', owner: 'johndoe' }]);
  assert.deepEqual(example('GET /users/me 200'), { id: '5f0c6a1e-8b2d-4c3f-9a7e-1d2b3c4d5e6f', username: 'johndoe', scopes: ['items', 'me'], client_id: 'docs' });
  assert.deepEqual(example('GET /accounts/{username} 404'), { detail: 'No such account' });
  assert.deepEqual(example('GET /users/me/items/ 401'), { error: 'invalid_token', error_description: 'The access token has expired' });
  assert.deepEqual(example('GET /users/me/items/ 403'), {
    error: 'insufficient_scope',
    error_description: 'The credential lacks a scope this route requires',
    scope: 'items',
  });
});

test('with a running Gatehouse: real tokens from the password and client-credentials grants', async (t) => {
  const gh = await startInProcess(t);
  const apiUrl = 'http://127.0.0.1:18765';
  await apis.createApi(gh.db, { identifier: apiUrl, name: 'Items API', scopes: 'me items accounts:read' });
  await roles.createRole(gh.db, { name: 'user', scopes: 'me items' });
  await users.createUser(gh.db, await withPasswordHash({ username: 'johndoe', password: 'correct horse', roles: ['user'] }));
  const cli = await clients.createClient(gh.db, { clientId: 'cli', name: 'CLI', grantTypes: 'password', scopes: 'me items accounts:read', apis: [apiUrl] });
  const service = await clients.createClient(gh.db, { clientId: 'svc', name: 'Service', grantTypes: 'client_credentials', scopes: 'accounts:read', apis: [apiUrl] });
  await clients.createClient(gh.db, { clientId: 'docs', name: 'Docs', public: true, firstParty: true, grantTypes: 'authorization_code', redirectUris: [`${apiUrl}/docs/static/oauth2-redirect.html`], apis: [apiUrl] });

  const api = await buildItemsApi({ issuer: gh.issuer, publicUrl: apiUrl, docsClientId: 'docs' });
  t.after(() => api.close());

  const userToken = (await tokenRequest(gh.issuer, { grant_type: 'password', username: 'johndoe', password: 'correct horse', scope: 'me items accounts:read', resource: apiUrl }, { clientId: 'cli', clientSecret: cli.clientSecret! })).body;
  assert.equal(userToken.scope, 'me items', 'accounts:read is not granted by the role');
  const me = await api.inject({ url: '/users/me', headers: { authorization: `Bearer ${userToken.access_token}` } });
  assert.equal(me.statusCode, 200);
  assert.equal(me.json().username, 'johndoe');
  assert.equal(me.json().client_id, 'cli');
  assertInsufficientScope(await api.inject({ url: '/accounts/alice', headers: { authorization: `Bearer ${userToken.access_token}` } }), { scopes: ['accounts:read'] });

  const serviceToken = (await tokenRequest(gh.issuer, { grant_type: 'client_credentials', resource: apiUrl }, { clientId: 'svc', clientSecret: service.clientSecret! })).body;
  const account = await api.inject({ url: '/accounts/johndoe', headers: { authorization: `Bearer ${serviceToken.access_token}` } });
  assert.equal(account.statusCode, 200);
  assert.deepEqual(account.json().read_by, { kind: 'client', subject: 'svc' });
  assert.equal((await api.inject({ url: '/users/me', headers: { authorization: `Bearer ${serviceToken.access_token}` } })).statusCode, 403);

  // The docs page is titled after the API, not "Swagger UI".
  const docsPage = await api.inject({ url: '/docs/' });
  assert.match(docsPage.body, /<title>Items API<\/title>/);
  // …and shows the API's own icon, not Swagger's.
  assert.match(docsPage.body, /<link rel="icon"[^>]*favicon\.svg/);
  assert.doesNotMatch(docsPage.body, /favicon-32x32\.png/);
  // The docs advertise the server's real endpoints.
  const spec = (await api.inject({ url: '/docs/json' })).json();
  const { gatehouse, gatehousePassword } = spec.components.securitySchemes;
  assert.equal(gatehouse.flows.authorizationCode.authorizationUrl, `${gh.issuer}/authorize`);
  assert.equal(gatehouse.flows.authorizationCode.tokenUrl, `${gh.issuer}/token`);
  assert.equal(gatehousePassword.flows.password.tokenUrl, `${gh.issuer}/token`);
  assert.deepEqual(spec.paths['/users/me/items/'].get.security, [{ gatehouse: ['items'] }, { gatehousePassword: ['items'] }]);
});

test('/me (the JupyterHub service): a token from ?token=, the bearer header or the cookie; two at once is 400; other routes read the header only', async (t) => {
  const issuer = await createTestIssuer({ audience: 'https://items.example' });
  t.after(() => issuer.close());
  const api = await buildItemsApi({ issuer: issuer.issuer, publicUrl: 'https://items.example', docsClientId: 'docs' });
  t.after(() => api.close());
  const token = await issuer.mintAccessToken({ sub: 'user-1', scopes: ['me'], claims: { preferred_username: 'johndoe' } });
  // https://items.example is https: the cookie is `__Host-items-token`.
  const cookie = tokenCookieName({ issuer: issuer.issuer, publicUrl: 'https://items.example' });

  for (const request of [
    { url: `/me?token=${token}` },
    { url: '/me', headers: { authorization: `Bearer ${token}` } },
    { url: '/me', headers: { cookie: `${cookie}=${token}` } },
  ]) {
    const answer = await api.inject(request);
    assert.equal(answer.statusCode, 200, JSON.stringify(request));
    assert.deepEqual(answer.json(), { kind: 'user', name: 'johndoe', scopes: ['me'] });
  }
  assertMissingCredentials(await api.inject({ url: '/me' }));
  const twice = await api.inject({ url: `/me?token=${token}`, headers: { authorization: `Bearer ${token}` } });
  assert.equal(twice.statusCode, 400);
  assert.equal(twice.json().error, 'invalid_request');
  assert.ok(!twice.body.includes(token), 'the token is never echoed back');
  // Query tokens and cookies are for /me only.
  assertMissingCredentials(await api.inject({ url: `/users/me?token=${token}` }));
  assertMissingCredentials(await api.inject({ url: '/users/me', headers: { cookie: `${cookie}=${token}` } }));
});

// Under an https issuer the SDK refuses an unprefixed credential cookie (RFC 6265bis §4.1.3): the
// example names its cookie `__Host-items-token` there, and starts.
test('under an https issuer: the app starts, and /me reads the __Host-items-token cookie', async (t) => {
  const keys = await createTestIssuer({ audience: 'https://items.example' });
  t.after(() => keys.close());
  // A real https issuer: discovery and the test issuer's keys, on 127.0.0.1 with a trusted self-signed certificate.
  let origin = '';
  const https = await startHttpsServer(t, (request, response) => {
    const documents: Record<string, unknown> = {
      '/.well-known/openid-configuration': {
        issuer: origin,
        jwks_uri: `${origin}/jwks`,
        authorization_endpoint: `${origin}/authorize`,
        token_endpoint: `${origin}/token`,
      },
      '/jwks': keys.jwks(),
    };
    const body = documents[request.url ?? ''];
    response.writeHead(body === undefined ? 404 : 200, { 'content-type': 'application/json' }).end(JSON.stringify(body ?? {}));
  });
  trustInThisProcess(t, https.certificate);
  origin = https.origin;

  const cookie = tokenCookieName({ issuer: origin, publicUrl: 'https://items.example' });
  assert.equal(cookie, `__Host-${TOKEN_COOKIE}`);
  assert.equal(tokenCookieName({ issuer: 'http://localhost:8000', publicUrl: 'http://localhost:8001' }), TOKEN_COOKIE, 'over http the name stays');
  const api = await buildItemsApi({ issuer: origin, publicUrl: 'https://items.example', docsClientId: 'docs' });
  t.after(() => api.close());

  const token = await keys.mintAccessToken({ issuer: origin, sub: 'user-1', scopes: ['me'], claims: { preferred_username: 'johndoe' } });
  const me = await api.inject({ url: '/me', headers: { cookie: `${cookie}=${token}` } });
  assert.equal(me.statusCode, 200, me.body);
  assert.deepEqual(me.json(), { kind: 'user', name: 'johndoe', scopes: ['me'] });
  // The bare name is not read.
  assertMissingCredentials(await api.inject({ url: '/me', headers: { cookie: `${TOKEN_COOKIE}=${token}` } }));
  // The docs name the cookie the API reads.
  const spec = (await api.inject({ url: '/docs/json' })).json();
  assert.equal(spec.components.securitySchemes.accessTokenCookie.name, cookie);
  assert.match(spec.paths['/me'].get.summary, new RegExp(cookie));
});
