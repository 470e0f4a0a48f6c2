// OpenID Connect Back-Channel Logout 1.0: a client registered with a backchannel_logout_uri gets
// a logout token when a session it took part in ends, at /logout or by an admin. The relying
// party is a real HTTP server; the tokens are checked with jose against the published JWKS, an
// implementation independent of the server's.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { test, type TestContext } from 'node:test';
import * as oidc from 'openid-client';
import { createRemoteJWKSet, decodeJwt, jwtVerify, type JWTPayload } from 'jose';
import { createBrowser, formValue, loginThroughForm, type Browser } from '@gatehouse/test-support/browser';
import { startTinyServer, type TinyServer } from '@gatehouse/test-support/http-server';
import { tempDir } from '@gatehouse/test-support/files';
import { waitFor } from '@gatehouse/test-support/wait';
import { cli, discoverClient, ITEMS_API, seedDemo } from '@gatehouse/test-support/gatehouse';
import { issueAccountToken } from '../src/storage/account-tokens.ts';
import { createClient } from '../src/storage/clients.ts';
import { startAdmin, type AdminServer } from './admin-support.ts';

const EVENT = 'http://schemas.openid.net/event/backchannel-logout';

interface Rp {
  readonly clientId: string;
  readonly redirectUri: string;
  readonly endpoint: TinyServer;
}

interface Fixture {
  readonly server: AdminServer;
  readonly rp: Rp;
  /** A client with a back-channel URI that never signs the user in: it must hear nothing. */
  readonly bystander: TinyServer;
  readonly userId: string;
}

async function setup(t: TestContext, options: { rpStatus?: number; logs?: string[]; env?: Record<string, string> } = {}): Promise<Fixture> {
  const logs = options.logs;
  const logger = logs && { logger: { level: 'warn', stream: new Writable({ write: (chunk, _encoding, done) => (logs.push(String(chunk)), done()) }) } };
  const server = await startAdmin(t, { GATEHOUSE_DEFAULT_API: ITEMS_API, ...options.env }, logger ?? {});
  await seedDemo(server.db);
  const endpoint = await startTinyServer(t, () => ({ body: '', status: options.rpStatus ?? 200 }));
  const bystander = await startTinyServer(t);
  const redirectUri = `${endpoint.origin}/callback`;
  await createClient(server.db, {
    clientId: 'rp',
    name: 'Relying party',
    public: true,
    grantTypes: 'authorization_code',
    redirectUris: [redirectUri],
    firstParty: true,
    backchannelLogoutUri: `${endpoint.origin}/backchannel-logout`,
  });
  await createClient(server.db, {
    clientId: 'bystander',
    name: 'Bystander',
    public: true,
    grantTypes: 'authorization_code',
    redirectUris: [`${bystander.origin}/callback`],
    firstParty: true,
    backchannelLogoutUri: `${bystander.origin}/backchannel-logout`,
  });
  const user = await server.db.selectFrom('users').select('id').where('username', '=', 'johndoe').executeTakeFirstOrThrow();
  return { server, rp: { clientId: 'rp', redirectUri, endpoint }, bystander, userId: user.id };
}

/** Signs johndoe in to the relying party (authorization code with PKCE); returns its ID token's claims. */
async function signIn(f: Fixture, browser: Browser): Promise<{ idToken: string; claims: JWTPayload }> {
  const config = await discoverClient(f.server.issuer, f.rp.clientId);
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: f.rp.redirectUri,
    scope: 'openid',
    state,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
  });
  const { callback } = await loginThroughForm(browser, url, { username: 'johndoe', password: 'correct horse' }, f.rp.redirectUri);
  const tokens = await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state });
  return { idToken: tokens.id_token!, claims: decodeJwt(tokens.id_token!) };
}

/** RP-initiated logout as the browser does it: the confirmation page, then its form. */
async function logOut(issuer: string, browser: Browser, idToken: string): Promise<Response> {
  const page = await browser.get(`${issuer}/logout?id_token_hint=${encodeURIComponent(idToken)}`);
  assert.equal(page.status, 200);
  const html = await page.text();
  const action = /action="([^"]+)"/.exec(html)![1]!;
  return browser.post(new URL(action, issuer), { xsrf: formValue(html, 'xsrf'), logout: 'yes' });
}

/** The logout tokens POSTed to a back-channel endpoint, checked as a form with a logout_token. */
function logoutTokens(endpoint: TinyServer): string[] {
  return endpoint.posts.map((post) => {
    assert.equal(post.url.pathname, '/backchannel-logout');
    assert.match(post.contentType ?? '', /^application\/x-www-form-urlencoded/);
    const token = new URLSearchParams(post.body).get('logout_token');
    assert.ok(token, 'the POST carries a logout_token');
    return token;
  });
}

/** Back-Channel Logout §2.4 and §2.6, checked with jose against the published JWKS. */
async function assertValidLogoutToken(issuer: string, token: string, expected: { aud: string; sub: string; sid: string }): Promise<void> {
  const jwks = createRemoteJWKSet(new URL(`${issuer}/jwks`));
  const { payload, protectedHeader } = await jwtVerify(token, jwks, { issuer, audience: expected.aud, typ: 'logout+jwt' });
  assert.equal(payload.sub, expected.sub);
  assert.equal(payload.sid, expected.sid);
  assert.deepEqual(payload.events, { [EVENT]: {} });
  assert.equal(typeof payload.iat, 'number');
  assert.equal(typeof payload.jti, 'string');
  assert.ok(!('nonce' in payload), 'a logout token carries no nonce (§2.4)');
  assert.ok(['ES256', 'RS256'].includes(protectedHeader.alg));
}

test('discovery says back-channel logout is supported, with sid', async (t) => {
  const f = await setup(t);
  const metadata = await (await fetch(`${f.server.issuer}/.well-known/openid-configuration`)).json();
  assert.equal(metadata.backchannel_logout_supported, true);
  assert.equal(metadata.backchannel_logout_session_supported, true);
});

test('logging out at /logout sends the relying party a valid logout token naming the session; a client not in the session gets none', async (t) => {
  const f = await setup(t);
  const browser = createBrowser();
  const { idToken, claims } = await signIn(f, browser);
  assert.equal(typeof claims.sid, 'string', 'the ID token names the session, so the relying party can match the logout token');
  assert.equal(f.rp.endpoint.posts.length, 0);

  const confirmed = await logOut(f.server.issuer, browser, idToken);
  assert.equal(confirmed.status, 303);

  const [token, ...more] = logoutTokens(f.rp.endpoint);
  assert.equal(more.length, 0, 'one logout token');
  await assertValidLogoutToken(f.server.issuer, token!, { aud: 'rp', sub: claims.sub!, sid: claims.sid as string });
  assert.equal(f.bystander.posts.length, 0, 'the other client took no part in the session');
});

// With metadata documents on, oidc-provider's outgoing requests go through a dispatcher that
// refuses private and loopback addresses (engine/metadata-documents.ts). A logout token is for a
// client an operator registered, often on a private network: it does not go through it.
test('with client metadata documents on, logout tokens still reach a relying party on a private address', async (t) => {
  const f = await setup(t, { env: { GATEHOUSE_CLIENT_ID_METADATA_DOCUMENTS: 'true' } });
  const browser = createBrowser();
  const { idToken, claims } = await signIn(f, browser);
  assert.equal((await logOut(f.server.issuer, browser, idToken)).status, 303);
  const [token] = logoutTokens(f.rp.endpoint);
  assert.ok(token, 'the loopback relying party got its logout token');
  await assertValidLogoutToken(f.server.issuer, token, { aud: 'rp', sub: claims.sub!, sid: claims.sid as string });
});

test('a relying party that fails to answer does not stop the logout; the failure is logged', async (t) => {
  const logs: string[] = [];
  const f = await setup(t, { rpStatus: 500, logs });
  const browser = createBrowser();
  const { idToken } = await signIn(f, browser);
  const confirmed = await logOut(f.server.issuer, browser, idToken);
  assert.equal(confirmed.status, 303, 'the user is logged out');
  assert.equal(f.rp.endpoint.posts.length, 1, 'the token was sent');
  const again = await browser.get(`${f.server.issuer}/logout`);
  assert.doesNotMatch(await again.text(), /johndoe/, 'the session is gone');
  const warning = logs.flatMap((chunk) => chunk.split('\n').filter(Boolean)).map((line) => JSON.parse(line)).find((entry) => entry.msg?.startsWith('back-channel logout not delivered'));
  assert.ok(warning, 'the operator is told');
  assert.equal(warning.clientId, 'rp');
  assert.doesNotMatch(logs.join(''), /logout_token|eyJ/, 'never the token');
});

test('an admin ending the user\'s sessions sends the relying party a logout token', async (t) => {
  const f = await setup(t);
  const ops = await f.server.clientToken(await f.server.machine('ops', ['admin:users:write']), ['admin:users:write']);
  const { claims } = await signIn(f, createBrowser());
  const ended = await f.server.call('DELETE', `/admin/api/users/${f.userId}/sessions`, { token: ops });
  assert.equal(ended.status, 200, ended.text);
  const [token, ...more] = logoutTokens(f.rp.endpoint);
  assert.equal(more.length, 0);
  await assertValidLogoutToken(f.server.issuer, token!, { aud: 'rp', sub: claims.sub!, sid: claims.sid as string });
  assert.equal(f.bystander.posts.length, 0);
});

test('a relying party that fails to answer a logout the admin API started is logged as well', async (t) => {
  // Gatehouse sends these itself (not oidc-provider's /logout): its own report of a failure.
  const logs: string[] = [];
  const f = await setup(t, { rpStatus: 500, logs });
  const ops = await f.server.clientToken(await f.server.machine('ops', ['admin:users:write']), ['admin:users:write']);
  await signIn(f, createBrowser());
  const ended = await f.server.call('DELETE', `/admin/api/users/${f.userId}/sessions`, { token: ops });
  assert.equal(ended.status, 200, ended.text);
  assert.equal(logoutTokens(f.rp.endpoint).length, 1, 'the token was sent');
  const entries = () => logs.flatMap((chunk) => chunk.split('\n').filter(Boolean)).map((line) => JSON.parse(line));
  const warning = await waitFor(() => entries().find((entry) => entry.msg?.startsWith('back-channel logout not delivered')), { message: 'the failure logged' });
  assert.equal(warning.clientId, 'rp');
  assert.doesNotMatch(logs.join(''), /logout_token|eyJ/, 'never the token');
});

test('disabling the user sends the relying party a logout token', async (t) => {
  const f = await setup(t);
  const ops = await f.server.clientToken(await f.server.machine('ops', ['admin:users:write']), ['admin:users:write']);
  const { claims } = await signIn(f, createBrowser());
  const disabled = await f.server.call('POST', `/admin/api/users/${f.userId}/disable`, { token: ops });
  assert.equal(disabled.status, 200, disabled.text);
  const [token] = logoutTokens(f.rp.endpoint);
  await assertValidLogoutToken(f.server.issuer, token!, { aud: 'rp', sub: claims.sub!, sid: claims.sid as string });
});

test('the admin API sets, shows and removes a client\'s back-channel logout URI, and refuses bad ones by field', async (t) => {
  const server = await startAdmin(t);
  const token = await server.clientToken(await server.machine('ops', ['admin:clients:read', 'admin:clients:write']), ['admin:clients:read', 'admin:clients:write']);
  const base = { name: 'Web', public: true, grant_types: ['authorization_code'], redirect_uris: ['https://app.example.com/cb'], first_party: true };
  const created = await server.call('POST', '/admin/api/clients', { token }, { ...base, client_id: 'web', backchannel_logout_uri: 'https://app.example.com/bcl' });
  assert.equal(created.status, 201, created.text);
  assert.equal(created.body.client.backchannel_logout_uri, 'https://app.example.com/bcl');
  assert.equal(created.body.client.backchannel_logout_session_required, true, 'sid by default');

  const read = await server.call('GET', '/admin/api/clients/web', { token });
  assert.equal(read.body.backchannel_logout_uri, 'https://app.example.com/bcl');

  const changed = await server.call('PATCH', '/admin/api/clients/web', { token }, { backchannel_logout_uri: 'http://localhost:8002/bcl', backchannel_logout_session_required: false });
  assert.equal(changed.status, 200, changed.text);
  assert.equal(changed.body.backchannel_logout_uri, 'http://localhost:8002/bcl');
  assert.equal(changed.body.backchannel_logout_session_required, false);

  const removed = await server.call('PATCH', '/admin/api/clients/web', { token }, { backchannel_logout_uri: null });
  assert.equal(removed.body.backchannel_logout_uri, null);

  const without = await server.call('POST', '/admin/api/clients', { token }, { ...base, client_id: 'plain' });
  assert.equal(without.body.client.backchannel_logout_uri, null, 'none unless given');

  for (const [uri, why] of [
    ['http://app.example.com/bcl', /https/],
    ['https://app.example.com/bcl#frag', /fragment/],
    ['not a url', /absolute URL/],
    ['javascript:alert(1)', /scheme/],
  ] as const) {
    const refused = await server.call('PATCH', '/admin/api/clients/web', { token }, { backchannel_logout_uri: uri });
    assert.equal(refused.status, 400, uri);
    assert.equal(refused.body.field, 'backchannel_logout_uri', uri);
    assert.match(refused.body.error_description ?? refused.body.message ?? refused.text, why, uri);
  }
  const machine = await server.call('POST', '/admin/api/clients', { token }, { name: 'M', grant_types: ['client_credentials'], backchannel_logout_uri: 'https://m.example.com/bcl' });
  assert.equal(machine.status, 400);
  assert.equal(machine.body.field, 'backchannel_logout_uri', 'no session to end without the authorization_code grant');
});

test('the CLI sets, shows and removes a client\'s back-channel logout URI, and refuses a bad one', async (t) => {
  const env = { GATEHOUSE_DATABASE_URL: `sqlite:${join(tempDir(t), 'gatehouse.db')}` };
  const run = (...args: string[]) => cli(env, ['clients', ...args]);
  const created = run('create', '--id', 'web', '--name', 'Web', '--public', '--first-party', '--grants', 'authorization_code',
    '--redirect-uri', 'https://app.example.com/cb', '--backchannel-logout-uri', 'https://app.example.com/bcl', '--json');
  assert.equal(created.code, 0, created.stderr);
  assert.equal(created.json.client.backchannelLogoutUri, 'https://app.example.com/bcl');
  const human = run('create', '--id', 'web2', '--name', 'Web 2', '--public', '--first-party', '--grants', 'authorization_code',
    '--redirect-uri', 'https://app.example.com/cb', '--backchannel-logout-uri', 'http://127.0.0.1:8002/bcl');
  assert.match(human.stdout, /back-channel logout: http:\/\/127\.0\.0\.1:8002\/bcl/);

  const updated = run('update', 'web', '--backchannel-logout-uri', 'https://other.example.com/bcl');
  assert.equal(updated.code, 0, updated.stderr);
  assert.match(updated.stdout, /back-channel logout https:\/\/other\.example\.com\/bcl/);
  const removed = run('update', 'web', '--no-backchannel-logout', '--json');
  assert.equal(removed.json.client.backchannelLogoutUri, null);

  const refused = run('update', 'web', '--backchannel-logout-uri', 'http://app.example.com/bcl');
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /backchannel_logout_uri must use https/);
});

test('signing out from the account page sends the relying party a logout token too', async (t) => {
  const f = await setup(t);
  const browser = createBrowser();
  const { claims } = await signIn(f, browser);
  // The account page signs in through the same Gatehouse session (no login form this time).
  let response = await browser.get(`${f.server.issuer}/account`);
  for (let hops = 0; response.headers.get('location') && hops < 10; hops++) response = await browser.get(new URL(response.headers.get('location')!, f.server.issuer));
  const html = await response.text();
  const signOut = /<a href="([^"]*\/logout[^"]*)">Sign out<\/a>/.exec(html)?.[1];
  assert.ok(signOut, 'the account page has a sign-out link');
  const confirm = await browser.get(new URL(signOut.replace(/&amp;/g, '&'), f.server.issuer));
  const page = await confirm.text();
  const action = /action="([^"]+)"/.exec(page)![1]!;
  const done = await browser.post(new URL(action, f.server.issuer), { xsrf: formValue(page, 'xsrf'), logout: 'yes' });
  assert.equal(done.status, 303);
  const [token] = logoutTokens(f.rp.endpoint);
  await assertValidLogoutToken(f.server.issuer, token!, { aud: 'rp', sub: claims.sub!, sid: claims.sid as string });
});

test('every password change that ends sessions sends logout tokens: an admin setting it, a reset link, the account page (other sessions only)', async (t) => {
  const NEW = 'a brand new passphrase';
  await t.test('an admin sets the password', async (t) => {
    const f = await setup(t);
    const ops = await f.server.clientToken(await f.server.machine('ops', ['admin:users:write']), ['admin:users:write']);
    const { claims } = await signIn(f, createBrowser());
    const set = await f.server.call('PUT', `/admin/api/users/${f.userId}/password`, { token: ops }, { password: NEW });
    assert.equal(set.status, 200, set.text);
    const [token] = logoutTokens(f.rp.endpoint);
    await assertValidLogoutToken(f.server.issuer, token!, { aud: 'rp', sub: claims.sub!, sid: claims.sid as string });
  });

  await t.test('a reset link is used', async (t) => {
    const f = await setup(t);
    const { claims } = await signIn(f, createBrowser());
    const reset = await issueAccountToken(f.server.db, { purpose: 'reset_password', userId: f.userId, email: 'johndoe@example.com', ttlSeconds: 3600 });
    const done = await fetch(`${f.server.issuer}/reset-password`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: reset, password: NEW, confirm: NEW }).toString(),
    });
    assert.equal(done.status, 200);
    const [token] = logoutTokens(f.rp.endpoint);
    await assertValidLogoutToken(f.server.issuer, token!, { aud: 'rp', sub: claims.sub!, sid: claims.sid as string });
  });

  await t.test('the account page changes it: the other browser\'s session is named, this one\'s is not', async (t) => {
    const f = await setup(t);
    const here = createBrowser();
    const there = createBrowser();
    const mine = await signIn(f, here);
    const other = await signIn(f, there);
    assert.notEqual(mine.claims.sid, other.claims.sid);
    let form = await here.get(`${f.server.issuer}/account/password`);
    for (let hops = 0; form.headers.get('location') && hops < 10; hops++) form = await here.get(new URL(form.headers.get('location')!, f.server.issuer));
    const html = await form.text();
    const changed = await here.post(`${f.server.issuer}/account/password`, { csrf: formValue(html, 'csrf'), current: 'correct horse', password: NEW, confirm: NEW });
    assert.equal(changed.status, 303);
    const tokens = logoutTokens(f.rp.endpoint);
    assert.equal(tokens.length, 1, 'only the other session ended');
    await assertValidLogoutToken(f.server.issuer, tokens[0]!, { aud: 'rp', sub: other.claims.sub!, sid: other.claims.sid as string });
  });
});
