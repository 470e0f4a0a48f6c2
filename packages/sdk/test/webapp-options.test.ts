// Misuse of the web-app helper fails when it is created, with a TypeError naming the option.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createAuthenticator } from '@gatehouse/sdk';
import { createWebApp, WEBAPP_DEFAULTS, type WebAppOptions } from '@gatehouse/sdk/webapp';

const authenticator = createAuthenticator({ issuer: 'https://id.example.test', audience: 'https://api.example.test', algorithms: ['ES256'] });
const valid: WebAppOptions = {
  authenticator,
  clientId: 'web',
  clientSecret: 'gatehouse_cs_secret',
  publicUrl: 'https://app.example.test',
  secret: 'x'.repeat(32),
};

test('a valid configuration builds, with the documented defaults', () => {
  const webApp = createWebApp(valid);
  assert.deepEqual(webApp.description, {
    origin: 'https://app.example.test',
    paths: WEBAPP_DEFAULTS.paths,
    redirectUri: 'https://app.example.test/auth/callback',
    postLogoutRedirectUri: 'https://app.example.test/',
    cookies: { session: '__Host-gatehouse_session', login: '__Host-gatehouse_session_login' },
    backchannelLogout: undefined,
  });
  assert.deepEqual(createWebApp({ ...valid, backchannelLogout: true }).description.backchannelLogout, {
    path: WEBAPP_DEFAULTS.backchannelLogout.path,
    uri: 'https://app.example.test/auth/backchannel-logout',
  });
  const local = createWebApp({ ...valid, publicUrl: 'http://localhost:8002', cookieName: 'notes', paths: { callback: '/oidc/cb', afterLogout: '/bye' } });
  assert.equal(local.description.redirectUri, 'http://localhost:8002/oidc/cb');
  assert.equal(local.description.postLogoutRedirectUri, 'http://localhost:8002/bye');
  assert.deepEqual(local.description.cookies, { session: 'notes', login: 'notes_login' }, 'no __Host- prefix over http');
});

test('misuse names the option', () => {
  const cases: [Partial<Record<keyof WebAppOptions, unknown>>, RegExp][] = [
    [{ authenticator: undefined }, /^authenticator: required/],
    [{ clientId: '' }, /^clientId: required/],
    [{ clientSecret: undefined }, /^clientSecret: required \(the app is a confidential client\)/],
    [{ publicUrl: undefined }, /^publicUrl: required/],
    [{ publicUrl: 'http://app.example.test' }, /^publicUrl: expected an https URL \(http only on localhost/],
    [{ publicUrl: 'https://app.example.test/app' }, /^publicUrl: expected an origin without path/],
    [{ publicUrl: 'https://app.example.test/?x=1' }, /^publicUrl: expected an origin/],
    [{ secret: undefined }, /^secret: required/],
    [{ secret: 'short' }, /^secret: expected at least 32 characters/],
    [{ secret: ['x'.repeat(32), 'short'] }, /^secret\[1\]: expected at least 32 characters/],
    [{ secret: [] }, /^secret: required/],
    [{ scopes: ['two words'] }, /^scopes\[0\]: a scope is a non-empty string without spaces/],
    [{ scopes: 'notes' }, /^scopes: expected an array/],
    [{ prompt: 'consent"' }, /^prompt: expected space-separated prompt values/],
    [{ paths: { login: 'auth/login' } }, /^paths\.login: expected an absolute path/],
    [{ paths: { callback: '//evil.example/cb' } }, /^paths\.callback: expected an absolute path/],
    [{ paths: { login: '/auth', logout: '/auth' } }, /^paths: login, callback and logout need different paths/],
    [{ cookieName: '__Host-session' }, /^cookieName: expected a cookie name .* without the __Host- prefix/],
    [{ cookieName: 'a b' }, /^cookieName: expected a cookie name/],
    [{ sessionMaxAge: 10 }, /^sessionMaxAge: expected a number of seconds ≥ 60/],
    [{ loginTimeout: Number.NaN }, /^loginTimeout: expected a number of seconds/],
    [{ refreshSkew: -1 }, /^refreshSkew: expected a number of seconds ≥ 0/],
    [{ trustedOrigins: ['https://app.example.test/'] }, /^trustedOrigins\[0\]: expected an origin/],
    [{ fetch: 'fetch' }, /^fetch: expected a function/],
    [{ onError: true }, /^onError: expected a function/],
  ];
  for (const [override, message] of cases) {
    assert.throws(() => createWebApp({ ...valid, ...override } as WebAppOptions), (error: Error) => error instanceof TypeError && message.test(error.message), JSON.stringify(override));
  }
  assert.throws(() => createWebApp(valid).requirement({ scopes: ['a b'] }, 'GET /x: session'), /^TypeError: GET \/x: session\.scopes\[0\]/);
});
