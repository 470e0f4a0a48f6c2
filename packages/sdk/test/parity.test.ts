// Every adapter sends the same bytes: the same requests go to Fastify (inject), Express and Hono
// (@hono/node-server), both on real sockets, and status, WWW-Authenticate, Retry-After, content
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
type Call = (path: string, headers: Record<string, string | string[]>) => Promise<Wire>;

interface Adapters {
  readonly fastify: Call;
  readonly express: Call;
  readonly hono: Call;
  close(): Promise<void>;
}

/** The same two routes on the three frameworks, protected by one authenticator (as one API would be). */
async function serveEverywhere(authenticator: Authenticator): Promise<Adapters> {
  const fastifyApp = Fastify();
  await fastifyApp.register(fastifyGatehouse, { authenticator });
  fastifyApp.get('/items', { auth: ITEMS }, async (request) => ({ subject: request.auth?.subject, kind: request.auth?.kind }));
  fastifyApp.get('/feed', { auth: FEED }, async (request) => ({ subject: request.auth?.subject ?? null }));
  await fastifyApp.ready();

  const { requireAuth } = expressGatehouse(authenticator);
  const app = express();
  app.get('/items', requireAuth(ITEMS), (req, res) => void res.json({ subject: req.auth?.subject, kind: req.auth?.kind }));
  app.get('/feed', requireAuth(FEED), (req, res) => void res.json({ subject: req.auth?.subject ?? null }));
  const expressServer = await listen(app.listen(0, '127.0.0.1'));

  const hono = honoGatehouse(authenticator);
  const honoApp = new Hono();
  honoApp.get('/items', hono.requireAuth(ITEMS), (c) => c.json({ subject: c.get('auth')?.subject, kind: c.get('auth')?.kind }));
  honoApp.get('/feed', hono.requireAuth({ optional: true }), (c) => c.json({ subject: c.get('auth')?.subject ?? null }));
  const honoServer = await listen(createAdaptorServer({ fetch: honoApp.fetch }).listen(0, '127.0.0.1') as Server);

  const overSocket = (server: Server): Call => {
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return (path, headers) => get(`${base}${path}`, headers);
  };
  return {
    fastify: async (path, headers) => {
      const response = await fastifyApp.inject({ method: 'GET', url: path, headers });
      const header = (name: string) => (response.headers[name] === undefined ? undefined : String(response.headers[name]));
      return {
        status: response.statusCode,
        wwwAuthenticate: header('www-authenticate'),
        retryAfter: header('retry-after'),
        contentType: header('content-type'),
        cacheControl: header('cache-control'),
        body: response.body,
      };
    },
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

/** A GET over a real socket with node:http, which sends each element of an array header as its own field. */
function get(url: string, headers: OutgoingHttpHeaders): Promise<Wire> {
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest(url, { headers }, (response) => {
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
async function sameEverywhere(adapters: Adapters, name: string, path: string, headers: Record<string, string | string[]>): Promise<Wire> {
  const answers = [await adapters.fastify(path, headers), await adapters.express(path, headers), await adapters.hono(path, headers)];
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
