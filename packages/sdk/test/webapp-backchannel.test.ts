/**
 * The web-app helper's back-channel logout endpoint (OpenID Connect Back-Channel Logout 1.0 §2.6):
 * the app listens on a real port and is registered at a real Gatehouse with its
 * backchannel_logout_uri, so a logout at Gatehouse reaches it over HTTP. The refusals are logout
 * tokens made here, signed with Gatehouse's own key (from its database) unless the point is a bad
 * signature, each wrong in exactly one way.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { test, type TestContext } from 'node:test';
import expressApp from 'express';
import { Hono } from 'hono';
import { gatehouseWebApp as expressWebApp } from '@gatehouse/sdk/express';
import { gatehouseWebApp as honoWebApp } from '@gatehouse/sdk/hono';
import { generateKeyPair, importJWK, SignJWT, type JWTPayload } from 'jose';
import * as clients from '@gatehouse/server/internal/storage/clients';
import { listSigningKeys } from '@gatehouse/server/internal/storage/keys';
import { sha256 } from '@gatehouse/server/internal/secrets';
import { formValue, type Browser } from '@gatehouse/test-support/browser';
import { freePort } from '@gatehouse/test-support/ports';
import { buildTestApp, signIn, startGatehouse, type Gatehouse, type SignIn, type TestApp } from './webapp-support.ts';

const EVENT = 'http://schemas.openid.net/event/backchannel-logout';

interface Fixture {
  readonly gh: Gatehouse;
  readonly test: TestApp;
  /** The app's own origin, listening. */
  readonly origin: string;
}

async function setup(t: TestContext, backchannelLogout: { path?: string; maxRevocations?: number } | true = true): Promise<Fixture> {
  const gh = await startGatehouse(t);
  const port = await freePort();
  const publicUrl = `http://127.0.0.1:${port}`;
  const path = backchannelLogout === true ? '/auth/backchannel-logout' : (backchannelLogout.path ?? '/auth/backchannel-logout');
  const clientId = `bcl-${port}`;
  const { clientSecret } = await clients.createClient(gh.db, {
    clientId,
    name: 'Notes web app',
    grantTypes: 'authorization_code refresh_token',
    redirectUris: [`${publicUrl}/auth/callback`],
    postLogoutRedirectUris: [`${publicUrl}/`],
    scopes: 'notes',
    apis: ['https://notes.example.test'],
    firstParty: true,
    backchannelLogoutUri: `${publicUrl}${path}`,
  });
  const test = await buildTestApp(t, gh, { publicUrl, clientId, clientSecret: clientSecret!, backchannelLogout });
  await test.app.listen({ port, host: '127.0.0.1' });
  return { gh, test, origin: publicUrl };
}

/** Signs a logout token with Gatehouse's active ES256 key, as Gatehouse would; `change` makes it wrong. */
async function logoutToken(f: Fixture, claims: JWTPayload, header: { typ?: string } = { typ: 'logout+jwt' }, key?: CryptoKey): Promise<string> {
  const active = (await listSigningKeys(f.gh.db)).find((k) => k.alg === 'ES256' && k.state === 'active')!;
  const signingKey = key ?? ((await importJWK(active.privateJwk, 'ES256')) as CryptoKey);
  const jwt = new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: active.kid, ...header });
  return jwt.sign(signingKey);
}

function validClaims(f: Fixture, subject: { sub?: string; sid?: string }): JWTPayload {
  return { iss: f.gh.issuer, aud: f.test.clientId, iat: Math.floor(Date.now() / 1000), jti: randomUUID(), events: { [EVENT]: {} }, ...subject };
}

async function post(f: Fixture, token: string | undefined, contentType = 'application/x-www-form-urlencoded'): Promise<{ status: number; body: string; cacheControl: string | null }> {
  const path = f.test.webApp.description.backchannelLogout!.path;
  const response = await fetch(`${f.origin}${path}`, {
    method: 'POST',
    headers: { 'content-type': contentType },
    body: token === undefined ? '' : new URLSearchParams({ logout_token: token }).toString(),
  });
  return { status: response.status, body: await response.text(), cacheControl: response.headers.get('cache-control') };
}

async function profile(f: Fixture, cookie: string): Promise<number> {
  return (await f.test.app.inject({ url: '/profile', headers: { cookie, 'sec-fetch-mode': 'cors' } })).statusCode;
}

/** The user and Gatehouse session id (`sid`) of a sign-in, as a logout token names them. */
async function sessionOf(f: Fixture, signedIn: SignIn): Promise<{ sub: string; sid: string }> {
  const me = (await f.test.app.inject({ url: '/profile', headers: { cookie: signedIn.cookie } })).json();
  // The browser's Gatehouse session cookie is the session's id; the row is stored under its SHA-256.
  const row = await f.gh.db
    .selectFrom('oidc_payloads')
    .select('payload')
    .where('model', '=', 'Session')
    .where('id', '=', sha256(signedIn.gatehouse.jar.get('_session')!))
    .executeTakeFirstOrThrow();
  const authorizations = JSON.parse(row.payload).authorizations as Record<string, { sid: string }>;
  return { sub: me.subject, sid: authorizations[f.test.clientId]!.sid };
}

async function logOutAtGatehouse(f: Fixture, browser: Browser): Promise<void> {
  const page = await browser.get(`${f.gh.issuer}/logout`);
  const html = await page.text();
  const action = /action="([^"]+)"/.exec(html)![1]!;
  const confirmed = await browser.post(new URL(action, f.gh.issuer), { xsrf: formValue(html, 'xsrf'), logout: 'yes' });
  assert.equal(confirmed.status, 303);
}

test('a logout at Gatehouse reaches the app, whose session cookie then gives no access', async (t) => {
  const f = await setup(t);
  const session = await signIn(f.test);
  assert.equal(await profile(f, session.cookie), 200);
  await logOutAtGatehouse(f, session.gatehouse);
  const answer = await profile(f, session.cookie);
  assert.equal(answer, 401, 'the session ended with Gatehouse\'s');
  // A new sign-in is a new session and works.
  const again = await signIn(f.test);
  assert.equal(await profile(f, again.cookie), 200);
});

test('a valid logout token naming the session: 200, no-store, and that session ends while another visitor\'s stays', async (t) => {
  const f = await setup(t);
  const mine = await signIn(f.test);
  const other = await signIn(f.test);
  const { sub, sid } = await sessionOf(f, mine);
  const answer = await post(f, await logoutToken(f, validClaims(f, { sub, sid })));
  assert.equal(answer.status, 200, answer.body);
  assert.equal(answer.cacheControl, 'no-store');
  assert.equal(await profile(f, mine.cookie), 401);
  assert.equal(await profile(f, other.cookie), 200, 'another Gatehouse session (same user, other browser) is not named');
});

test('a logout token naming only the user ends every session of that user begun before it, not later ones; plain JWT typ accepted', async (t) => {
  const f = await setup(t);
  const first = await signIn(f.test);
  const second = await signIn(f.test);
  const { sub } = await sessionOf(f, first);
  const answer = await post(f, await logoutToken(f, validClaims(f, { sub }), { typ: 'JWT' }));
  assert.equal(answer.status, 200, answer.body);
  assert.equal(await profile(f, first.cookie), 401);
  assert.equal(await profile(f, second.cookie), 401);
  const later = await signIn(f.test);
  assert.equal(await profile(f, later.cookie), 200, 'a sign-in after the logout is a new session');
});

test('refusals (400 invalid_request, no-store, the session untouched): bad signature, wrong aud or iss, nonce, no events, neither sid nor sub, wrong typ, stale, not a form', async (t) => {
  const f = await setup(t);
  const session = await signIn(f.test);
  const { sub, sid } = await sessionOf(f, session);
  const { privateKey: stranger } = await generateKeyPair('ES256');
  const { events: _events, ...withoutEvents } = validClaims(f, { sub, sid });
  const cases: [string, () => Promise<string>, string?][] = [
    ['bad signature (another key, same kid)', () => logoutToken(f, validClaims(f, { sub, sid }), { typ: 'logout+jwt' }, stranger)],
    ['wrong aud', () => logoutToken(f, { ...validClaims(f, { sub, sid }), aud: 'someone-else' })],
    ['wrong iss', () => logoutToken(f, { ...validClaims(f, { sub, sid }), iss: 'https://evil.example' })],
    ['nonce present', () => logoutToken(f, { ...validClaims(f, { sub, sid }), nonce: 'n-0S6_WzA2Mj' })],
    ['missing events', () => logoutToken(f, withoutEvents)],
    ['events without the logout event', () => logoutToken(f, { ...validClaims(f, { sub, sid }), events: { 'https://example.com/other': {} } })],
    ['neither sid nor sub', () => logoutToken(f, validClaims(f, {}))],
    ['no jti', () => logoutToken(f, { ...validClaims(f, { sub, sid }), jti: undefined })],
    ['no iat', () => logoutToken(f, { ...validClaims(f, { sub, sid }), iat: undefined })],
    ['issued an hour ago', () => logoutToken(f, { ...validClaims(f, { sub, sid }), iat: Math.floor(Date.now() / 1000) - 3600 })],
    ['an access token\'s typ', () => logoutToken(f, validClaims(f, { sub, sid }), { typ: 'at+jwt' })],
    ['not a form', () => logoutToken(f, validClaims(f, { sub, sid })), 'application/json'],
    ['not a JWT', async () => 'not.a.jwt'],
  ];
  for (const [label, make, contentType] of cases) {
    const answer = await post(f, await make(), contentType);
    assert.equal(answer.status, 400, label);
    assert.equal(JSON.parse(answer.body).error, 'invalid_request', label);
    assert.equal(answer.cacheControl, 'no-store', label);
  }
  const empty = await post(f, undefined);
  assert.equal(empty.status, 400, 'no logout_token');
  assert.equal(await profile(f, session.cookie), 200, 'no refused token ended the session');
});

test('a replayed logout token (same jti) is refused', async (t) => {
  const f = await setup(t);
  const session = await signIn(f.test);
  const { sub, sid } = await sessionOf(f, session);
  const token = await logoutToken(f, validClaims(f, { sub, sid }));
  assert.equal((await post(f, token)).status, 200);
  const replay = await post(f, token);
  assert.equal(replay.status, 400, 'the second use');
  assert.equal(JSON.parse(replay.body).error, 'invalid_request');
});

test('the revocation list is bounded: past maxRevocations the oldest ended session is forgotten', async (t) => {
  const f = await setup(t, { path: '/bcl', maxRevocations: 1 });
  const session = await signIn(f.test);
  const { sub, sid } = await sessionOf(f, session);
  assert.equal((await post(f, await logoutToken(f, validClaims(f, { sub, sid })))).status, 200);
  assert.equal(await profile(f, session.cookie), 401);
  assert.equal((await post(f, await logoutToken(f, validClaims(f, { sid: 'another-session' })))).status, 200);
  // The documented trade-off (ADR 0013): memory stays bounded. A session forgotten so lives until
  // its access token expires: Gatehouse revoked its grant with its session, so the refresh fails.
  assert.equal(await profile(f, session.cookie), 200, 'the first entry was evicted');
});

test('off by default: no endpoint, and the option is checked at creation', async (t) => {
  const gh = await startGatehouse(t);
  const test = await buildTestApp(t, gh);
  assert.equal(test.webApp.description.backchannelLogout, undefined);
  const answer = await test.app.inject({ method: 'POST', url: '/auth/backchannel-logout', payload: 'logout_token=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  assert.equal(answer.statusCode, 404);
  await assert.rejects(buildTestApp(t, gh, { backchannelLogout: { path: '/auth/logout' } }), /backchannelLogout\.path/);
  await assert.rejects(buildTestApp(t, gh, { backchannelLogout: { maxRevocations: 0 } }), /backchannelLogout\.maxRevocations/);
});

test('Express (with or without a form parser before it) and Hono answer the endpoint as Fastify does', async (t) => {
  const f = await setup(t);
  const path = f.test.webApp.description.backchannelLogout!.path;
  const form = (token: string) => new URLSearchParams({ logout_token: token }).toString();
  const headers = { 'content-type': 'application/x-www-form-urlencoded' };

  const hono = new Hono();
  hono.use(honoWebApp(f.test.webApp).routes);
  const express = async (parser: boolean) => {
    const app = expressApp();
    if (parser) app.use(expressApp.urlencoded({ extended: false }));
    app.use(expressWebApp(f.test.webApp).routes);
    const server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  };
  const senders: Record<string, (body: string) => Promise<Response>> = {
    hono: async (body) => hono.request(path, { method: 'POST', headers, body }),
    express: async (body) => fetch(`${await expressPlain}${path}`, { method: 'POST', headers, body }),
    'express after urlencoded()': async (body) => fetch(`${await expressParsed}${path}`, { method: 'POST', headers, body }),
  };
  const expressPlain = express(false);
  const expressParsed = express(true);
  for (const [name, send] of Object.entries(senders)) {
    const ok = await send(form(await logoutToken(f, validClaims(f, { sid: `sid-${name}` }))));
    assert.equal(ok.status, 200, `${name}: ${await ok.clone().text()}`);
    assert.equal(ok.headers.get('cache-control'), 'no-store', name);
    const bad = await send(form(await logoutToken(f, { ...validClaims(f, { sid: 'x' }), nonce: 'n' })));
    assert.equal(bad.status, 400, name);
    assert.deepEqual((await bad.json()).error, 'invalid_request', name);
  }
});

test('a session that recorded no sid (signed in before the client had a back-channel URI) ends with a token naming its user and any sid; one with another sid stays', async (t) => {
  const f = await setup(t);
  const withSid = await signIn(f.test);
  const { sub, sid } = await sessionOf(f, withSid);
  // Without a back-channel URI, Gatehouse puts no sid in the ID token.
  await clients.updateClient(f.gh.db, f.test.clientId, { backchannelLogoutUri: null });
  await f.gh.server.changed('clients');
  const withoutSid = await signIn(f.test);
  const answer = await post(f, await logoutToken(f, validClaims(f, { sub, sid: `not-${sid}` })));
  assert.equal(answer.status, 200, answer.body);
  assert.equal(await profile(f, withoutSid.cookie), 401, 'cannot be told apart: ended');
  assert.equal(await profile(f, withSid.cookie), 200, 'another Gatehouse session: kept');
});
