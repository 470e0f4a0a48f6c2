// The web-app sign-in flow against a real Gatehouse server: the redirect to the login page, the
// callback and every check on it (state, iss, nonce, replay), the session cookie's attributes, and
// cookies that must not open (tampered, another secret, sent twice).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createBrowser, loginThroughForm } from '@gatehouse/test-support/browser';
import { API, buildTestApp, cookieSet, SECRET, setCookies, signIn, startGatehouse, suiteScope, USER, type Gatehouse, type TestApp } from './webapp-support.ts';

let gh: Gatehouse;
let web: TestApp;
const hooks = suiteScope(after);
before(async () => {
  gh = await startGatehouse(hooks);
  web = await buildTestApp(hooks, gh);
});

test('a page view without a session is sent to Gatehouse: code + PKCE S256, state, nonce, resource', async () => {
  const response = await web.app.inject({ url: '/profile?tab=notes' });
  assert.equal(response.statusCode, 303);
  assert.equal(response.headers['cache-control'], 'no-store');
  const location = new URL(response.headers.location as string);
  assert.equal(`${location.origin}${location.pathname}`, `${gh.issuer}/authorize`);
  const params = Object.fromEntries(location.searchParams);
  assert.equal(params.response_type, 'code');
  assert.equal(params.client_id, web.clientId);
  assert.equal(params.redirect_uri, 'http://localhost:3000/auth/callback', 'built from the public URL');
  assert.equal(params.scope, 'openid offline_access notes');
  assert.equal(params.resource, API);
  assert.equal(params.prompt, undefined, 'no consent page: Gatehouse gives first-party clients refresh tokens without one');
  assert.equal(params.code_challenge_method, 'S256');
  assert.match(params.code_challenge!, /^[A-Za-z0-9_-]{43}$/);
  assert.match(params.state!, /^[A-Za-z0-9_-]{22,}$/);
  assert.match(params.nonce!, /^[A-Za-z0-9_-]{22,}$/);

  // The sign-in cookie: sealed, HttpOnly, SameSite=Lax, not Secure on an http (loopback) public URL.
  const login = cookieSet(response, 'gatehouse_session_login')!;
  assert.equal(login.value.split('.').length, 5, 'a JWE');
  assert.ok(!login.value.includes(params.state!) && !login.value.includes(params.nonce!), 'state and nonce are encrypted');
  assert.equal(login.header.replace(login.value, '…'), 'gatehouse_session_login=…; Path=/; Max-Age=1800; HttpOnly; SameSite=Lax');

  // Each sign-in gets its own values.
  const again = new URL((await web.app.inject({ url: '/profile' })).headers.location as string);
  for (const name of ['state', 'nonce', 'code_challenge']) assert.notEqual(again.searchParams.get(name), params[name]);
});

test('without a session: a script\'s request and an unsafe method get 401; an optional page goes on', async () => {
  const scripted = await web.app.inject({ url: '/profile', headers: { 'sec-fetch-mode': 'cors', 'sec-fetch-site': 'same-origin' } });
  assert.equal(scripted.statusCode, 401);
  assert.equal(scripted.headers['content-type'], 'text/html; charset=utf-8');
  assert.match(scripted.body, /You need to sign in/);
  const post = await web.app.inject({ method: 'POST', url: '/notes', headers: { origin: 'http://localhost:3000' } });
  assert.equal(post.statusCode, 401);
  assert.equal(web.posts(), 0);
  const home = await web.app.inject({ url: '/' });
  assert.deepEqual([home.statusCode, home.json()], [200, { user: null }]);
  assert.deepEqual(setCookies(home), []);
});

test('signing in: back on the page, with an HttpOnly SameSite=Lax session cookie and the SDK\'s Principal', async () => {
  const { callback, value, cookie } = await signIn(web, { path: '/profile?tab=notes' });
  assert.equal(callback.statusCode, 303);
  assert.equal(callback.headers.location, 'http://localhost:3000/profile?tab=notes', 'back where the visitor started');
  const cookies = setCookies(callback);
  assert.ok(cookies.includes('gatehouse_session_login=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax'), 'the sign-in cookie is consumed');
  const session = cookies.find((c) => c.startsWith('gatehouse_session='))!;
  assert.equal(session.replace(value, '…'), `gatehouse_session=…; Path=/; Max-Age=${14 * 86400}; HttpOnly; SameSite=Lax`);
  const [header, encryptedKey] = value.split('.');
  const { kid, ...protectedHeader } = JSON.parse(Buffer.from(header!, 'base64url').toString());
  assert.deepEqual(protectedHeader, { alg: 'dir', enc: 'A256GCM', typ: 'gatehouse-session+jwt' });
  assert.match(kid, /^[A-Za-z0-9_-]{11}$/, 'names the secret by a hash');
  assert.equal(encryptedKey, '', 'dir: no wrapped key');
  assert.doesNotMatch(Buffer.from(value.split('.')[3]!, 'base64url').toString('latin1'), /johndoe|eyJ/, 'the tokens are encrypted');

  const page = await web.app.inject({ url: '/profile', headers: { cookie } });
  assert.equal(page.statusCode, 200);
  const body = page.json();
  assert.equal(body.user, 'johndoe');
  assert.equal(body.kind, 'user');
  assert.equal(body.clientId, web.clientId);
  assert.deepEqual(body.scopes, ['notes']);
  // The principal is the authenticator's: the same as an API route would get for this token.
  assert.ok(body.expiresAt > Date.now() + 60_000);
  assert.deepEqual(setCookies(page), [], 'no refresh was due: the cookie is not rewritten');
  assert.deepEqual((await web.app.inject({ url: '/', headers: { cookie } })).json(), { user: 'johndoe' });
  assert.equal((await web.app.inject({ url: '/admin', headers: { cookie } })).statusCode, 403, 'a scope the user lacks');
});

test('the callback refuses a missing or foreign sign-in cookie, a wrong or missing state or iss, without spending the code', async () => {
  const started = await web.app.inject({ url: '/profile' });
  const loginCookie = `gatehouse_session_login=${cookieSet(started, 'gatehouse_session_login')!.value}`;
  const authorize = new URL(started.headers.location as string);
  const state = authorize.searchParams.get('state')!;
  const other = await web.app.inject({ url: '/profile' });
  const foreignCookie = `gatehouse_session_login=${cookieSet(other, 'gatehouse_session_login')!.value}`;
  const { callback } = await loginThroughForm(createBrowser(), authorize, USER, web.webApp.description.redirectUri);
  const good = Object.fromEntries(callback.searchParams);
  assert.deepEqual(Object.keys(good).sort(), ['code', 'iss', 'state']);
  assert.equal(good.iss, gh.issuer);
  const calls = web.tokenCalls();

  const attempt = async (params: Record<string, string | undefined>, cookie: string | null = loginCookie) => {
    const query = new URLSearchParams(Object.entries({ ...good, ...params }).filter((e): e is [string, string] => e[1] !== undefined));
    return web.app.inject({ url: `/auth/callback?${query}`, headers: cookie === null ? {} : { cookie } });
  };
  for (const [label, response] of [
    ['no sign-in cookie', await attempt({}, null)],
    ['another sign-in\'s cookie', await attempt({}, foreignCookie)],
    ['a tampered sign-in cookie', await attempt({}, loginCookie.slice(0, -3) + (loginCookie.endsWith('A') ? 'BBB' : 'AAA'))],
    ['a session cookie in place of the sign-in cookie', await attempt({}, 'gatehouse_session_login=' + (await signIn(web)).value)],
    ['state changed', await attempt({ state: `${state}x` })],
    ['state missing', await attempt({ state: undefined })],
    ['iss changed (RFC 9207 mix-up)', await attempt({ iss: 'https://evil.example' })],
    ['iss missing', await attempt({ iss: undefined })],
  ] as const) {
    assert.equal(response.statusCode, 400, label);
    assert.match(response.body, /not valid here/, label);
    assert.ok(setCookies(response).some((c) => c.startsWith('gatehouse_session_login=;')), `${label}: the sign-in cookie is cleared`);
    assert.equal(cookieSet(response, 'gatehouse_session'), undefined, `${label}: no session`);
  }
  // Only the signIn() above reached the token endpoint: the refused callbacks never spent the code.
  assert.equal(web.tokenCalls(), calls + 1);
  const ok = await attempt({});
  assert.equal(ok.statusCode, 303, 'the genuine callback still works');
  assert.ok(cookieSet(ok, 'gatehouse_session')!.value.length > 0);
});

test('an error from Gatehouse (access_denied) ends the sign-in with 400', async () => {
  const started = await web.app.inject({ url: '/profile' });
  const state = new URL(started.headers.location as string).searchParams.get('state')!;
  const query = new URLSearchParams({ error: 'access_denied', error_description: '<script>x</script>', state, iss: gh.issuer });
  const response = await web.app.inject({
    url: `/auth/callback?${query}`,
    headers: { cookie: `gatehouse_session_login=${cookieSet(started, 'gatehouse_session_login')!.value}` },
  });
  assert.equal(response.statusCode, 400);
  assert.match(response.body, /could not be completed/);
  assert.doesNotMatch(response.body, /script|access_denied/, 'nothing from the callback is echoed');
});

test('a replayed callback is refused: the sign-in cookie is gone, and the code is single-use', async () => {
  const first = await signIn(web);
  assert.equal(first.callback.statusCode, 303);
  const url = first.callbackUrl.pathname + first.callbackUrl.search;
  // The browser no longer has the sign-in cookie (the first answer cleared it).
  const withoutCookie = await web.app.inject({ url });
  assert.equal(withoutCookie.statusCode, 400);
  // An attacker who kept both the URL and the cookie: Gatehouse refuses the used code (invalid_grant).
  const errors = web.errors.length;
  const replay = await web.app.inject({ url, headers: { cookie: `gatehouse_session_login=${first.loginCookie}` } });
  assert.equal(replay.statusCode, 400);
  assert.match(replay.body, /could not be completed/);
  assert.equal(cookieSet(replay, 'gatehouse_session'), undefined);
  assert.equal(web.errors.length, errors, 'a replay is the visitor\'s problem, not reported as a fault');
});

test('nonce: an ID token from an authorization request with another nonce is refused', async () => {
  const errors = web.errors.length;
  // The code and ID token come from a request whose nonce is not the one this browser's sign-in
  // cookie holds (an injected authorization response, OpenID Connect Core §15.5.2).
  const { callback } = await signIn(web, { tamper: (url) => url.searchParams.set('nonce', 'nonce-of-another-request') });
  assert.equal(callback.statusCode, 400);
  assert.match(callback.body, /could not be completed/);
  assert.equal(cookieSet(callback, 'gatehouse_session'), undefined);
  const reported = web.errors.slice(errors);
  assert.equal(reported.length, 1);
  assert.match(reported[0]!.message, /nonce/);
});

test('the session cookie lasts the session\'s whole lifetime however slow the sign-in: one clock reading for both', async (t) => {
  // A clock that moves 0.7 s at every reading, as a busy machine's would between two of them: the
  // cookie's Max-Age and the session's end are counted from the same reading, so no second is lost.
  let clock = Date.now();
  const slow = await buildTestApp(t, gh, { now: () => (clock += 700) });
  const { callback, value } = await signIn(slow);
  const session = setCookies(callback).find((c) => c.startsWith('gatehouse_session='))!;
  assert.equal(session.replace(value, '…'), `gatehouse_session=…; Path=/; Max-Age=${14 * 86400}; HttpOnly; SameSite=Lax`);
});

test('an https public URL: Secure cookies with the __Host- prefix (no Domain, Path=/)', async (t) => {
  const secure = await buildTestApp(t, gh, { publicUrl: 'https://app.example.test' });
  const started = await secure.app.inject({ url: '/profile' });
  assert.equal(new URL(started.headers.location as string).searchParams.get('redirect_uri'), 'https://app.example.test/auth/callback');
  const login = cookieSet(started, '__Host-gatehouse_session_login')!;
  assert.equal(login.header.replace(login.value, '…'), '__Host-gatehouse_session_login=…; Path=/; Max-Age=1800; HttpOnly; SameSite=Lax; Secure');

  const { callback, cookie, value } = await signIn(secure);
  assert.equal(callback.headers.location, 'https://app.example.test/profile');
  const session = setCookies(callback).find((c) => c.startsWith('__Host-gatehouse_session='))!;
  assert.equal(session.replace(value, '…'), `__Host-gatehouse_session=…; Path=/; Max-Age=${14 * 86400}; HttpOnly; SameSite=Lax; Secure`);
  assert.ok(setCookies(callback).includes('__Host-gatehouse_session_login=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax; Secure'));
  assert.equal((await secure.app.inject({ url: '/profile', headers: { cookie } })).json().user, 'johndoe');
  // The unprefixed name is not read: a cookie set by a sibling host or over http cannot pose as it.
  const plain = await secure.app.inject({ url: '/profile', headers: { cookie: `gatehouse_session=${value}` } });
  assert.equal(plain.statusCode, 303);
});

test('a session cookie that does not open is no session, and is cleared', async (t) => {
  const { value, cookie } = await signIn(web);
  const parts = value.split('.');
  const flip = (s: string) => (s[5] === 'A' ? `${s.slice(0, 5)}B${s.slice(6)}` : `${s.slice(0, 5)}A${s.slice(6)}`);
  const foreign = await signIn(await buildTestApp(t, gh, { secret: 'another secret, also long enough: 0123456789' }));
  const cases: [string, string][] = [
    ['ciphertext changed', `gatehouse_session=${[parts[0], parts[1], parts[2], flip(parts[3]!), parts[4]].join('.')}`],
    ['tag changed', `gatehouse_session=${[...parts.slice(0, 4), flip(parts[4]!)].join('.')}`],
    ['header changed', `gatehouse_session=${Buffer.from(JSON.stringify({ alg: 'dir', enc: 'A128GCM', typ: 'gatehouse-session+jwt' })).toString('base64url')}.${parts.slice(1).join('.')}`],
    ['truncated', `gatehouse_session=${value.slice(0, -10)}`],
    ['not a JWE', 'gatehouse_session=eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.'],
    ['sealed with another secret', `gatehouse_session=${foreign.value}`],
    ['sent twice', `${cookie}; ${cookie}`],
  ];
  for (const [label, header] of cases) {
    const page = await web.app.inject({ url: '/profile', headers: { cookie: header } });
    assert.equal(page.statusCode, 303, `${label}: back to sign-in`);
    assert.ok(setCookies(page).some((c) => c.startsWith('gatehouse_session=;')), `${label}: the cookie is cleared`);
    const home = await web.app.inject({ url: '/', headers: { cookie: header } });
    assert.deepEqual(home.json(), { user: null }, label);
  }
  assert.equal((await web.app.inject({ url: '/profile', headers: { cookie } })).statusCode, 200, 'the genuine cookie still works');
});

test('secret rotation: the new secret seals, the old one still opens', async (t) => {
  const { clientId, clientSecret } = await gh.client('http://localhost:3000');
  const OLD = SECRET;
  const NEW = 'the new secret, rotated in today: 0123456789abcdef';
  const before = await buildTestApp(t, gh, { clientId, clientSecret, secret: OLD });
  const rotated = await buildTestApp(t, gh, { clientId, clientSecret, secret: [NEW, OLD] });
  const retired = await buildTestApp(t, gh, { clientId, clientSecret, secret: NEW });
  const { cookie } = await signIn(before);
  assert.equal((await rotated.app.inject({ url: '/profile', headers: { cookie } })).statusCode, 200, 'an old cookie opens after rotation');
  assert.equal((await retired.app.inject({ url: '/profile', headers: { cookie } })).statusCode, 303, 'and no longer once the old secret is removed');
  const fresh = await signIn(rotated);
  assert.equal((await retired.app.inject({ url: '/profile', headers: { cookie: fresh.cookie } })).statusCode, 200, 'new cookies use the new secret');
  assert.equal((await before.app.inject({ url: '/profile', headers: { cookie: fresh.cookie } })).statusCode, 303);
});

test('returnTo never leaves the app (no open redirect)', async () => {
  const gatehouse = createBrowser(); // signed in at Gatehouse once (single sign-on) for all five
  for (const [returnTo, expected] of [
    ['/notes?x=1', 'http://localhost:3000/notes?x=1'],
    ['//evil.example/x', 'http://localhost:3000/'],
    ['/\\evil.example', 'http://localhost:3000/'],
    ['https://evil.example/', 'http://localhost:3000/'],
    ['/%0d%0aSet-Cookie:x', 'http://localhost:3000/%0d%0aSet-Cookie:x'],
  ] as const) {
    const { callback } = await signIn(web, { gatehouse, path: `/auth/login?returnTo=${encodeURIComponent(returnTo)}` });
    assert.equal(callback.headers.location, expected, returnTo);
  }
});
