// Every adapter sends the same bytes: the same requests go to Fastify (inject), Express (a real
// socket) and Hono (app.request), and status, WWW-Authenticate, content type and body must match.
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import express from 'express';
import Fastify, { type FastifyInstance } from 'fastify';
import { Hono } from 'hono';
import { createAuthenticator, type AuthRequirement } from '@gatehouse/sdk';
import { gatehouse as expressGatehouse } from '@gatehouse/sdk/express';
import { gatehouse as fastifyGatehouse } from '@gatehouse/sdk/fastify';
import { gatehouse as honoGatehouse } from '@gatehouse/sdk/hono';
import { createTestIssuer, snapshot, type TestIssuer } from '@gatehouse/sdk/testing';

let issuer: TestIssuer;
let fastifyApp: FastifyInstance;
let expressServer: Server;
let expressUrl: string;
let honoApp: Hono;

const ITEMS: AuthRequirement = { scopes: ['items'], sources: ['bearer', 'query', 'apiKey'] };
const FEED: AuthRequirement = { optional: true };

before(async () => {
  issuer = await createTestIssuer();
  // One authenticator shared by the three apps, as one API would.
  const authenticator = createAuthenticator(
    issuer.authenticatorOptions({ credentials: { query: true, apiKey: true }, defaultSources: ['bearer'], timeout: 1 }),
  );

  fastifyApp = Fastify();
  await fastifyApp.register(fastifyGatehouse, { authenticator });
  fastifyApp.get('/items', { auth: ITEMS }, async (request) => ({ subject: request.auth?.subject, kind: request.auth?.kind }));
  fastifyApp.get('/feed', { auth: FEED }, async (request) => ({ subject: request.auth?.subject ?? null }));
  await fastifyApp.ready();

  const { requireAuth } = expressGatehouse(authenticator);
  const app = express();
  app.get('/items', requireAuth(ITEMS), (req, res) => void res.json({ subject: req.auth?.subject, kind: req.auth?.kind }));
  app.get('/feed', requireAuth(FEED), (req, res) => void res.json({ subject: req.auth?.subject ?? null }));
  expressServer = await new Promise<Server>((resolve) => {
    const server = app.listen(0, '127.0.0.1', () => resolve(server));
  });
  expressUrl = `http://127.0.0.1:${(expressServer.address() as AddressInfo).port}`;

  const hono = honoGatehouse(authenticator);
  honoApp = new Hono();
  honoApp.get('/items', hono.requireAuth(ITEMS), (c) => c.json({ subject: c.get('auth')?.subject, kind: c.get('auth')?.kind }));
  honoApp.get('/feed', hono.requireAuth({ optional: true }), (c) => c.json({ subject: c.get('auth')?.subject ?? null }));
});

after(async () => {
  await fastifyApp.close();
  expressServer.closeAllConnections();
  await new Promise((resolve) => expressServer.close(resolve));
  await issuer.close();
});

interface Wire {
  status: number;
  wwwAuthenticate: string | undefined;
  contentType: string | undefined;
  body: string;
}

async function viaFastify(path: string, headers: Record<string, string>): Promise<Wire> {
  const response = await fastifyApp.inject({ method: 'GET', url: path, headers });
  const header = (name: string) => (response.headers[name] === undefined ? undefined : String(response.headers[name]));
  return { status: response.statusCode, wwwAuthenticate: header('www-authenticate'), contentType: header('content-type'), body: response.body };
}

async function viaExpress(path: string, headers: Record<string, string>): Promise<Wire> {
  const response = await snapshot(await fetch(`${expressUrl}${path}`, { headers }));
  return wire(response.status, response.headers, response.body);
}

async function viaHono(path: string, headers: Record<string, string>): Promise<Wire> {
  const response = await snapshot(await honoApp.request(`https://api.example.test${path}`, { headers }));
  return wire(response.status, response.headers, response.body);
}

function wire(status: number, headers: Headers, body: string): Wire {
  return {
    status,
    wwwAuthenticate: headers.get('www-authenticate') ?? undefined,
    contentType: headers.get('content-type') ?? undefined,
    body,
  };
}

test('Fastify, Express and Hono answer every case with identical status, challenge and body', async () => {
  const token = (options = {}) => issuer.mintAccessToken({ scopes: ['items'], ...options });
  const cases: Record<string, () => Promise<{ path: string; headers: Record<string, string>; expect: number; setup?: () => void; teardown?: () => void }>> = {
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
      const answers = [await viaFastify(path, headers), await viaExpress(path, headers), await viaHono(path, headers)];
      // A 200 comes from the handler, whose content type is each framework's own choice.
      const [fastifyWire, expressWire, honoWire] = answers.map((answer) => (answer.status < 400 ? { ...answer, contentType: undefined } : answer)) as [Wire, Wire, Wire];
      assert.equal(fastifyWire.status, expect, `${name}: ${fastifyWire.body}`);
      assert.deepEqual(expressWire, fastifyWire, `${name}: Express differs from Fastify`);
      assert.deepEqual(honoWire, fastifyWire, `${name}: Hono differs from Fastify`);
      if (expect >= 400) assert.equal(fastifyWire.contentType, 'application/json; charset=utf-8', name);
      if (expect === 401 || expect === 403 || expect === 400) assert.ok(fastifyWire.wwwAuthenticate?.startsWith('Bearer realm='), name);
    } finally {
      teardown?.();
    }
  }
});
