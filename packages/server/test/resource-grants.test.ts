// A client gets tokens only for the APIs it was granted (issue 10, item 4). Every grant that
// issues an access token is tried with an API the client was not given: the authorization
// endpoint, and the token endpoint for the code, refresh-token, client-credentials and password
// grants. Real server, real sockets, openid-client as the client where it is a protocol flow.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { decodeJwt } from 'jose';
import * as client from 'openid-client';
import * as apis from '../src/storage/apis.ts';
import * as clients from '../src/storage/clients.ts';
import { createBrowser, loginThroughForm } from '@gatehouse/test-support/browser';
import { tempDir } from '@gatehouse/test-support/files';
import { tempPostgres } from '@gatehouse/test-support/postgres';
import { ITEMS_API, cli, discoverClient, seedDemo, startInProcess, startProcess, tokenRequest, type Env } from '@gatehouse/test-support/gatehouse';
import { linkIn, startMailbox } from '@gatehouse/test-support/smtp';

/** An API nobody gave the demo clients, with no scope any of them may ask for. */
const BILLING_API = 'https://billing.example';
const JOHN = { username: 'johndoe', password: 'correct horse' };

async function setup(t: test.TestContext, env: Env = {}) {
  const gh = await startInProcess(t, { GATEHOUSE_DEFAULT_API: ITEMS_API, ...env });
  const seed = await seedDemo(gh.db);
  await apis.createApi(gh.db, { identifier: BILLING_API, name: 'Billing API', scopes: 'invoices:read' });
  return { ...gh, seed };
}

/** The SPA's authorization request, as openid-client builds it. */
async function authorizationUrl(issuer: string, redirectUri: string, params: Record<string, string>) {
  const config = await discoverClient(issuer, 'web');
  const verifier = client.randomPKCECodeVerifier();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope: 'openid items',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state: 'st',
    ...params,
  });
  return { config, verifier, url };
}

test('the attack: a stranger registers, verifies a mailbox and asks an SPA for a token for another API; refused with invalid_target', async (t) => {
  const mailbox = await startMailbox(t);
  const { issuer, seed } = await setup(t, { GATEHOUSE_REGISTRATION: 'true', GATEHOUSE_SMTP_URL: mailbox.url });
  const stranger = { username: 'mallory', email: 'mallory@example.com', password: 'mallory password 1' };
  const registered = await createBrowser().post(`${issuer}/register`, stranger);
  assert.equal(registered.status, 200);
  const link = new URL(linkIn(await mailbox.waitFor((m) => m.to === stranger.email), `${issuer}/verify-email?token=`));
  const verified = await createBrowser().post(`${issuer}/verify-email`, { token: link.searchParams.get('token')! });
  assert.equal(verified.status, 200);

  const { url } = await authorizationUrl(issuer, seed.webRedirectUri, { resource: BILLING_API });
  const { callback } = await loginThroughForm(createBrowser(), url, stranger, seed.webRedirectUri);
  assert.equal(callback.searchParams.get('error'), 'invalid_target', `no code for an API the SPA was not granted: ${callback}`);
  assert.equal(callback.searchParams.get('code'), null);
});

for (const database of ['sqlite', 'postgres'] as const) {
test(`[${database}] authorization code: the token endpoint refuses an API outside the client's grant; the granted API works`, async (t) => {
  const { issuer, seed } = await setup(t, database === 'postgres' ? { GATEHOUSE_DATABASE_URL: await tempPostgres(t) } : {});
  const { config, verifier, url } = await authorizationUrl(issuer, seed.webRedirectUri, { resource: ITEMS_API });
  const { callback } = await loginThroughForm(createBrowser(), url, JOHN, seed.webRedirectUri);
  const code = callback.searchParams.get('code');
  assert.ok(code, `a code for the granted API: ${callback}`);
  // Exchanged for another API: refused (RFC 8707 §2.2).
  const other = await tokenRequest(issuer, { grant_type: 'authorization_code', client_id: 'web', code, redirect_uri: seed.webRedirectUri, code_verifier: verifier, resource: BILLING_API });
  assert.equal(other.status, 400);
  assert.equal(other.body.error, 'invalid_target');
  const { url: again, verifier: v2 } = await authorizationUrl(issuer, seed.webRedirectUri, { resource: ITEMS_API });
  const second = await loginThroughForm(createBrowser(), again, JOHN, seed.webRedirectUri);
  const tokens = await client.authorizationCodeGrant(config, second.callback, { pkceCodeVerifier: v2, expectedState: 'st' }, { resource: ITEMS_API });
  assert.equal(decodeJwt(tokens.access_token).aud, ITEMS_API);

  // Refresh: the refresh token cannot be turned into a token for another API either.
  assert.ok(tokens.refresh_token);
  const refreshed = await tokenRequest(issuer, { grant_type: 'refresh_token', client_id: 'web', refresh_token: tokens.refresh_token, resource: BILLING_API });
  assert.equal(refreshed.status, 400);
  assert.equal(refreshed.body.error, 'invalid_target');
});
}

for (const database of ['sqlite', 'postgres'] as const) {
test(`[${database}] client credentials and the password grant refuse an API outside the client's grant`, async (t) => {
  const { issuer, seed } = await setup(t, database === 'postgres' ? { GATEHOUSE_DATABASE_URL: await tempPostgres(t) } : {});
  const service = await tokenRequest(issuer, { grant_type: 'client_credentials', resource: BILLING_API }, seed.service);
  assert.equal(service.status, 400, JSON.stringify(service.body));
  assert.equal(service.body.error, 'invalid_target');
  const user = await tokenRequest(issuer, { grant_type: 'password', ...JOHN, resource: BILLING_API }, seed.passwordClient);
  assert.equal(user.status, 400, JSON.stringify(user.body));
  assert.equal(user.body.error, 'invalid_target');
  // The granted API still works, for both.
  assert.equal(decodeJwt((await tokenRequest(issuer, { grant_type: 'client_credentials', resource: ITEMS_API }, seed.service)).body.access_token).aud, ITEMS_API);
  assert.equal(decodeJwt((await tokenRequest(issuer, { grant_type: 'password', ...JOHN, resource: ITEMS_API }, seed.passwordClient)).body.access_token).aud, ITEMS_API);
});
}

test('an API open to dynamically registered clients is still refused to a registered client not granted it', async (t) => {
  const { issuer, seed, db } = await setup(t);
  await apis.createApi(db, { identifier: 'https://tools.example', name: 'Tools for MCP clients', scopes: 'tools:call', openToDynamicClients: true });
  for (const [grant, form, client] of [
    ['client credentials', { grant_type: 'client_credentials', resource: 'https://tools.example' }, seed.service],
    ['password', { grant_type: 'password', ...JOHN, resource: 'https://tools.example' }, seed.passwordClient],
  ] as const) {
    const refused = await tokenRequest(issuer, form, client);
    assert.deepEqual([refused.status, refused.body.error], [400, 'invalid_target'], `${grant}: ${JSON.stringify(refused.body)}`);
  }
});

test('a registered client\'s token for an API taken from it is inactive, even when that API is open to dynamically registered clients', async (t) => {
  const { issuer, seed, db, server } = await setup(t);
  const TOOLS = 'https://tools.example';
  await apis.createApi(db, { identifier: TOOLS, name: 'Tools for MCP clients', scopes: 'tools:call', openToDynamicClients: true });
  await clients.updateClient(db, 'service', { apis: [ITEMS_API, TOOLS], scopes: 'items tools:call' });
  await server.changed('clients');
  const issued = await tokenRequest(issuer, { grant_type: 'client_credentials', resource: TOOLS, scope: 'tools:call' }, seed.service);
  assert.equal(issued.status, 200, JSON.stringify(issued.body));
  const { clientSecret } = await clients.createClient(db, { clientId: 'rs', name: 'Resource server', grantTypes: 'client_credentials' });
  const introspect = async () => {
    const response = await fetch(`${issuer}/introspect`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`rs:${clientSecret}`).toString('base64')}` },
      body: new URLSearchParams({ token: issued.body.access_token }),
    });
    return ((await response.json()) as { active: boolean }).active;
  };
  assert.equal(await introspect(), true);
  // The operator takes the API back: what a registered client reaches is what it was granted,
  // never the APIs open to dynamic clients (those are for clients nobody registered by hand).
  await clients.updateClient(db, 'service', { apis: [ITEMS_API], scopes: 'items' });
  await server.changed('clients');
  assert.equal(await introspect(), false);
});

test('an unknown API and an API the client was not granted get the same answer', async (t) => {
  const { issuer, seed } = await setup(t);
  const unknown = await tokenRequest(issuer, { grant_type: 'client_credentials', resource: 'https://unknown.example' }, seed.service);
  const foreign = await tokenRequest(issuer, { grant_type: 'client_credentials', resource: BILLING_API }, seed.service);
  assert.equal(unknown.status, 400);
  assert.deepEqual(foreign.body, unknown.body, 'nothing says which APIs exist');
});

test('registration is off by default, and the start banner says what is open: registration, password-grant clients, development settings', async (t) => {
  const databaseUrl = `sqlite:${join(tempDir(t), 'gatehouse.db')}`;
  const closed = await startProcess(t, { GATEHOUSE_DATABASE_URL: databaseUrl });
  assert.equal((await fetch(`${closed.issuer}/register`)).status, 404, 'no self-registration unless turned on');
  assert.match(closed.output(), /registration off; password grant off \(no client has it\); dynamic client registration off; client metadata documents off; development settings GATEHOUSE_SMTP_URL/);
  assert.doesNotMatch(closed.output(), /registration is on/);
  await closed.stop();

  const setup = cli({ GATEHOUSE_DATABASE_URL: databaseUrl }, ['clients', 'create', '--id', 'tutorial', '--name', 'Tutorial', '--grants', 'password', '--json']);
  assert.equal(setup.code, 0, setup.stderr);
  const open = await startProcess(t, { GATEHOUSE_DATABASE_URL: databaseUrl, GATEHOUSE_REGISTRATION: 'true', GATEHOUSE_DYNAMIC_CLIENT_REGISTRATION: 'true', GATEHOUSE_SMTP_URL: 'smtp://127.0.0.1:1' });
  assert.equal((await fetch(`${open.issuer}/register`)).status, 200);
  const output = open.output();
  assert.match(output, /"level":40[^\n]*registration is on: anyone can create an account/);
  assert.match(output, /"level":40[^\n]*the password grant is on for 1 client\(s\): tutorial/);
  assert.match(output, /"level":40[^\n]*dynamic client registration is on: any client may register itself/);
  assert.match(output, /registration on; password grant on for tutorial; dynamic client registration on; client metadata documents off; development settings none/);
  const banner = output.indexOf('registration is on');
  assert.ok(banner >= 0 && banner < output.indexOf('Gatehouse is listening'), 'said before the server takes requests');
});

test('an API with no scopes is granted like any other; the default API only to the clients granted it; taking an API away stops refreshes', async (t) => {
  const { issuer, seed, db, server } = await setup(t);
  await apis.createApi(db, { identifier: 'https://status.example', name: 'Status (no scopes)', scopes: [] });
  const status = { grant_type: 'client_credentials', resource: 'https://status.example' };
  assert.equal((await tokenRequest(issuer, status, seed.service)).body.error, 'invalid_target', 'not granted: refused');
  await clients.updateClient(db, seed.service.clientId, { apis: [ITEMS_API, 'https://status.example'] });
  await server.changed('clients');
  const granted = await tokenRequest(issuer, status, seed.service);
  assert.equal(granted.status, 200, JSON.stringify(granted.body));
  const claims = decodeJwt(granted.body.access_token);
  assert.deepEqual([claims.aud, claims.scope], ['https://status.example', undefined], 'who is calling, and no scope');

  // GATEHOUSE_DEFAULT_API is the items API: a client not granted it gets no token for it by default.
  await clients.updateClient(db, seed.service.clientId, { apis: ['https://status.example'] });
  const user = await tokenRequest(issuer, { grant_type: 'password', ...JOHN }, seed.passwordClient);
  assert.equal(decodeJwt(user.body.access_token).aud, ITEMS_API, 'granted the default API: a token for it');
  await clients.updateClient(db, seed.passwordClient.clientId, { apis: [] });
  await server.changed('clients');
  const noDefault = await tokenRequest(issuer, { grant_type: 'password', ...JOHN }, seed.passwordClient);
  assert.equal(noDefault.status, 200, JSON.stringify(noDefault.body));
  assert.equal(noDefault.body.access_token.split('.').length, 1, 'no JWT for an API: an opaque token for userinfo at most');

  // The refresh token issued for the items API no longer gets tokens for it: the grant is spent
  // (invalid_grant, so a client sends its user back to authorization; ADR 0011).
  const refreshed = await tokenRequest(issuer, { grant_type: 'refresh_token', refresh_token: user.body.refresh_token }, seed.passwordClient);
  assert.deepEqual([refreshed.status, refreshed.body.error], [400, 'invalid_grant']);
});

// ADR 0004: no `scope` in a password request asks for everything the user may have at the API;
// an empty username or password is a malformed request, not a failed login.
test('the password grant: no scope means every scope the user may have; empty credentials are invalid_request', async (t) => {
  const { issuer, seed } = await setup(t);
  const all = await tokenRequest(issuer, { grant_type: 'password', ...JOHN }, seed.passwordClient);
  assert.equal(all.status, 200, JSON.stringify(all.body));
  assert.deepEqual(String(decodeJwt(all.body.access_token).scope).split(' ').sort(), ['items', 'me']);
  const some = await tokenRequest(issuer, { grant_type: 'password', ...JOHN, scope: 'me' }, seed.passwordClient);
  assert.equal(decodeJwt(some.body.access_token).scope, 'me');
  // RFC 8707 §2: one resource per token request for this grant; two are invalid_target.
  const two = new URLSearchParams({ grant_type: 'password', ...JOHN });
  two.append('resource', ITEMS_API);
  two.append('resource', BILLING_API);
  const basic = `Basic ${Buffer.from(`${seed.passwordClient.clientId}:${seed.passwordClient.clientSecret}`).toString('base64')}`;
  const twoResources = await fetch(`${issuer}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic }, body: two.toString() });
  assert.equal(twoResources.status, 400);
  assert.equal(((await twoResources.json()) as { error: string }).error, 'invalid_target');
  const forms: Record<string, string>[] = [{ username: '', password: JOHN.password }, { username: JOHN.username, password: '' }, { username: JOHN.username }];
  for (const form of forms) {
    const refused = await tokenRequest(issuer, { grant_type: 'password', ...form }, seed.passwordClient);
    assert.equal(refused.status, 400, JSON.stringify(form));
    assert.equal(refused.body.error, 'invalid_request', JSON.stringify(form));
  }
});

// Client credentials: a scope asked for is what the token gets (within the client's); none asked
// for is every scope the client may have at the API (ADR 0004).
test('client credentials: the scopes asked for, or all the client may have when none are', async (t) => {
  const { issuer, db } = await setup(t);
  const machine = await clients.createClient(db, { clientId: 'machine', name: 'Machine', grantTypes: 'client_credentials', scopes: 'me accounts:read', apis: [ITEMS_API] });
  const as = { clientId: 'machine', clientSecret: machine.clientSecret! };
  const one = await tokenRequest(issuer, { grant_type: 'client_credentials', scope: 'me' }, as);
  assert.equal(one.status, 200, JSON.stringify(one.body));
  assert.equal(decodeJwt(one.body.access_token).scope, 'me');
  const all = await tokenRequest(issuer, { grant_type: 'client_credentials' }, as);
  assert.deepEqual(String(decodeJwt(all.body.access_token).scope).split(' ').sort(), ['accounts:read', 'me']);
  // ADR 0004: a scope the client may not have is left out, not refused (the response says what it got).
  const outside = await tokenRequest(issuer, { grant_type: 'client_credentials', scope: 'me items' }, as);
  assert.equal(outside.status, 200, JSON.stringify(outside.body));
  assert.equal(decodeJwt(outside.body.access_token).scope, 'me');
});
