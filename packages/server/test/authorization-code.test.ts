// Authorization code + PKCE: the SECURITY.md cases for redirect URIs, PKCE and single-use codes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as client from 'openid-client';
import { decodeJwt } from 'jose';
import * as clients from '../src/storage/clients.ts';
import { createBrowser, formAction, formValue, loginThroughForm } from '@gatehouse/test-support/browser';
import { totpCode } from '../src/passwords/totp.ts';
import { client as pagesClient, enableTwoFactor, signIn } from './interaction-support.ts';
import { ITEMS_API, discoverClient, seedDemo, startInProcess, tokenRequest } from '@gatehouse/test-support/gatehouse';

const REDIRECT = 'http://127.0.0.1:8999/callback';
const JOHN = { username: 'johndoe', password: 'correct horse' };

async function setup(t: test.TestContext) {
  const gh = await startInProcess(t, { GATEHOUSE_DEFAULT_API: ITEMS_API });
  await seedDemo(gh.db);
  const confidential = await clients.createClient(gh.db, {
    clientId: 'conf',
    name: 'Confidential web app',
    grantTypes: 'authorization_code refresh_token',
    redirectUris: [REDIRECT],
    scopes: 'me items',
    apis: [ITEMS_API],
    firstParty: true,
  });
  return { ...gh, confidentialSecret: confidential.clientSecret! };
}

function authorizeUrl(issuer: string, params: Record<string, string>): URL {
  const url = new URL(`${issuer}/authorize`);
  for (const [k, v] of Object.entries({ response_type: 'code', redirect_uri: REDIRECT, scope: 'openid items', state: 'xyz', ...params })) {
    url.searchParams.set(k, v);
  }
  return url;
}

/** Logs in and returns a fresh code with its verifier. */
async function codeFor(issuer: string, clientId: string, extra: Record<string, string> = {}, withPkce = true) {
  const verifier = client.randomPKCECodeVerifier();
  const pkce: Record<string, string> = withPkce ? { code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' } : {};
  const { callback } = await loginThroughForm(createBrowser(), authorizeUrl(issuer, { client_id: clientId, ...pkce, ...extra }), JOHN, REDIRECT);
  const code = callback.searchParams.get('code');
  assert.ok(code, `expected a code, got ${callback}`);
  return { code, verifier, callback };
}

test('a redirect_uri that is not registered exactly gets an error page, never a redirect', async (t) => {
  const { issuer } = await setup(t);
  for (const redirect of [
    'http://127.0.0.1:8999/callback/', // trailing slash
    'http://127.0.0.1:8999/callback?x=1', // extra query
    'http://127.0.0.1:8999/Callback', // case
    'http://127.0.0.1:10/callback', // another port (not a native client)
    'https://evil.example/callback',
  ]) {
    const response = await fetch(authorizeUrl(issuer, { client_id: 'web', redirect_uri: redirect, code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' }), {
      redirect: 'manual',
      headers: { accept: 'text/html' },
    });
    assert.equal(response.status, 400, redirect);
    assert.equal(response.headers.get('location'), null, `no redirect to ${redirect}`);
    const html = await response.text();
    assert.match(html, /redirect_uri did not match/i);
    assert.match(response.headers.get('content-security-policy')!, /frame-ancestors 'none'/);
  }
});

test('PKCE: required for public clients, S256 only', async (t) => {
  const { issuer } = await setup(t);
  const errorOf = async (params: Record<string, string>) => {
    const response = await fetch(authorizeUrl(issuer, { client_id: 'web', ...params }), { redirect: 'manual' });
    assert.equal(response.status, 303);
    return new URL(response.headers.get('location')!).searchParams;
  };
  const missing = await errorOf({});
  assert.equal(missing.get('error'), 'invalid_request');
  assert.match(missing.get('error_description')!, /PKCE/);
  const plain = await errorOf({ code_challenge: 'a'.repeat(43), code_challenge_method: 'plain' });
  assert.equal(plain.get('error'), 'invalid_request');
  assert.match(plain.get('error_description')!, /plain|code_challenge_method/);
});

test('PKCE: a wrong verifier, or a verifier when no challenge was sent, is refused', async (t) => {
  const { issuer, confidentialSecret } = await setup(t);
  const auth = { clientId: 'conf', clientSecret: confidentialSecret };
  // A confidential client may skip PKCE, but then must not send a verifier (RFC 9700 §2.1.1).
  const noChallenge = await codeFor(issuer, 'conf', {}, false);
  const withVerifier = await tokenRequest(issuer, { grant_type: 'authorization_code', code: noChallenge.code, redirect_uri: REDIRECT, code_verifier: client.randomPKCECodeVerifier() }, auth);
  assert.equal(withVerifier.status, 400);
  assert.equal(withVerifier.body.error, 'invalid_grant');

  const pkce = await codeFor(issuer, 'web');
  const wrong = await tokenRequest(issuer, { grant_type: 'authorization_code', client_id: 'web', code: pkce.code, redirect_uri: REDIRECT, code_verifier: client.randomPKCECodeVerifier() });
  assert.equal(wrong.status, 400);
  assert.equal(wrong.body.error, 'invalid_grant');
  const missing = await tokenRequest(issuer, { grant_type: 'authorization_code', client_id: 'web', code: (await codeFor(issuer, 'web')).code, redirect_uri: REDIRECT });
  assert.equal(missing.body.error, 'invalid_grant');
});

test('a code is single-use: a replay gets invalid_grant and revokes what the first use issued', async (t) => {
  const { issuer } = await setup(t);
  // A plain OAuth 2.0 request (no openid): the client gets a refresh token with its code.
  const { code, verifier } = await codeFor(issuer, 'web', { scope: 'items' });
  const form = { grant_type: 'authorization_code', client_id: 'web', code, redirect_uri: REDIRECT, code_verifier: verifier };
  const first = await tokenRequest(issuer, form);
  assert.equal(first.status, 200);
  assert.ok(first.body.refresh_token);
  const replay = await tokenRequest(issuer, form);
  assert.equal(replay.status, 400);
  assert.equal(replay.body.error, 'invalid_grant');
  const refresh = await tokenRequest(issuer, { grant_type: 'refresh_token', client_id: 'web', refresh_token: first.body.refresh_token });
  assert.equal(refresh.status, 400, 'the refresh token from the first redemption was revoked');
  assert.equal(refresh.body.error, 'invalid_grant');
});

test('concurrent redemption of one code: exactly one success, never a 5xx', async (t) => {
  const { issuer } = await setup(t);
  const { code, verifier } = await codeFor(issuer, 'web');
  const form = { grant_type: 'authorization_code', client_id: 'web', code, redirect_uri: REDIRECT, code_verifier: verifier };
  const results = await Promise.all(Array.from({ length: 8 }, () => tokenRequest(issuer, form)));
  const statuses = results.map((r) => r.status);
  assert.equal(statuses.filter((s) => s === 200).length, 1, `statuses: ${statuses}`);
  for (const r of results.filter((r) => r.status !== 200)) {
    assert.equal(r.status, 400);
    assert.equal(r.body.error, 'invalid_grant');
  }
});

test('the token carries only requested scopes that the client may ask for and the user\'s roles grant', async (t) => {
  const { issuer } = await setup(t);
  const config = await discoverClient(issuer, 'web');
  const { callback, verifier } = await codeFor(issuer, 'web', { scope: 'openid items me accounts:read unknown:scope' });
  const tokens = await client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: 'xyz' });
  const claims = decodeJwt(tokens.access_token);
  assert.deepEqual(String(claims.scope).split(' ').sort(), ['items', 'me']);
  assert.equal(claims.aud, ITEMS_API);
  assert.deepEqual(tokens.scope!.split(' ').sort(), ['items', 'me'], 'the response says what the access token was granted');
});

test('an unknown API in `resource` is refused with invalid_target', async (t) => {
  const { issuer } = await setup(t);
  const verifier = client.randomPKCECodeVerifier();
  const response = await fetch(
    authorizeUrl(issuer, { client_id: 'web', resource: 'https://unknown.example', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' }),
    { redirect: 'manual' },
  );
  const location = new URL(response.headers.get('location')!);
  assert.equal(location.searchParams.get('error'), 'invalid_target');
});

test('third-party clients get a consent page listing what will be shared; denying returns access_denied', async (t) => {
  const { issuer, db } = await setup(t);
  await clients.createClient(db, { clientId: 'partner', name: 'Partner App', public: true, firstParty: false, grantTypes: 'authorization_code', redirectUris: [REDIRECT], scopes: 'me items accounts:read', apis: [ITEMS_API] });
  const browser = createBrowser();
  const verifier = client.randomPKCECodeVerifier();
  const url = authorizeUrl(issuer, { client_id: 'partner', scope: 'openid items accounts:read', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' });
  // Log in; the consent page follows.
  let response = await browser.get(url);
  response = await browser.get(new URL(response.headers.get('location')!, issuer));
  let html = await response.text();
  const csrf = /name="csrf" value="([^"]+)"/.exec(html)![1]!;
  response = await browser.post(new URL(/action="([^"]+\/login)"/.exec(html)![1]!, issuer), { csrf, ...JOHN });
  response = await browser.get(new URL(response.headers.get('location')!, issuer));
  response = await browser.get(new URL(response.headers.get('location')!, issuer));
  html = await response.text();
  assert.match(html, /Allow access\?/);
  assert.match(html, /Partner App/);
  // The name is the client's choice; where the answer goes is not: the page says both.
  assert.match(html, /Partner App<\/span> \(at <strong class="destination">127\.0\.0\.1:8999<\/strong>\)/);
  assert.match(html, /<code>items<\/code>/);
  assert.doesNotMatch(html, /<code>accounts:read<\/code>/, 'a scope the user\'s roles do not grant is not offered');
  assert.match(html, /will not be given: accounts:read/);
  const consentCsrf = /name="csrf" value="([^"]+)"/.exec(html)![1]!;
  const denied = await browser.post(new URL(/action="([^"]+\/abort)"/.exec(html)![1]!, issuer), { csrf: consentCsrf });
  assert.equal(denied.status, 303);
  const resumed = await browser.get(new URL(denied.headers.get('location')!, issuer));
  const callback = new URL(resumed.headers.get('location')!);
  assert.equal(callback.searchParams.get('error'), 'access_denied');

  // Allowing it yields a code whose token has the granted scope only.
  const allowed = await loginThroughForm(browser, url, JOHN, REDIRECT);
  const tokens = await client.authorizationCodeGrant(await discoverClient(issuer, 'partner'), allowed.callback, { pkceCodeVerifier: verifier, expectedState: 'xyz' });
  assert.equal(decodeJwt(tokens.access_token).scope, 'items');
});

test('OpenID requests: a first-party client gets a refresh token without offline_access (no consent page); a third-party one needs it', async (t) => {
  const { issuer, db } = await setup(t);
  const verifier = client.randomPKCECodeVerifier();
  const tokensFor = async (clientId: string, scope: string) => {
    const pkce = { code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' };
    const { callback } = await loginThroughForm(createBrowser(), authorizeUrl(issuer, { client_id: clientId, scope, ...pkce }), JOHN, REDIRECT);
    return (await tokenRequest(issuer, { grant_type: 'authorization_code', client_id: clientId, code: callback.searchParams.get('code')!, redirect_uri: REDIRECT, code_verifier: verifier })).body;
  };
  const firstParty = await tokensFor('web', 'openid items');
  assert.ok(firstParty.refresh_token, 'first-party, no offline_access: a refresh token');
  assert.ok(firstParty.id_token);
  await clients.createClient(db, { clientId: 'partner', name: 'Partner', public: true, firstParty: false, grantTypes: 'authorization_code refresh_token', redirectUris: [REDIRECT], scopes: 'items', apis: [ITEMS_API] });
  const thirdParty = await tokensFor('partner', 'openid items');
  assert.equal(thirdParty.refresh_token, undefined, 'third-party without offline_access: none');
});

// RFC 8176 `amr` in the ID token, through the real login pages: a password alone is `pwd`; a
// password and a TOTP code add `otp` and `mfa` (passkeys: e2e/passkeys-browser.test.ts).
test('the ID token says how the user signed in (amr): pwd, or pwd + otp + mfa with two-factor', async (t) => {
  const gh = await setup(t);
  const config = await discoverClient(gh.issuer, 'web');

  const withPassword = await codeFor(gh.issuer, 'web');
  const pwd = await client.authorizationCodeGrant(config, withPassword.callback, { pkceCodeVerifier: withPassword.verifier, expectedState: 'xyz' });
  assert.deepEqual(pwd.claims()!.amr, ['pwd']);

  // Two-factor on (through the account pages), then the authorization request again in a new browser.
  const owner = pagesClient();
  await signIn(owner, gh.issuer, JOHN.username, JOHN.password);
  const { secret } = await enableTwoFactor(owner, gh.issuer, JOHN.password);
  const browser = pagesClient();
  const verifier = client.randomPKCECodeVerifier();
  let response = await browser.get(authorizeUrl(gh.issuer, { client_id: 'web', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' }));
  let url = new URL(gh.issuer);
  let callback: URL | undefined;
  for (let hops = 0; hops < 12 && !callback; hops++) {
    const location = response.headers.get('location');
    if (location) {
      url = new URL(location, url);
      if (url.href.startsWith(REDIRECT)) callback = url;
      else response = await browser.get(url);
      continue;
    }
    const html = await response.text();
    assert.equal(response.status, 200, html.slice(0, 300));
    if (html.includes('name="password"')) {
      response = await browser.post(new URL(formAction(html, '/login'), url), { csrf: formValue(html, 'csrf'), username: JOHN.username, password: JOHN.password });
    } else if (html.includes('name="pending"')) {
      // The next time step's code: the enrolment used the current one.
      response = await browser.post(new URL(formAction(html, '/second-factor'), url), { csrf: formValue(html, 'csrf'), pending: formValue(html, 'pending'), code: totpCode(secret, Date.now() + 30_000) });
    } else {
      throw new Error(`unexpected page: ${html.slice(0, 300)}`);
    }
  }
  assert.ok(callback, 'the browser came back to the client');
  const mfa = await client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: 'xyz' });
  assert.deepEqual(mfa.claims()!.amr, ['pwd', 'otp', 'mfa']);
  assert.equal(mfa.claims()!.sub, pwd.claims()!.sub);
});

test('a code request without a code, or with an empty one, is invalid_request, not a server error', async (t) => {
  const { issuer, confidentialSecret } = await setup(t);
  for (const form of [{}, { code: '' }] as Record<string, string>[]) {
    const answer = await tokenRequest(issuer, { grant_type: 'authorization_code', redirect_uri: REDIRECT, ...form }, { clientId: 'conf', clientSecret: confidentialSecret });
    assert.equal(answer.status, 400, JSON.stringify(answer.body));
    assert.equal(answer.body.error, 'invalid_request');
    assert.match(answer.body.error_description, /code/);
  }
});

// A relying party that signs users in and calls no API: its grant holds no resource. Its access
// token is for userinfo, and its refresh token refreshes like any other (the role check that runs
// before every refresh has no API scopes to drop).
test('a sign-in for no API (OpenID Connect only): the token reads userinfo, the refresh token refreshes', async (t) => {
  const gh = await startInProcess(t, {}); // no default API
  await seedDemo(gh.db);
  const rp = await clients.createClient(gh.db, {
    clientId: 'rp',
    name: 'Sign-in only',
    grantTypes: 'authorization_code refresh_token',
    redirectUris: [REDIRECT],
    firstParty: true,
  });
  const auth = { clientId: 'rp', clientSecret: rp.clientSecret! };
  const { code, verifier } = await codeFor(gh.issuer, 'rp', { scope: 'openid profile email' });
  const tokens = await tokenRequest(gh.issuer, { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT }, auth);
  assert.equal(tokens.status, 200, JSON.stringify(tokens.body));
  assert.equal(typeof tokens.body.refresh_token, 'string', 'a first-party client gets a refresh token');
  const subject = decodeJwt(tokens.body.id_token).sub;
  const userinfo = async (accessToken: string) => {
    const response = await fetch(`${gh.issuer}/userinfo`, { headers: { authorization: `Bearer ${accessToken}` } });
    assert.equal(response.status, 200, await response.clone().text());
    return (await response.json()) as { sub: string; email?: string; preferred_username?: string };
  };
  const claims = await userinfo(tokens.body.access_token);
  assert.equal(claims.sub, subject);
  assert.equal(claims.preferred_username, 'johndoe');
  assert.equal(claims.email, 'johndoe@example.com');
  const refreshed = await tokenRequest(gh.issuer, { grant_type: 'refresh_token', refresh_token: tokens.body.refresh_token }, auth);
  assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body));
  assert.notEqual(refreshed.body.refresh_token, tokens.body.refresh_token, 'rotated');
  assert.equal((await userinfo(refreshed.body.access_token)).sub, subject);
});
