// Client authentication, introspection (RFC 7662) and revocation (RFC 7009): the SECURITY.md
// cases, including what happens when storage fails.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as clients from '../src/storage/clients.ts';
import { ITEMS_API, seedDemo, startInProcess, tokenRequest } from '@gatehouse/test-support/gatehouse';

async function setup(t: test.TestContext) {
  const gh = await startInProcess(t, { GATEHOUSE_DEFAULT_API: ITEMS_API });
  const seed = await seedDemo(gh.db);
  return { ...gh, seed };
}

function basic(clientId: string, secret: string): string {
  return `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`;
}

async function post(url: string, form: Record<string, string>, authorization?: string) {
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
  if (authorization) headers.authorization = authorization;
  const response = await fetch(url, { method: 'POST', headers, body: new URLSearchParams(form).toString() });
  const text = await response.text();
  return { status: response.status, text, body: text ? JSON.parse(text) : undefined, headers: response.headers };
}

test('an unknown client and a wrong secret get the same answer', async (t) => {
  const { issuer, seed } = await setup(t);
  const wrongSecret = await post(`${issuer}/token`, { grant_type: 'client_credentials' }, basic('service', `${seed.service.clientSecret}x`));
  const unknown = await post(`${issuer}/token`, { grant_type: 'client_credentials' }, basic('no-such-client', seed.service.clientSecret));
  assert.equal(wrongSecret.status, 401);
  assert.equal(unknown.status, wrongSecret.status);
  assert.equal(unknown.text, wrongSecret.text, 'identical bodies');
  assert.equal(wrongSecret.body.error, 'invalid_client');
  assert.ok(!wrongSecret.text.includes(seed.service.clientSecret), 'the secret is not echoed');
});

test('a client secret is checked against its hash; the stored value is not the secret', async (t) => {
  const { issuer, seed, db } = await setup(t);
  const row = await db.selectFrom('clients').select('secret_hash').where('id', '=', 'service').executeTakeFirstOrThrow();
  const stored = row.secret_hash ?? '';
  assert.ok(stored.startsWith('sha256:'));
  assert.ok(!stored.includes(seed.service.clientSecret));
  const ok = await tokenRequest(issuer, { grant_type: 'client_credentials' }, seed.service);
  assert.equal(ok.status, 200);
  // The stored hash is not a password either.
  const withHash = await post(`${issuer}/token`, { grant_type: 'client_credentials' }, basic('service', stored));
  assert.equal(withHash.status, 401);
});

test('client_secret_post works for a client registered for it; a public client cannot use a secret grant', async (t) => {
  const { issuer, db } = await setup(t);
  const created = await clients.createClient(db, { clientId: 'poster', name: 'Poster', grantTypes: 'client_credentials', tokenEndpointAuthMethod: 'client_secret_post' });
  const viaPost = await post(`${issuer}/token`, { grant_type: 'client_credentials', client_id: 'poster', client_secret: created.clientSecret! });
  assert.equal(viaPost.status, 200);
  // oidc-provider treats client_secret_basic and client_secret_post as one method (both send the
  // secret); what must never work is authenticating without the secret.
  const noSecret = await post(`${issuer}/token`, { grant_type: 'client_credentials', client_id: 'poster' });
  assert.equal(noSecret.status, 401);
  assert.equal(noSecret.body.error, 'invalid_client');
  const publicCc = await post(`${issuer}/token`, { grant_type: 'client_credentials', client_id: 'web' });
  assert.equal(publicCc.status, 400);
});

test('client credentials: no scope asks for everything allowed; unknown scopes are dropped', async (t) => {
  const { issuer, seed } = await setup(t);
  const all = await tokenRequest(issuer, { grant_type: 'client_credentials' }, seed.service);
  assert.equal(all.body.scope, 'accounts:read');
  const some = await tokenRequest(issuer, { grant_type: 'client_credentials', scope: 'accounts:read items nonsense' }, seed.service);
  assert.equal(some.status, 200);
  assert.equal(some.body.scope, 'accounts:read', 'items is not allowed for this client; nonsense is not a scope of the API');
});

test('the password grant is off unless the client has it', async (t) => {
  const { issuer, seed } = await setup(t);
  const form = { grant_type: 'password', username: 'johndoe', password: 'correct horse' };
  const service = await tokenRequest(issuer, form, seed.service);
  // RFC 6749 §5.2: "The authenticated client is not authorized to use this authorization grant type."
  assert.equal(service.status, 400);
  assert.equal(service.body.error, 'unauthorized_client');
  assert.match(service.body.error_description, /not allowed for this client/);
  const web = await tokenRequest(issuer, { ...form, client_id: 'web' });
  assert.equal(web.status, 400);
  assert.equal(web.body.error, 'unauthorized_client');
  const cli = await tokenRequest(issuer, form, seed.passwordClient);
  assert.equal(cli.status, 200);
});

test('introspection: client authentication required; every inactive case is exactly {"active":false}', async (t) => {
  const { issuer, seed } = await setup(t);
  const tokens = (await tokenRequest(issuer, { grant_type: 'password', username: 'johndoe', password: 'correct horse' }, seed.passwordClient)).body;
  const introspect = (token: string, authorization?: string) => post(`${issuer}/introspect`, { token }, authorization);
  const serviceAuth = basic('service', seed.service.clientSecret);

  const active = await introspect(tokens.refresh_token, serviceAuth);
  assert.equal(active.body.active, true);
  assert.equal(active.body.client_id, 'cli');
  assert.equal(typeof active.body.sub, 'string');
  assert.equal(active.body.iss, issuer);

  // RFC 6749 §5.2: no client authentication included is invalid_client.
  const anonymous = await introspect(tokens.refresh_token);
  assert.equal(anonymous.status, 401);
  assert.equal(anonymous.body.error, 'invalid_client');
  const publicClient = await post(`${issuer}/introspect`, { token: tokens.refresh_token, client_id: 'web' });
  assert.deepEqual(publicClient.body, { active: false }, 'a public client cannot introspect');
  // Gatehouse answers for its own tokens (JWT access tokens, API keys) with the same policy.
  assert.equal((await introspect(tokens.access_token, serviceAuth)).body.active, true);
  assert.deepEqual((await post(`${issuer}/introspect`, { token: tokens.access_token, client_id: 'web' })).body, { active: false }, 'nor introspect an access token');
  assert.deepEqual((await introspect('nonsense', serviceAuth)).body, { active: false });
  assert.deepEqual((await introspect('', serviceAuth)).status, 400);

  // Revoked: also exactly {active:false}.
  const revoked = await post(`${issuer}/revoke`, { token: tokens.refresh_token }, basic('cli', seed.passwordClient.clientSecret));
  assert.equal(revoked.status, 200);
  assert.deepEqual((await introspect(tokens.refresh_token, serviceAuth)).body, { active: false });
});

test('revocation: only the client a token was issued to may revoke it; every other answer is the same 200', async (t) => {
  const { issuer, seed } = await setup(t);
  const tokens = (await tokenRequest(issuer, { grant_type: 'password', username: 'johndoe', password: 'correct horse' }, seed.passwordClient)).body;
  const other = await post(`${issuer}/revoke`, { token: tokens.refresh_token }, basic('service', seed.service.clientSecret));
  const nonsense = await post(`${issuer}/revoke`, { token: 'nonsense' }, basic('service', seed.service.clientSecret));
  // RFC 7009 §2.2: 200 whether or not the token was valid; another client's token is answered
  // exactly like an unknown one, so the answer does not confirm that a token is live.
  assert.equal(other.status, 200);
  assert.equal(other.text, '');
  assert.equal(other.status, nonsense.status);
  assert.equal(other.text, nonsense.text);
  const stillWorks = await tokenRequest(issuer, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token }, seed.passwordClient);
  assert.equal(stillWorks.status, 200, 'another client could not revoke it');
  // RFC 7009 §2.2: an invalid token is not an error.
  const unknown = await post(`${issuer}/revoke`, { token: 'nonsense' }, basic('cli', seed.passwordClient.clientSecret));
  assert.equal(unknown.status, 200);
});

test('a storage failure is a 5xx: never {"active":false}, never a 200 on revocation', async (t) => {
  const { issuer, seed, server } = await setup(t);
  const tokens = (await tokenRequest(issuer, { grant_type: 'password', username: 'johndoe', password: 'correct horse' }, seed.passwordClient)).body;
  // The database goes away under the running server.
  await server.storage.close();
  const introspection = await post(`${issuer}/introspect`, { token: tokens.refresh_token }, basic('service', seed.service.clientSecret));
  assert.equal(introspection.status, 500);
  assert.equal(introspection.body.error, 'server_error');
  assert.equal(introspection.body.active, undefined);
  const revocation = await post(`${issuer}/revoke`, { token: tokens.refresh_token }, basic('cli', seed.passwordClient.clientSecret));
  assert.equal(revocation.status, 500);
  assert.doesNotMatch(revocation.text, /at .*\.js|node_modules|stack/i, 'no stack trace in the body');
  const token = await tokenRequest(issuer, { grant_type: 'client_credentials' }, seed.service);
  assert.equal(token.status, 500);
  assert.equal(token.body.error, 'server_error');
});

test('no client authentication at all is invalid_client (RFC 6749 §5.2), with a Basic challenge when HTTP authentication was tried', async (t) => {
  const { issuer } = await setup(t);
  // Pushed authorization requests authenticate the client as the token endpoint does (RFC 9126 §2.1), and answer alike (§2.3).
  const forms: Record<string, Record<string, string>> = {
    '/token': { grant_type: 'client_credentials' },
    '/introspect': { token: 'whatever' },
    '/revoke': { token: 'whatever' },
    '/par': { response_type: 'code', redirect_uri: 'http://127.0.0.1:8999/callback' },
  };
  for (const [path, form] of Object.entries(forms)) {
    const none = await post(`${issuer}${path}`, form);
    assert.equal(none.status, 401, `${path}: ${none.text}`);
    assert.equal(none.body.error, 'invalid_client', path);
    assert.equal(none.headers.get('www-authenticate'), null, `${path}: no HTTP authentication was tried, no challenge`);
    // An Authorization header with an empty client id: HTTP authentication tried, and failed.
    const empty = await post(`${issuer}${path}`, form, `Basic ${Buffer.from(':secret').toString('base64')}`);
    assert.equal(empty.status, 401, `${path}: ${empty.text}`);
    assert.equal(empty.body.error, 'invalid_client', path);
    assert.match(empty.headers.get('www-authenticate') ?? '', /^Basic realm="/, `${path}: RFC 6749 §5.2 asks for a challenge`);
  }
});

test('every token endpoint answer says Cache-Control: no-store and Pragma: no-cache (RFC 6749 §5.1), errors included', async (t) => {
  const { issuer, seed } = await setup(t);
  const answers = {
    success: await tokenRequest(issuer, { grant_type: 'client_credentials' }, seed.service),
    invalid_grant: await tokenRequest(issuer, { grant_type: 'refresh_token', refresh_token: 'nonsense' }, seed.passwordClient),
    invalid_client: await tokenRequest(issuer, { grant_type: 'client_credentials' }, { clientId: 'service', clientSecret: 'wrong' }),
    unsupported_grant_type: await tokenRequest(issuer, { grant_type: 'implicit' }, seed.service),
    unauthorized_client: await tokenRequest(issuer, { grant_type: 'password', username: 'johndoe', password: 'x' }, seed.service),
  };
  for (const [name, answer] of Object.entries(answers)) {
    if (name !== 'success') assert.equal(answer.body.error, name);
    assert.equal(answer.headers.get('cache-control'), 'no-store', name);
    assert.equal(answer.headers.get('pragma'), 'no-cache', name);
  }
});

// Swagger UI's default for the password flow: `Basic base64("<client_id>:")`. For a public client
// it names the client, as `client_id` in the form would (engine/public-client-basic.ts); nothing
// else about client authentication changes.
test('HTTP Basic with an empty password: a public client is `none`; a confidential client or a mismatch is still refused', async (t) => {
  const { issuer, db } = await setup(t);
  await clients.createClient(db, { clientId: 'docs', name: 'Docs', public: true, grantTypes: 'password', scopes: 'me items', apis: [ITEMS_API] });
  const login = { grant_type: 'password', username: 'johndoe', password: 'correct horse', scope: 'me items' };

  const named = await post(`${issuer}/token`, login, basic('docs', ''));
  assert.equal(named.status, 200, named.text);
  assert.equal(named.body.scope, 'me items');

  // The form may name the same client; another one is refused.
  assert.equal((await post(`${issuer}/token`, { ...login, client_id: 'docs' }, basic('docs', ''))).status, 200);
  const mismatch = await post(`${issuer}/token`, { ...login, client_id: 'cli' }, basic('docs', ''));
  assert.equal(mismatch.status, 400);
  assert.equal(mismatch.body.error, 'invalid_request');

  // A confidential client must still present its secret: an empty one is refused as before.
  const confidential = await post(`${issuer}/token`, login, basic('cli', ''));
  assert.equal(confidential.status, 400);
  assert.equal(confidential.body.error, 'invalid_request');
  // A public client presenting a secret it does not have is refused (client_secret_basic is not its method).
  const withSecret = await post(`${issuer}/token`, login, basic('docs', 'guess'));
  assert.equal(withSecret.status, 401);
  assert.equal(withSecret.body.error, 'invalid_client');
});
