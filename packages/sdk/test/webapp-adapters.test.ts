// The web-app flow behaves the same on Fastify (inject), Express (a real socket) and Hono
// (app.request): one scenario — redirect, sign-in through Gatehouse, page, refresh, CSRF, scope,
// logout — runs on each, and the answers (status, headers, cookie attributes, error pages) match.
import assert from 'node:assert/strict';
import { request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import { createBrowser, loginThroughForm } from '@gatehouse/test-support/browser';
import { gatehouseWebApp as expressWebApp } from '@gatehouse/sdk/express';
import { gatehouseWebApp as fastifyWebApp } from '@gatehouse/sdk/fastify';
import { gatehouseWebApp as honoWebApp } from '@gatehouse/sdk/hono';
import type { Principal } from '@gatehouse/sdk';
import { createWebApp, type WebApp } from '@gatehouse/sdk/webapp';
import { clock, SECRET, startGatehouse, suiteScope, USER, type Gatehouse } from './webapp-support.ts';

const PUBLIC_URL = 'http://localhost:3000';

interface Wire {
  status: number;
  location: string | undefined;
  contentType: string | undefined;
  cacheControl: string | undefined;
  allow: string | undefined;
  cookies: string[];
  body: string;
}

type Send = (method: string, path: string, headers?: Record<string, string>) => Promise<Wire>;

let gh: Gatehouse;
let webApp: WebApp;
// Frozen during each run: every adapter's cookies then carry the same Max-Age (a real clock
// crossing a second boundary between the callback and the refresh of one run, and not of
// another, changed the refreshed session's Max-Age by one).
const time = clock({ frozen: true });
const adapters: Record<'fastify' | 'express' | 'hono', Send> = {} as never;
const hooks = suiteScope(after);

before(async () => {
  gh = await startGatehouse(hooks);
  const { clientId, clientSecret } = await gh.client(PUBLIC_URL);
  // One web app shared by the three frameworks, as one app would be.
  webApp = createWebApp({ authenticator: gh.authenticator(), clientId, clientSecret, publicUrl: PUBLIC_URL, secret: SECRET, scopes: ['notes'], now: time.now });
  const page = (auth: Principal | undefined, token: string | undefined) => ({
    user: auth?.claims['preferred_username'] ?? null,
    tokenTail: token?.slice(-12) ?? null,
  });

  const fastify = Fastify();
  await fastify.register(fastifyWebApp, { webApp });
  fastify.get('/', { session: { optional: true } }, async (request) => page(request.auth, request.webSession?.accessToken));
  fastify.get('/profile', { session: {} }, async (request) => page(request.auth, request.webSession?.accessToken));
  fastify.post('/notes', { session: {} }, async () => ({ saved: true }));
  fastify.get('/admin', { session: { scopes: ['admin'] } }, async () => ({ admin: true }));
  await fastify.ready();
  hooks.after(() => fastify.close());
  adapters.fastify = async (method, path, headers = {}) => {
    const response = await fastify.inject({ method: method as 'GET', url: path, headers });
    const header = (name: string) => (response.headers[name] === undefined ? undefined : String(response.headers[name]));
    const cookies = response.headers['set-cookie'];
    return {
      status: response.statusCode,
      location: header('location'),
      contentType: header('content-type'),
      cacheControl: header('cache-control'),
      allow: header('allow'),
      cookies: cookies === undefined ? [] : Array.isArray(cookies) ? cookies : [cookies],
      body: response.body,
    };
  };

  const web = expressWebApp(webApp);
  const app = express();
  app.use(web.routes);
  app.get('/', web.requireSession({ optional: true }), (req, res) => void res.json(page(req.auth, req.webSession?.accessToken)));
  app.get('/profile', web.requireSession(), (req, res) => void res.json(page(req.auth, req.webSession?.accessToken)));
  app.post('/notes', web.requireSession(), (_req, res) => void res.json({ saved: true }));
  app.get('/admin', web.requireSession({ scopes: ['admin'] }), (_req, res) => void res.json({ admin: true }));
  const server = await new Promise<Server>((resolve) => {
    const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
  });
  hooks.after(() => {
    server.closeAllConnections();
    return new Promise((resolve) => server.close(resolve));
  });
  const expressUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // node:http rather than fetch, which adds Sec-Fetch-Mode: cors to every request.
  adapters.express = (method, path, headers = {}) =>
    new Promise<Wire>((resolve, reject) => {
      const outgoing = httpRequest(`${expressUrl}${path}`, { method, headers }, (incoming) => {
        let body = '';
        incoming.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
        incoming.on('end', () => {
          const header = (name: string) => (incoming.headers[name] === undefined ? undefined : String(incoming.headers[name]));
          resolve({
            status: incoming.statusCode!,
            location: header('location'),
            contentType: header('content-type'),
            cacheControl: header('cache-control'),
            allow: header('allow'),
            cookies: incoming.headers['set-cookie'] ?? [],
            body,
          });
        });
      });
      outgoing.on('error', reject).end();
    });

  const hono = honoWebApp(webApp);
  const honoApp = new Hono();
  honoApp.use(hono.routes);
  honoApp.get('/', hono.requireSession({ optional: true }), (c) => c.json(page(c.get('auth'), c.get('webSession')?.accessToken)));
  honoApp.get('/profile', hono.requireSession(), (c) => c.json(page(c.get('auth'), c.get('webSession').accessToken)));
  honoApp.post('/notes', hono.requireSession(), (c) => c.json({ saved: true }));
  honoApp.get('/admin', hono.requireSession({ scopes: ['admin'] }), (c) => c.json({ admin: true }));
  adapters.hono = async (method, path, headers = {}) => wire(await honoApp.request(`${PUBLIC_URL}${path}`, { method, headers }));
});

async function wire(response: Response): Promise<Wire> {
  return {
    status: response.status,
    location: response.headers.get('location') ?? undefined,
    contentType: response.headers.get('content-type') ?? undefined,
    cacheControl: response.headers.get('cache-control') ?? undefined,
    allow: response.headers.get('allow') ?? undefined,
    cookies: response.headers.getSetCookie(),
    body: await response.text(),
  };
}

/** A cookie with its value hidden: what must match across adapters. */
const shape = (cookie: string) => cookie.replace(/^([^=]+)=[^;]+/, '$1=…');
const value = (wire: Wire, name: string) => wire.cookies.find((c) => c.startsWith(`${name}=`))?.split(';')[0];

/** Runs the scenario on one adapter and returns what must be identical everywhere. */
async function scenario(send: Send): Promise<unknown[]> {
  time.reset();
  const seen: unknown[] = [];
  const record = (label: string, w: Wire, options: { body?: boolean } = {}) =>
    // 200s are the handlers' own answers (each framework types JSON its way); the rest are the helper's.
    seen.push({ label, status: w.status, contentType: w.status === 200 ? undefined : w.contentType, cacheControl: w.cacheControl, allow: w.allow, cookies: w.cookies.map(shape), body: options.body ? w.body : undefined });

  // A page view without a session: to Gatehouse.
  const start = await send('GET', '/profile');
  assert.equal(start.status, 303);
  const authorize = new URL(start.location!);
  assert.equal(authorize.searchParams.get('redirect_uri'), `${PUBLIC_URL}/auth/callback`);
  record('redirect to sign-in', start);

  // Through Gatehouse's login page and back.
  const { callback } = await loginThroughForm(createBrowser(), authorize, USER, webApp.description.redirectUri);
  const back = await send('GET', callback.pathname + callback.search, { cookie: value(start, 'gatehouse_session_login')! });
  assert.equal(back.status, 303);
  assert.equal(back.location, `${PUBLIC_URL}/profile`);
  record('callback', back);
  const cookie = value(back, 'gatehouse_session')!;

  const profile = await send('GET', '/profile', { cookie });
  assert.equal(profile.status, 200);
  assert.equal(JSON.parse(profile.body).user, 'johndoe');
  record('page', profile);
  assert.equal(JSON.parse((await send('GET', '/', { cookie })).body).user, 'johndoe');
  assert.equal(JSON.parse((await send('GET', '/')).body).user, null);

  record('cross-site POST', await send('POST', '/notes', { cookie, 'sec-fetch-site': 'cross-site' }), { body: true });
  record('same-origin POST', await send('POST', '/notes', { cookie, 'sec-fetch-site': 'same-origin' }));
  record('missing scope', await send('GET', '/admin', { cookie }), { body: true });
  record('script without session', await send('GET', '/profile', { 'sec-fetch-mode': 'cors' }), { body: true });

  // Due for refresh: the handler's answer carries the refreshed session.
  time.advance(900 - 60 + 5);
  const refreshed = await send('GET', '/profile', { cookie });
  assert.equal(refreshed.status, 200);
  assert.notEqual(JSON.parse(refreshed.body).tokenTail, JSON.parse(profile.body).tokenTail);
  record('refreshed page', refreshed);
  // The session keeps its absolute end: 14 days from the sign-in, less the time since.
  const maxAge = (wire: Wire) => Number(/; Max-Age=(\d+);/.exec(wire.cookies.find((c) => c.startsWith('gatehouse_session=')) ?? '')?.[1]);
  assert.equal(maxAge(back), 14 * 86400);
  assert.equal(maxAge(refreshed), 14 * 86400 - (900 - 60 + 5));
  const renewed = value(refreshed, 'gatehouse_session')!;
  time.reset();

  record('logout by GET', await send('GET', '/auth/logout', { cookie: renewed }), { body: true });
  const logout = await send('POST', '/auth/logout', { cookie: renewed, origin: PUBLIC_URL });
  assert.equal(logout.status, 303);
  assert.ok(logout.location!.startsWith(`${gh.issuer}/logout?`));
  record('logout', logout);
  return seen;
}

test('Fastify, Express and Hono run the same flow with the same answers', async () => {
  const fastify = await scenario(adapters.fastify);
  const expressRun = await scenario(adapters.express);
  const hono = await scenario(adapters.hono);
  assert.deepEqual(expressRun, fastify, 'Express answers like Fastify');
  assert.deepEqual(hono, fastify, 'Hono answers like Fastify');
});

test('adapters refuse misuse when the route is declared', async () => {
  assert.throws(() => expressWebApp(undefined as never), /gatehouseWebApp: expected a web app/);
  assert.throws(() => honoWebApp({} as never), /gatehouseWebApp: expected a web app/);
  const web = expressWebApp(webApp);
  assert.throws(() => web.requireSession({ scopes: ['two words'] }), /requireSession\.scopes\[0\]/);
  assert.throws(() => web.requireSession({ sources: ['cookie'] } as never), /requireSession\.sources: a web session always comes from the session cookie/);
  const fastify = Fastify();
  await assert.rejects(async () => {
    await fastify.register(fastifyWebApp, {} as never);
  }, /the webApp option is required/);
  const app = Fastify();
  await app.register(fastifyWebApp, { webApp });
  assert.throws(() => app.get('/x', { session: { kinds: ['robot' as never] } }, async () => 'x'), /GET \/x: session\.kinds\[0\]/);
  assert.throws(() => app.get('/y', { session: {}, auth: {} }, async () => 'y'), /GET \/y: session: a route takes either auth/);
  await app.close();
});
