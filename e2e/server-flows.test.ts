// The whole server, as an operator runs it: `gatehouse serve` in its own process, configured
// through the CLI, every grant driven by openid-client (an independent, certified client).
// Then a restart: refresh tokens and login sessions survive it.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import * as client from 'openid-client';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { createBrowser, loginThroughForm } from '@gatehouse/test-support/browser';
import { tempDir } from '@gatehouse/test-support/files';
import { cli, startProcess } from '@gatehouse/test-support/gatehouse';
import { waitFor } from '@gatehouse/test-support/wait';

const API = 'https://items.example.com';
const REDIRECT = 'http://127.0.0.1:8999/callback';

function discover(issuer: string, clientId: string, auth: client.ClientAuth, metadata?: Partial<client.ClientMetadata>) {
  return client.discovery(new URL(issuer), clientId, metadata, auth, { execute: [client.allowInsecureRequests] });
}

test('gatehouse serve: every grant through openid-client, and state that survives a restart', async (t) => {
  const dir = tempDir(t);
  const env = { GATEHOUSE_DATABASE_URL: `sqlite:${join(dir, 'gatehouse.db')}`, GATEHOUSE_DEFAULT_API: API };

  // Everything the test needs is created through the CLI, as an operator would.
  const mustRun = (...args: string[]) => {
    const result = cli(env, [...args, '--json']);
    assert.equal(result.code, 0, `gatehouse ${args.join(' ')} failed: ${result.stderr}`);
    return result.json;
  };
  mustRun('apis', 'create', '--identifier', API, '--name', 'Items', '--scopes', 'me items accounts:read');
  mustRun('roles', 'create', '--name', 'user', '--scopes', 'me items');
  mustRun('users', 'create', '--username', 'johndoe', '--password', 'correct horse', '--roles', 'user');
  const service = mustRun('clients', 'create', '--api', API, '--name', 'Service', '--grants', 'client_credentials', '--scopes', 'accounts:read items');
  const cliClient = mustRun('clients', 'create', '--api', API, '--name', 'CLI', '--grants', 'password,refresh_token', '--scopes', 'me items accounts:read');
  const web = mustRun('clients', 'create', '--api', API, '--name', 'Web', '--public', '--first-party', '--grants', 'authorization_code,refresh_token',
    '--redirect-uri', REDIRECT, '--post-logout-redirect-uri', 'http://127.0.0.1:8999/', '--scopes', 'me items accounts:read');
  assert.match(service.clientSecret, /^gatehouse_cs_/);
  assert.equal(web.clientSecret, undefined, 'a public client has no secret');

  let server = await startProcess(t, env);
  const issuer = server.issuer;

  await t.test('discovery (OpenID and RFC 8414) names this issuer and its endpoints', async () => {
    const config = await discover(issuer, service.client.clientId, client.ClientSecretBasic(service.clientSecret));
    const metadata = config.serverMetadata();
    assert.equal(metadata.issuer, issuer);
    assert.equal(metadata.token_endpoint, `${issuer}/token`);
    assert.deepEqual(metadata.code_challenge_methods_supported, ['S256']);
    const oauth = await fetch(`${issuer}/.well-known/oauth-authorization-server`).then((r) => r.json());
    assert.equal(oauth.issuer, issuer);
    assert.equal(oauth.jwks_uri, metadata.jwks_uri);
  });

  await t.test('client credentials: an RFC 9068 JWT for the API with only the allowed scopes', async () => {
    const config = await discover(issuer, service.client.clientId, client.ClientSecretBasic(service.clientSecret));
    const tokens = await client.clientCredentialsGrant(config, { scope: 'accounts:read me' });
    assert.equal(tokens.scope, 'accounts:read', '`me` is not allowed for this client and is dropped');
    assert.equal(decodeProtectedHeader(tokens.access_token).typ, 'at+jwt');
    const claims = decodeJwt(tokens.access_token);
    assert.equal(claims.iss, issuer);
    assert.equal(claims.aud, API);
    assert.equal(claims.client_id, service.client.clientId);
    assert.equal(claims.sub, service.client.clientId, 'RFC 9068 §2.2: a client token names the client');
    for (const claim of ['jti', 'iat', 'exp']) assert.ok(claims[claim], `${claim} present`);
  });

  let passwordRefresh = '';
  await t.test('password grant: scopes limited by the user\'s roles, with a refresh token', async () => {
    const config = await discover(issuer, cliClient.client.clientId, client.ClientSecretBasic(cliClient.clientSecret));
    const tokens = await client.genericGrantRequest(config, 'password', { username: 'johndoe', password: 'correct horse', scope: 'items accounts:read' });
    assert.equal(tokens.scope, 'items', 'accounts:read is not granted by any of johndoe\'s roles');
    assert.equal(tokens.token_type.toLowerCase(), 'bearer');
    assert.ok(tokens.expires_in! > 0);
    assert.ok(tokens.refresh_token);
    passwordRefresh = tokens.refresh_token;
    await assert.rejects(
      client.genericGrantRequest(config, 'password', { username: 'johndoe', password: 'wrong' }),
      (error: client.ResponseBodyError) => error.error === 'invalid_grant',
    );
  });

  let webRefresh = '';
  let idToken = '';
  const browser = createBrowser();
  await t.test('authorization code + PKCE through the login page', async () => {
    const config = await discover(issuer, web.client.clientId, client.None());
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT,
      scope: 'openid offline_access items',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      prompt: 'consent',
    });
    const { callback, statuses } = await loginThroughForm(browser, url, { username: 'johndoe', password: 'correct horse' }, REDIRECT);
    assert.ok(statuses.includes(303), 'the login form answers 303');
    const tokens = await client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state });
    assert.equal(decodeJwt(tokens.access_token).aud, API);
    assert.match(tokens.scope!, /\bitems\b/);
    assert.ok(tokens.refresh_token, 'offline_access gives a refresh token');
    assert.ok(tokens.id_token);
    assert.equal(tokens.claims()!.iss, issuer);
    webRefresh = tokens.refresh_token;
    idToken = tokens.id_token;
  });

  await t.test('refresh rotates; once the successor is used the old token is reuse, and the grant is revoked', async () => {
    const config = await discover(issuer, cliClient.client.clientId, client.ClientSecretBasic(cliClient.clientSecret));
    const first = await client.refreshTokenGrant(config, passwordRefresh);
    assert.ok(first.refresh_token && first.refresh_token !== passwordRefresh, 'a new refresh token');
    const second = await client.refreshTokenGrant(config, first.refresh_token!);
    assert.ok(second.refresh_token && second.refresh_token !== first.refresh_token, 'and another');
    // The successor was used: no window replays the old token any more (docs/adr/0007-outages.md).
    await assert.rejects(client.refreshTokenGrant(config, passwordRefresh), (e: client.ResponseBodyError) => e.error === 'invalid_grant');
    await assert.rejects(
      client.refreshTokenGrant(config, second.refresh_token!),
      (e: client.ResponseBodyError) => e.error === 'invalid_grant',
      'reuse revoked the whole grant, the latest token included',
    );
  });

  await t.test('introspection needs client authentication and answers only {active:false} when inactive', async () => {
    const config = await discover(issuer, service.client.clientId, client.ClientSecretBasic(service.clientSecret));
    const active = await client.tokenIntrospection(config, webRefresh);
    assert.equal(active.active, true);
    assert.equal(active.client_id, web.client.clientId);
    const inactive = await client.tokenIntrospection(config, 'not-a-token');
    assert.deepEqual(inactive, { active: false });
    const anonymous = await fetch(`${issuer}/introspect`, { method: 'POST', body: new URLSearchParams({ token: webRefresh }) });
    // RFC 6749 §5.2: no client authentication included is invalid_client.
    assert.equal(anonymous.status, 401);
    assert.equal((await anonymous.json()).error, 'invalid_client');
  });

  await t.test('restart: refresh tokens and login sessions survive', async () => {
    await server.stop();
    server = await startProcess(t, env, server.port);
    const config = await discover(issuer, web.client.clientId, client.None());
    const refreshed = await client.refreshTokenGrant(config, webRefresh);
    assert.ok(refreshed.access_token);
    webRefresh = refreshed.refresh_token!;
    // The browser's session cookie still signs in: no login page this time.
    const verifier = client.randomPKCECodeVerifier();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT,
      scope: 'openid items',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    const { callback, statuses } = await loginThroughForm(browser, url, { username: 'nobody', password: 'x' }, REDIRECT);
    assert.ok(!statuses.includes(401), 'no login form was posted');
    assert.ok(callback.searchParams.get('code'), 'signed in by the surviving session');
  });

  await t.test('revocation: a revoked refresh token stops working', async () => {
    const config = await discover(issuer, web.client.clientId, client.None());
    await client.tokenRevocation(config, webRefresh);
    await assert.rejects(client.refreshTokenGrant(config, webRefresh), (e: client.ResponseBodyError) => e.error === 'invalid_grant');
  });

  await t.test('logout ends the session: the next authorization shows the login page', async () => {
    const config = await discover(issuer, web.client.clientId, client.None());
    const end = client.buildEndSessionUrl(config, { id_token_hint: idToken, post_logout_redirect_uri: 'http://127.0.0.1:8999/' });
    const page = await browser.get(end);
    const html = await page.text();
    assert.equal(page.status, 200);
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(html)![1]!;
    const action = /action="([^"]+)"/.exec(html)![1]!;
    const confirmed = await browser.post(new URL(action, issuer), { xsrf, logout: 'yes' });
    assert.equal(confirmed.status, 303);
    assert.equal(confirmed.headers.get('location'), 'http://127.0.0.1:8999/');
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT,
      scope: 'openid',
      code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
    });
    const first = await browser.get(url);
    const login = await browser.get(new URL(first.headers.get('location')!, issuer));
    assert.match(await login.text(), /name="password"/, 'the login page again');
  });

  await t.test('no secret ever reached the logs', () => {
    const output = server.output();
    for (const secret of [service.clientSecret, cliClient.clientSecret, 'correct horse', webRefresh]) {
      assert.ok(!output.includes(secret), 'a secret was logged');
    }
  });
});
