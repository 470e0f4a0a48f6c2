// The web-app session against a real Gatehouse server: refresh before expiry, one refresh for
// concurrent requests, refresh-token rotation and its reuse grace window, Gatehouse unreachable,
// logout (local, refresh token revoked, RP-initiated at Gatehouse), and CSRF on unsafe methods.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createBrowser, formValue, loginThroughForm } from '@gatehouse/test-support/browser';
import { waitFor } from '@gatehouse/test-support/wait';
import { buildTestApp, clock, cookieSet, setCookies, signIn, startGatehouse, suiteScope, USER, type Gatehouse } from './webapp-support.ts';

let gh: Gatehouse;
/** Refresh tokens rotate with no reuse grace: any reuse of a rotated one revokes the grant. */
let strict: Gatehouse;
const hooks = suiteScope(after);
before(async () => {
  [gh, strict] = await Promise.all([startGatehouse(hooks), startGatehouse(hooks, { GATEHOUSE_REFRESH_TOKEN_REUSE_GRACE: '0' })]);
});

// Gatehouse's access tokens live 900 s by default; the app refreshes 60 s before that.
const DUE = 900 - 60 + 5;

test('the access token is refreshed before it expires, and the new session is saved in the cookie', async (t) => {
  const time = clock();
  const web = await buildTestApp(t, gh, { now: time.now });
  const { cookie } = await signIn(web);
  const calls = web.tokenCalls();
  const first = await web.app.inject({ url: '/profile', headers: { cookie } });
  assert.equal(web.tokenCalls(), calls, 'not due yet: no refresh');
  assert.deepEqual(setCookies(first), []);

  time.advance(DUE);
  const refreshed = await web.app.inject({ url: '/profile', headers: { cookie } });
  assert.equal(refreshed.statusCode, 200);
  assert.equal(web.tokenCalls(), calls + 1, 'one refresh');
  assert.notEqual(refreshed.json().tokenTail, first.json().tokenTail, 'the page got the new access token');
  assert.equal(refreshed.json().user, 'johndoe');
  const saved = cookieSet(refreshed, 'gatehouse_session')!;
  assert.match(saved.header, /; Max-Age=\d+; HttpOnly; SameSite=Lax$/);
  const maxAge = Number(/Max-Age=(\d+)/.exec(saved.header)![1]);
  assert.ok(maxAge <= 14 * 86400 - DUE + 1, 'a refresh does not extend the session\'s absolute end');

  // With the real clock, the saved session's access token is not due: no further refresh.
  time.reset();
  const after = await web.app.inject({ url: '/profile', headers: { cookie: `gatehouse_session=${saved.value}` } });
  assert.equal(after.json().tokenTail, refreshed.json().tokenTail);
  assert.equal(web.tokenCalls(), calls + 1);
});

test('single flight: concurrent requests that need a refresh share one refresh', async (t) => {
  const time = clock();
  const web = await buildTestApp(t, gh, { now: time.now });
  const { cookie } = await signIn(web);
  const calls = web.tokenCalls();
  time.advance(DUE);
  const responses = await Promise.all(
    Array.from({ length: 8 }, (_, i) =>
      i % 2 === 0
        ? web.app.inject({ url: '/profile', headers: { cookie } })
        : web.app.inject({ method: 'POST', url: '/notes', headers: { cookie, 'sec-fetch-site': 'same-origin' } }),
    ),
  );
  assert.deepEqual(responses.map((r) => r.statusCode), Array(8).fill(200));
  assert.equal(web.tokenCalls(), calls + 1, 'exactly one call to the token endpoint');
  assert.equal(new Set(responses.filter((_, i) => i % 2 === 0).map((r) => r.json().tokenTail)).size, 1, 'all got the same access token');
  for (const response of responses) assert.ok(cookieSet(response, 'gatehouse_session')!.value.length > 0, 'each answer saves the new session');
});

test('rotation: the new refresh token is saved; a rotated one presented again ends the session (no grace)', async (t) => {
  const time = clock();
  const web = await buildTestApp(t, strict, { now: time.now });
  const { cookie: c0 } = await signIn(web);
  time.advance(DUE);
  const r1 = await web.app.inject({ url: '/profile', headers: { cookie: c0 } });
  assert.equal(r1.statusCode, 200);
  const c1 = `gatehouse_session=${cookieSet(r1, 'gatehouse_session')!.value}`;
  // Still due on this clock: c1 refreshes with the refresh token it saved. Had it kept the old one,
  // Gatehouse would see a reuse and revoke everything.
  const r2 = await web.app.inject({ url: '/profile', headers: { cookie: c1 } });
  assert.equal(r2.statusCode, 200);
  assert.notEqual(r2.json().tokenTail, r1.json().tokenTail);
  const c2 = `gatehouse_session=${cookieSet(r2, 'gatehouse_session')!.value}`;

  // The first cookie again (a stolen copy, or a tab left behind): its refresh token was rotated,
  // Gatehouse revokes the grant (RFC 9700 §4.14.2) and the session ends cleanly: no 500.
  const reuse = await web.app.inject({ url: '/profile', headers: { cookie: c0 } });
  assert.equal(reuse.statusCode, 303, 'back to sign-in');
  assert.ok(setCookies(reuse).some((c) => c.startsWith('gatehouse_session=;')), 'the dead session is cleared');
  const revoked = await web.app.inject({ url: '/profile', headers: { cookie: c2 } });
  assert.equal(revoked.statusCode, 303, 'the whole grant was revoked, the latest session included');
  assert.deepEqual(web.errors, [], 'a refused refresh is not a fault');
});

test('reuse grace window: two app instances refreshing the same session at once both succeed', async (t) => {
  const time = clock();
  const { clientId, clientSecret } = await gh.client('http://localhost:3000');
  const [a, b] = await Promise.all([
    buildTestApp(t, gh, { clientId, clientSecret, now: time.now }),
    buildTestApp(t, gh, { clientId, clientSecret, now: time.now }),
  ]);
  const { cookie } = await signIn(a);
  time.advance(DUE);
  // Each instance has its own single flight, so both refresh the same refresh token. Within
  // Gatehouse's grace window the second use gets the same successor instead of a revoked grant.
  const [fromA, fromB] = await Promise.all([
    a.app.inject({ url: '/profile', headers: { cookie } }),
    b.app.inject({ url: '/profile', headers: { cookie } }),
  ]);
  assert.deepEqual([fromA.statusCode, fromB.statusCode], [200, 200]);
  // Both saved sessions go on refreshing.
  for (const [app, response] of [[a, fromB], [b, fromA]] as const) {
    const next = await app.app.inject({ url: '/profile', headers: { cookie: `gatehouse_session=${cookieSet(response, 'gatehouse_session')!.value}` } });
    assert.equal(next.statusCode, 200);
  }
});

test('Gatehouse unreachable: a token that has not expired still serves; an expired one gets 503 and the session is kept', async (t) => {
  const time = clock();
  const down = await startGatehouse(t);
  const web = await buildTestApp(t, down, { now: time.now });
  const { cookie } = await signIn(web);
  await web.app.inject({ url: '/profile', headers: { cookie } }); // the authenticator has the keys now
  // A second sign-in that gets its code just before Gatehouse goes away.
  const started = await web.app.inject({ url: '/profile' });
  const loginCookie = `gatehouse_session_login=${cookieSet(started, 'gatehouse_session_login')!.value}`;
  const { callback } = await loginThroughForm(createBrowser(), new URL(started.headers.location as string), USER, web.webApp.description.redirectUri);
  await down.close();

  const late = await web.app.inject({ url: callback.pathname + callback.search, headers: { cookie: loginCookie } });
  assert.equal(late.statusCode, 503, 'the code cannot be exchanged now');
  assert.deepEqual(setCookies(late), [], 'the sign-in cookie is kept for a retry');

  time.advance(DUE); // due for refresh, not expired
  const due = await web.app.inject({ url: '/profile', headers: { cookie } });
  assert.equal(due.statusCode, 200, 'the current access token is still good');
  assert.deepEqual(setCookies(due), []);
  assert.ok(web.errors.length >= 1, 'the failed refresh is reported');

  time.advance(120); // expired
  const expired = await web.app.inject({ url: '/profile', headers: { cookie } });
  assert.equal(expired.statusCode, 503);
  assert.match(expired.body, /unavailable/);
  assert.deepEqual(setCookies(expired), [], 'the session is kept for when Gatehouse is back');
  const optional = await web.app.inject({ url: '/', headers: { cookie } });
  assert.equal(optional.statusCode, 503, 'an optional page does not silently treat the visitor as signed out');
});

/**
 * A fetch whose answers to refresh requests are lost: the request reaches Gatehouse, which
 * commits the rotation and answers, and the app sees the connection fail (an instance killed
 * after committing, a proxy dropping the response). `lose` says how many such answers to lose.
 */
function losingRefreshAnswers(lose: number) {
  let lost = 0;
  const fetchLosing = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const response = await fetch(input, init);
    const isRefresh = String(input).endsWith('/token') && String(init?.body ?? '').includes('grant_type=refresh_token');
    if (isRefresh && lost < lose) {
      lost++;
      await response.arrayBuffer();
      throw new TypeError('fetch failed');
    }
    return response;
  };
  return { fetch: fetchLosing, lost: () => lost };
}

test('lost answer: the refresh is retried at once with the same token, and the visitor never notices', async (t) => {
  const time = clock();
  const lossy = losingRefreshAnswers(1);
  const web = await buildTestApp(t, gh, { now: time.now, fetch: lossy.fetch });
  const { cookie } = await signIn(web);
  time.advance(900 + 5); // expired: without a new access token the page cannot be served
  const page = await web.app.inject({ url: '/profile', headers: { cookie } });
  assert.equal(lossy.lost(), 1, 'the first answer was lost');
  assert.equal(page.statusCode, 200, page.body);
  const saved = `gatehouse_session=${cookieSet(page, 'gatehouse_session')!.value}`;
  // The session holds the successor the lost answer carried: it refreshes on.
  const next = await web.app.inject({ url: '/profile', headers: { cookie: saved } });
  assert.equal(next.statusCode, 200);
});

test('lost answers past the grace window: the session survives (Gatehouse replays the unused successor to a confidential client)', async (t) => {
  const time = clock();
  const graceOnly = await startGatehouse(t, { GATEHOUSE_REFRESH_TOKEN_REUSE_GRACE: '1' });
  const lossy = losingRefreshAnswers(2);
  const web = await buildTestApp(t, graceOnly, { now: time.now, fetch: lossy.fetch });
  const { cookie } = await signIn(web);
  time.advance(900 + 5);
  const during = await web.app.inject({ url: '/profile', headers: { cookie } });
  assert.equal(lossy.lost(), 2, 'the answer and its immediate retry were both lost');
  assert.equal(during.statusCode, 503, 'Gatehouse could not be heard: try later');
  assert.deepEqual(setCookies(during), [], 'the session is kept');
  // Once the grace window of the rotation Gatehouse committed has passed, the old refresh token
  // is presented again.
  const rotated = await graceOnly.db
    .selectFrom('oidc_payloads')
    .select('consumed_at')
    .where('model', '=', 'RefreshToken')
    .where('client_id', '=', web.clientId)
    .where('consumed_at', 'is not', null)
    .executeTakeFirstOrThrow();
  await waitFor(() => Date.now() > rotated.consumed_at! + 1000 + 50, { message: 'the grace window to pass' });
  const later = await web.app.inject({ url: '/profile', headers: { cookie } });
  assert.equal(later.statusCode, 200, 'not taken for a stolen token');
  const saved = `gatehouse_session=${cookieSet(later, 'gatehouse_session')!.value}`;
  assert.equal((await web.app.inject({ url: '/profile', headers: { cookie: saved } })).statusCode, 200);
});

test('logout: local session cleared, refresh token revoked, then Gatehouse\'s session ended without a question', async (t) => {
  const time = clock();
  const web = await buildTestApp(t, gh, { now: time.now });
  const { cookie, gatehouse } = await signIn(web);
  const response = await web.app.inject({ method: 'POST', url: '/auth/logout', headers: { cookie, origin: 'http://localhost:3000' } });
  assert.equal(response.statusCode, 303);
  assert.ok(setCookies(response).includes('gatehouse_session=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax'));
  const endSession = new URL(response.headers.location as string);
  assert.equal(`${endSession.origin}${endSession.pathname}`, `${gh.issuer}/logout`, 'the discovery document\'s end_session_endpoint');
  assert.deepEqual(Object.keys(Object.fromEntries(endSession.searchParams)).sort(), ['client_id', 'id_token_hint', 'post_logout_redirect_uri']);
  assert.equal(endSession.searchParams.get('client_id'), web.clientId);
  assert.equal(endSession.searchParams.get('post_logout_redirect_uri'), 'http://localhost:3000/');
  assert.equal(JSON.parse(Buffer.from(endSession.searchParams.get('id_token_hint')!.split('.')[1]!, 'base64url').toString()).aud, web.clientId);

  // The refresh token was revoked: a copy of the cookie cannot be refreshed any more.
  time.advance(DUE);
  const copy = await web.app.inject({ url: '/profile', headers: { cookie } });
  assert.equal(copy.statusCode, 303);
  time.reset();

  // At Gatehouse: no question — the hint names the current session and the redirect URI is
  // registered (RP-Initiated Logout §2, ADR 0014) — the page submits the form itself; then back to the app.
  const confirm = await gatehouse.get(endSession);
  assert.equal(confirm.status, 200);
  const page = await confirm.text();
  assert.doesNotMatch(page, /Sign out\?/);
  assert.match(page, /Signing you out/);
  const action = /<form[^>]*id="op.logoutForm"[^>]*action="([^"]+)"|<form[^>]*action="([^"]+)"[^>]*id="op.logoutForm"/.exec(page)!;
  const done = await gatehouse.post(new URL((action[1] ?? action[2])!.replace(/&amp;/g, '&'), gh.issuer), { xsrf: formValue(page, 'xsrf'), logout: 'yes' });
  assert.equal(done.status, 303);
  assert.equal(done.headers.get('location'), 'http://localhost:3000/');
  // Gatehouse's own session is over: a new sign-in asks for the password again.
  const again = await web.app.inject({ url: '/profile' });
  const login = await gatehouse.get(again.headers.location as string);
  const interaction = await gatehouse.get(new URL(login.headers.get('location')!, gh.issuer));
  assert.match(await interaction.text(), /name="password"/);
});

test('logout is POST only and same-origin only; without a session it just goes home', async (t) => {
  const web = await buildTestApp(t, gh);
  const { cookie } = await signIn(web);
  const get = await web.app.inject({ url: '/auth/logout', headers: { cookie } });
  assert.equal(get.statusCode, 405);
  assert.equal(get.headers.allow, 'POST');
  for (const headers of [{}, { 'sec-fetch-site': 'cross-site' }, { origin: 'https://evil.example' }]) {
    const forged = await web.app.inject({ method: 'POST', url: '/auth/logout', headers: { cookie, ...headers } });
    assert.equal(forged.statusCode, 403, JSON.stringify(headers));
    assert.deepEqual(setCookies(forged), [], 'the session is untouched');
  }
  assert.equal((await web.app.inject({ url: '/profile', headers: { cookie } })).statusCode, 200);
  const anonymous = await web.app.inject({ method: 'POST', url: '/auth/logout', headers: { 'sec-fetch-site': 'same-origin', 'content-type': 'application/x-www-form-urlencoded' }, payload: 'a=b' });
  assert.equal(anonymous.statusCode, 303);
  assert.equal(anonymous.headers.location, 'http://localhost:3000/');
});

test('CSRF: unsafe methods with the session cookie must come from the app\'s origin', async (t) => {
  const web = await buildTestApp(t, gh, { trustedOrigins: ['https://admin.example.test'] });
  const { cookie } = await signIn(web);
  const refused: Record<string, string>[] = [
    {},
    { 'sec-fetch-site': 'cross-site' },
    { 'sec-fetch-site': 'same-site' },
    { 'sec-fetch-site': 'none' },
    { origin: 'https://evil.example' },
    { origin: 'null' },
    { origin: 'http://localhost:3000', 'sec-fetch-site': 'cross-site' },
    { origin: 'http://localhost:3001' },
  ];
  for (const method of ['POST', 'PUT', 'PATCH', 'DELETE'] as const) {
    for (const headers of refused) {
      const response = await web.app.inject({ method, url: '/notes', headers: { cookie, ...headers } });
      assert.equal(response.statusCode, 403, `${method} ${JSON.stringify(headers)}`);
      assert.match(response.body, /another site/);
    }
  }
  assert.equal(web.posts(), 0, 'no refused request reached the handler');
  for (const headers of [{ 'sec-fetch-site': 'same-origin' }, { origin: 'http://localhost:3000' }, { origin: 'https://admin.example.test' }]) {
    const response = await web.app.inject({ method: 'POST', url: '/notes', headers: { cookie, ...headers } });
    assert.equal(response.statusCode, 200, JSON.stringify(headers));
  }
  // Safe methods are not checked (they must not change state).
  assert.equal((await web.app.inject({ url: '/profile', headers: { cookie, 'sec-fetch-site': 'cross-site' } })).statusCode, 200);
  // Behind a proxy the app's own origin is the public URL, not what the request's Host says.
  const proxied = await web.app.inject({ method: 'POST', url: '/notes', headers: { cookie, host: 'internal:8080', origin: 'http://internal:8080' } });
  assert.equal(proxied.statusCode, 403);
});
