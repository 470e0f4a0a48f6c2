// Every adapter sends the same bytes: the same requests go to Fastify, Express and Hono
// (@hono/node-server), each on a real socket, and status, WWW-Authenticate, Retry-After, content
// type and body must match. Each adapter gives the core the client's address (the failure limit).
import assert from 'node:assert/strict';
import { request as httpRequest, type OutgoingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { createAdaptorServer } from '@hono/node-server';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import { createAuthenticator, type Authenticator, type AuthRequirement } from '@gatehouse/sdk';
import { gatehouse as expressGatehouse } from '@gatehouse/sdk/express';
import { gatehouse as fastifyGatehouse } from '@gatehouse/sdk/fastify';
import { gatehouse as honoGatehouse } from '@gatehouse/sdk/hono';
import { createTestIssuer, type TestIssuer } from '@gatehouse/sdk/testing';

let issuer: TestIssuer;
let apps: Adapters;

const ITEMS: AuthRequirement = { scopes: ['items'], sources: ['bearer', 'query', 'apiKey'] };
const FEED: AuthRequirement = { optional: true };

interface Wire {
  status: number;
  wwwAuthenticate: string | undefined;
  retryAfter: string | undefined;
  contentType: string | undefined;
  cacheControl: string | undefined;
  body: string;
}

/** A header given as an array is sent as that many separate fields (fetch would join them). */
type Call = (path: string, headers: Record<string, string | string[]>, method?: 'GET' | 'POST') => Promise<Wire>;

interface Adapters {
  readonly fastify: Call;
  readonly express: Call;
  readonly hono: Call;
  close(): Promise<void>;
}

/**
 * The same routes on the three frameworks, protected by one authenticator (as one API would be):
 * `GET /items` and `POST /items` with `items` as their requirement, and an optional `GET /feed`.
 */
async function serveEverywhere(authenticator: Authenticator, items: AuthRequirement = ITEMS): Promise<Adapters> {
  const fastifyApp = Fastify();
  await fastifyApp.register(fastifyGatehouse, { authenticator });
  fastifyApp.get('/items', { auth: items }, async (request) => ({ subject: request.auth?.subject, kind: request.auth?.kind }));
  fastifyApp.post('/items', { auth: items }, async (request) => ({ subject: request.auth?.subject, kind: request.auth?.kind }));
  fastifyApp.get('/feed', { auth: FEED }, async (request) => ({ subject: request.auth?.subject ?? null }));
  await fastifyApp.listen({ port: 0, host: '127.0.0.1' });

  const { requireAuth } = expressGatehouse(authenticator);
  const app = express();
  app.get('/items', requireAuth(items), (req, res) => void res.json({ subject: req.auth?.subject, kind: req.auth?.kind }));
  app.post('/items', requireAuth(items), (req, res) => void res.json({ subject: req.auth?.subject, kind: req.auth?.kind }));
  app.get('/feed', requireAuth(FEED), (req, res) => void res.json({ subject: req.auth?.subject ?? null }));
  const expressServer = await listen(app.listen(0, '127.0.0.1'));

  const hono = honoGatehouse(authenticator);
  const honoApp = new Hono();
  honoApp.get('/items', hono.requireAuth(items), (c) => c.json({ subject: c.get('auth')?.subject, kind: c.get('auth')?.kind }));
  honoApp.post('/items', hono.requireAuth(items), (c) => c.json({ subject: c.get('auth')?.subject, kind: c.get('auth')?.kind }));
  honoApp.get('/feed', hono.requireAuth({ optional: true }), (c) => c.json({ subject: c.get('auth')?.subject ?? null }));
  const honoServer = await listen(createAdaptorServer({ fetch: honoApp.fetch }).listen(0, '127.0.0.1') as Server);

  const overSocket = (server: Server): Call => {
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return (path, headers, method = 'GET') => send(method, `${base}${path}`, headers);
  };
  return {
    fastify: overSocket(fastifyApp.server),
    express: overSocket(expressServer),
    hono: overSocket(honoServer),
    async close() {
      await fastifyApp.close();
      for (const server of [expressServer, honoServer]) {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      }
    },
  };
}

/** A request over a real socket with node:http, which sends each element of an array header as its own field. */
function send(method: 'GET' | 'POST', url: string, headers: OutgoingHttpHeaders): Promise<Wire> {
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest(url, { method, headers }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => {
        const header = (name: string) => (response.headers[name] === undefined ? undefined : String(response.headers[name]));
        resolve({
          status: response.statusCode ?? 0,
          wwwAuthenticate: header('www-authenticate'),
          retryAfter: header('retry-after'),
          contentType: header('content-type'),
          cacheControl: header('cache-control'),
          body,
        });
      });
    });
    outgoing.on('error', reject);
    outgoing.end();
  });
}

async function listen(server: Server): Promise<Server> {
  if (!server.listening) await new Promise((resolve) => server.once('listening', resolve));
  return server;
}

/** Fastify's, Express' and Hono's answers, asserted identical (a 200's content type is each framework's own). */
async function sameEverywhere(
  adapters: Adapters,
  name: string,
  path: string,
  headers: Record<string, string | string[]>,
  method: 'GET' | 'POST' = 'GET',
): Promise<Wire> {
  const answers = [await adapters.fastify(path, headers, method), await adapters.express(path, headers, method), await adapters.hono(path, headers, method)];
  const [fastifyWire, expressWire, honoWire] = answers.map((answer) => (answer.status < 400 ? { ...answer, contentType: undefined } : answer)) as [Wire, Wire, Wire];
  assert.deepEqual(expressWire, fastifyWire, `${name}: Express differs from Fastify`);
  assert.deepEqual(honoWire, fastifyWire, `${name}: Hono differs from Fastify`);
  return fastifyWire;
}

before(async () => {
  issuer = await createTestIssuer();
  apps = await serveEverywhere(
    createAuthenticator(issuer.authenticatorOptions({ credentials: { query: true, apiKey: true }, defaultSources: ['bearer'], timeout: 1 })),
  );
});

after(async () => {
  await apps.close();
  await issuer.close();
});

test('Fastify, Express and Hono answer every case with identical status, challenge and body', async () => {
  const token = (options = {}) => issuer.mintAccessToken({ scopes: ['items'], ...options });
  const cases: Record<string, () => Promise<{ path: string; headers: Record<string, string | string[]>; expect: number; setup?: () => void; teardown?: () => void }>> = {
    'no credentials': async () => ({ path: '/items', headers: {}, expect: 401 }),
    'bad token': async () => ({ path: '/items', headers: { authorization: 'Bearer not.a.jwt' }, expect: 401 }),
    'expired token': async () => ({ path: '/items', headers: { authorization: `Bearer ${await issuer.mintBadToken('expired')}` }, expect: 401 }),
    'wrong audience': async () => ({ path: '/items', headers: { authorization: `Bearer ${await issuer.mintBadToken('wrong_audience')}` }, expect: 401 }),
    'missing scope': async () => ({ path: '/items', headers: { authorization: `Bearer ${await token({ scopes: ['me'] })}` }, expect: 403 }),
    'good token': async () => ({ path: '/items', headers: { authorization: `Bearer ${await token()}` }, expect: 200 }),
    'API key': async () => ({ path: '/items', headers: { 'x-api-key': issuer.createApiKey({ scopes: ['items'] }) }, expect: 200 }),
    'revoked API key': async () => {
      const key = issuer.createApiKey({ scopes: ['items'] });
      issuer.revoke(key);
      return { path: '/items', headers: { 'x-api-key': key }, expect: 401 };
    },
    'two methods at once': async () => {
      const value = await token();
      return { path: `/items?access_token=${value}`, headers: { authorization: `Bearer ${value}` }, expect: 400 };
    },
    // Node keeps the first of two Authorization fields; a proxy may judge the last. Refused.
    'two Authorization headers': async () => ({
      path: '/items',
      headers: { authorization: [`Bearer ${await token()}`, `Bearer ${await token({ scopes: ['me'] })}`] },
      expect: 400,
    }),
    'two Authorization headers, the first a good token': async () => ({
      path: '/feed',
      headers: { authorization: [`Bearer ${await token()}`, 'Basic dXNlcjpwYXNz'] },
      expect: 400,
    }),
    'two API key headers': async () => ({
      path: '/items',
      headers: { 'x-api-key': [issuer.createApiKey({ scopes: ['items'] }), issuer.createApiKey({ scopes: ['items'] })] },
      expect: 400,
    }),
    // RFC 6750 §2.3: an answer obtained with a token in the URL must not be cached by URL.
    'token in the query': async () => ({ path: `/items?access_token=${await token()}`, headers: {}, expect: 200 }),
    'optional, no credentials': async () => ({ path: '/feed', headers: {}, expect: 200 }),
    'optional, good token': async () => ({ path: '/feed', headers: { authorization: `Bearer ${await token()}` }, expect: 200 }),
    'optional, bad token': async () => ({ path: '/feed', headers: { authorization: `Bearer ${await issuer.mintBadToken('bad_signature')}` }, expect: 401 }),
    'upstream down': async () => ({
      path: '/items',
      headers: { 'x-api-key': issuer.createApiKey({ scopes: ['items'] }) },
      expect: 503,
      setup: () => issuer.fail('introspection', 'unavailable'),
      teardown: () => issuer.fail('introspection', undefined),
    }),
  };

  for (const [name, build] of Object.entries(cases)) {
    const { path, headers, expect, setup, teardown } = await build();
    setup?.();
    try {
      const fastifyWire = await sameEverywhere(apps, name, path, headers);
      assert.equal(fastifyWire.status, expect, `${name}: ${fastifyWire.body}`);
      if (expect >= 400) assert.equal(fastifyWire.contentType, 'application/json; charset=utf-8', name);
      if (expect === 401 || expect === 403 || expect === 400) assert.ok(fastifyWire.wwwAuthenticate?.startsWith('Bearer realm='), name);
      assert.equal(fastifyWire.cacheControl, name === 'token in the query' ? 'no-store' : undefined, name);
      if (name.startsWith('two A')) assert.match(fastifyWire.body, /"error":"invalid_request".*sent more than once/, name);
      // Every 503 says when to come back (RFC 9110 §10.2.3).
      if (expect === 503) assert.equal(fastifyWire.retryAfter, '1', name);
    } finally {
      teardown?.();
    }
  }
});

test('past the failure limit, every adapter answers 429 with the same Retry-After, challenge and body, without introspection', async () => {
  const start = Date.now();
  const throttled = await serveEverywhere(
    createAuthenticator(
      issuer.authenticatorOptions({
        credentials: { query: true, apiKey: true },
        defaultSources: ['bearer'],
        introspection: { ...issuer.introspectionClient, failureLimit: { max: 2, window: 60 } },
        // A clock that stands still: Retry-After cannot differ by a second between adapters.
        now: () => start,
      }),
    ),
  );
  try {
    const unknownKey = () => `unknown${crypto.randomUUID().replaceAll('-', '')}`;
    // Two unknown keys from 127.0.0.1 use up the address's attempts.
    for (const adapter of [throttled.fastify, throttled.hono]) assert.equal((await adapter('/items', { 'x-api-key': unknownKey() })).status, 401);
    const before = issuer.requests.introspection;
    const answer = await sameEverywhere(throttled, 'throttled API key', '/items', { 'x-api-key': unknownKey() });
    assert.equal(answer.status, 429);
    assert.equal(answer.retryAfter, '60');
    assert.equal(answer.wwwAuthenticate, undefined);
    assert.equal(answer.contentType, 'application/json; charset=utf-8');
    assert.equal(JSON.parse(answer.body).error, 'too_many_requests');
    assert.equal(issuer.requests.introspection, before, 'no adapter let a request reach introspection');
    // Each adapter gave the address: the same opaque token is refused the same way by all three.
    assert.equal((await sameEverywhere(throttled, 'throttled opaque token', '/items', { authorization: `Bearer ${issuer.createOpaqueToken()}` })).status, 429);
    assert.equal(issuer.requests.introspection, before);
  } finally {
    await throttled.close();
  }
});

// Issue 10.12-13: under an https issuer a credential cookie is read only under a name no other site
// or subdomain can set (`__Host-`/`__Secure-`, RFC 6265bis §4.1.3), and a cookie credential on an
// unsafe method from another site is refused 403 `cross_site_request` without a challenge.
test('cookie credentials under an https issuer: prefixed names only, cross-site POSTs 403, the same on every adapter', async () => {
  const httpsIssuer = 'https://issuer.example.test';
  // Static keys: an https issuer with no network at all.
  const options = { issuer: httpsIssuer, audience: issuer.audience, algorithms: ['ES256' as const], jwks: issuer.jwks() };
  assert.throws(
    () => createAuthenticator({ ...options, credentials: { cookie: 'token' } }),
    (error: unknown) => error instanceof TypeError && /^credentials\.cookie: .*__Host-token.*credentials\.unprefixedCookies: true/.test(error.message),
  );
  const COOKIE_ONLY: AuthRequirement = { scopes: ['items'], sources: ['cookie'] };
  const token = await issuer.mintAccessToken({ issuer: httpsIssuer, scopes: ['items'] });

  const prefixed = await serveEverywhere(createAuthenticator({ ...options, credentials: { cookie: '__Host-token' } }), COOKIE_ONLY);
  try {
    const ok = await sameEverywhere(prefixed, '__Host- cookie', '/items', { cookie: `__Host-token=${token}` });
    assert.equal(ok.status, 200, ok.body);
    assert.equal(JSON.parse(ok.body).subject, 'user-1');
    // The same token under the bare name is not a credential here: nothing was sent.
    const bare = await sameEverywhere(prefixed, 'unprefixed cookie', '/items', { cookie: `token=${token}` });
    assert.deepEqual([bare.status, bare.wwwAuthenticate], [401, `Bearer realm="${issuer.audience}"`]);

    const sameOrigin = await sameEverywhere(prefixed, 'same-origin POST', '/items', { cookie: `__Host-token=${token}`, 'sec-fetch-site': 'same-origin' }, 'POST');
    assert.equal(sameOrigin.status, 200, sameOrigin.body);
    const crossSite = await sameEverywhere(prefixed, 'cross-site POST', '/items', { cookie: `__Host-token=${token}`, 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' }, 'POST');
    assert.equal(crossSite.status, 403);
    assert.equal(crossSite.wwwAuthenticate, undefined, 'no challenge: signing in again would not help');
    assert.equal(JSON.parse(crossSite.body).error, 'cross_site_request');
  } finally {
    await prefixed.close();
  }

  // The opt-out, for a cookie that cannot be renamed.
  const unprefixed = await serveEverywhere(createAuthenticator({ ...options, credentials: { cookie: 'token', unprefixedCookies: true } }), COOKIE_ONLY);
  try {
    assert.equal((await sameEverywhere(unprefixed, 'opted-out cookie', '/items', { cookie: `token=${token}` })).status, 200);
  } finally {
    await unprefixed.close();
  }
});
