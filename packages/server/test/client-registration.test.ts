// What a client may be registered with (issue 10, items 17 and 23): redirect URIs that are exact
// and plain (no wildcard, no credentials, no fragment), ids that cannot pass for a user, native
// apps that may use any loopback port (RFC 8252 §7.3) while web clients may not; and client
// credentials tokens that say they are a client's (`gty`). Through the admin API, the CLI and the
// protocol endpoints of a real server; storage rules on SQLite and PostgreSQL in storage.test.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as client from 'openid-client';
import { decodeJwt } from 'jose';
import * as users from '../src/storage/users.ts';
import { createBrowser, loginThroughForm } from '@gatehouse/test-support/browser';
import { ITEMS_API, cli, seedDemo, tokenRequest } from '@gatehouse/test-support/gatehouse';
import { startAdmin } from './admin-support.ts';

async function setup(t: test.TestContext) {
  const server = await startAdmin(t, { GATEHOUSE_DEFAULT_API: ITEMS_API });
  const seed = await seedDemo(server.db);
  const token = await server.clientToken(await server.machine('ops', ['admin:clients:write', 'admin:clients:read']), ['admin:clients:write', 'admin:clients:read']);
  const create = (body: Record<string, unknown>) => server.call('POST', '/admin/api/clients', { token }, body);
  return { ...server, seed, token, create };
}

const spa = (redirectUri: string, extra: Record<string, unknown> = {}) => ({
  name: 'SPA',
  public: true,
  first_party: true,
  grant_types: ['authorization_code'],
  redirect_uris: [redirectUri],
  apis: [ITEMS_API],
  ...extra,
});

test('redirect URIs with a wildcard or with credentials are refused, through the admin API and the CLI', async (t) => {
  const { create, databaseUrl } = await setup(t);
  for (const uri of [
    'https://*.example.com/cb',
    'https://app.example.com/*',
    'https://app.example.com/cb?next=*',
    'https://user:password@app.example.com/cb',
    'https://user@app.example.com/cb',
    'http://admin:admin@127.0.0.1:8999/cb',
    'https://app.example.com/cb#fragment',
  ]) {
    const answer = await create(spa(uri));
    assert.equal(answer.status, 400, `${uri}: ${answer.text}`);
    assert.equal(answer.body.field, 'redirect_uris', uri);
    const logout = await create(spa('https://app.example.com/cb', { post_logout_redirect_uris: [uri] }));
    assert.equal(logout.status, 400, `post-logout ${uri}: ${logout.text}`);
    assert.equal(logout.body.field, 'post_logout_redirect_uris', uri);
  }
  const viaCli = cli({ GATEHOUSE_DATABASE_URL: databaseUrl }, ['clients', 'create', '--name', 'W', '--public', '--first-party', '--grants', 'authorization_code', '--redirect-uri', 'https://*.example.com/cb']);
  assert.equal(viaCli.code, 1, viaCli.stderr);
  assert.match(viaCli.stderr, /redirect_uris must not contain a wildcard/);
});

test('a client id cannot be a user\'s id: its tokens would carry that user\'s id as sub', async (t) => {
  const { create, db, issuer } = await setup(t);
  const john = (await users.findUser(db, 'johndoe'))!;
  for (const clientId of [john.id, john.id.toUpperCase(), crypto.randomUUID()]) {
    const answer = await create({ client_id: clientId, name: 'Impostor', grant_types: ['client_credentials'], scopes: ['me'], apis: [ITEMS_API] });
    assert.equal(answer.status, 400, `${clientId}: ${answer.text}`);
    assert.equal(answer.body.field, 'client_id');
    assert.match(answer.body.message, /reserved for user ids/);
  }
  // Nothing was created that could get such a token.
  const attempt = await tokenRequest(issuer, { grant_type: 'client_credentials' }, { clientId: john.id, clientSecret: 'x' });
  assert.equal(attempt.status, 401);
});

test('the built-in clients\' ids are reserved: a stored client could never be used under them', async (t) => {
  const { create } = await setup(t);
  const { ACCOUNT_CLIENT_ID } = await import('../src/engine/account-client.ts');
  const { CONSOLE_CLIENT_ID } = await import('../src/engine/console-client.ts');
  const { ADMIN_DOCS_CLIENT_ID } = await import('../src/engine/admin-docs-client.ts');
  for (const clientId of [ACCOUNT_CLIENT_ID, CONSOLE_CLIENT_ID, ADMIN_DOCS_CLIENT_ID, 'Gatehouse-Console']) {
    const answer = await create({ client_id: clientId, name: 'Impostor', grant_types: ['client_credentials'], scopes: ['me'], apis: [ITEMS_API] });
    assert.equal(answer.status, 400, `${clientId}: ${answer.text}`);
    assert.equal(answer.body.field, 'client_id');
    assert.match(answer.body.message, /reserved for one of the server's built-in clients/);
  }
});

test('client-credentials tokens say they are a client\'s (gty), and introspection says so too', async (t) => {
  const { issuer, seed, db } = await setup(t);
  const cc = await tokenRequest(issuer, { grant_type: 'client_credentials' }, seed.service);
  const claims = decodeJwt(cc.body.access_token);
  assert.equal(claims.gty, 'client_credentials');
  assert.equal(claims.sub, seed.service.clientId);
  const user = await tokenRequest(issuer, { grant_type: 'password', username: 'johndoe', password: 'correct horse' }, seed.passwordClient);
  assert.equal(decodeJwt(user.body.access_token).gty, undefined, 'user tokens carry no gty');

  const introspector = await (await import('../src/storage/clients.ts')).createClient(db, { clientId: 'rs', name: 'RS', grantTypes: 'client_credentials' });
  const response = await fetch(`${issuer}/introspect`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`rs:${introspector.clientSecret}`).toString('base64')}` },
    body: new URLSearchParams({ token: cc.body.access_token }).toString(),
  });
  const body = await response.json();
  assert.deepEqual([body.active, body.gty, body.sub, body.client_id], [true, 'client_credentials', 'service', 'service']);
});

test('a native app registered with http://127.0.0.1/cb may use any port (RFC 8252 §7.3); a web client may not', async (t) => {
  const { create, issuer } = await setup(t);
  const native = await create({ ...spa('http://127.0.0.1/callback'), client_id: 'desktop', application_type: 'native' });
  assert.equal(native.status, 201, native.text);
  assert.equal(native.body.client.application_type, 'native');
  const web = await create({ ...spa('http://127.0.0.1/callback'), client_id: 'browser' });
  assert.equal(web.status, 201, web.text);
  assert.equal(web.body.client.application_type, 'web', 'web unless said otherwise');

  // The app listens on a port the OS picked, as RFC 8252 §7.3 describes.
  const redirectUri = 'http://127.0.0.1:54321/callback';
  const flow = async (clientId: string) => {
    const config = await client.discovery(new URL(issuer), clientId, undefined, client.None(), { execute: [client.allowInsecureRequests] });
    const verifier = client.randomPKCECodeVerifier();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: 'openid items',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state: 'st',
      resource: ITEMS_API,
    });
    return { config, verifier, url };
  };
  const desktop = await flow('desktop');
  const { callback } = await loginThroughForm(createBrowser(), desktop.url, { username: 'johndoe', password: 'correct horse' }, redirectUri);
  const tokens = await client.authorizationCodeGrant(desktop.config, callback, { pkceCodeVerifier: desktop.verifier, expectedState: 'st' }, { resource: ITEMS_API });
  assert.equal(decodeJwt(tokens.access_token).aud, ITEMS_API);

  const browser = await flow('browser');
  const refused = await fetch(browser.url, { redirect: 'manual', headers: { accept: 'text/html' } });
  assert.equal(refused.status, 400, 'a web client gets no other port');
  assert.equal(refused.headers.get('location'), null);
});

test('native apps: public only, loopback IP literals or an app scheme or https; web clients: https or loopback http only', async (t) => {
  const { create, databaseUrl } = await setup(t);
  const native = (uri: string, extra: Record<string, unknown> = {}) => create({ ...spa(uri), application_type: 'native', ...extra });
  for (const uri of [
    'http://localhost:8080/cb', // RFC 8252 §8.3: loopback IP literals, not localhost
    'http://app.example.com/cb',
    'https://127.0.0.1/cb', // a claimed https URI needs a real host
    'myapp:/cb', // RFC 8252 §7.1: a reverse domain name
    'javascript:alert(1)',
  ]) {
    const answer = await native(uri);
    assert.equal(answer.status, 400, `native ${uri}: ${answer.text}`);
    assert.equal(answer.body.field, 'redirect_uris', uri);
  }
  for (const uri of ['http://[::1]/cb', 'com.example.app:/oauth2redirect', 'https://app.example.com/native-cb']) {
    assert.equal((await native(uri)).status, 201, `native ${uri}`);
  }
  const confidential = await native('http://127.0.0.1/cb', { public: false });
  assert.deepEqual([confidential.status, confidential.body.field], [400, 'application_type'], 'RFC 8252 §8.5: a native app keeps no secret');

  const web = await create(spa('com.example.app:/oauth2redirect'));
  assert.deepEqual([web.status, web.body.field], [400, 'redirect_uris'], 'app schemes are for native apps');

  // The CLI takes the same setting.
  const viaCli = cli({ GATEHOUSE_DATABASE_URL: databaseUrl }, [
    'clients', 'create', '--name', 'Desktop', '--public', '--first-party', '--application-type', 'native',
    '--grants', 'authorization_code', '--redirect-uri', 'http://127.0.0.1/callback', '--json',
  ]);
  assert.equal(viaCli.code, 0, viaCli.stderr);
  assert.equal(viaCli.json.client.applicationType, 'native');
  const localhost = cli({ GATEHOUSE_DATABASE_URL: databaseUrl }, [
    'clients', 'create', '--name', 'Desktop', '--public', '--first-party', '--application-type', 'native',
    '--grants', 'authorization_code', '--redirect-uri', 'http://localhost/callback',
  ]);
  assert.equal(localhost.code, 1);
  assert.match(localhost.stderr, /127\.0\.0\.1 or \[::1\]/);
  const unknownKind = await create(spa('https://app.example.com/cb', { application_type: 'tv' }));
  assert.equal(unknownKind.status, 400);
});
