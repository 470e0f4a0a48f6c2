// RFC 9728 protected resource metadata (issue 15): one option on the authenticator publishes it,
// each adapter serves the same bytes at the path-suffixed well-known URL, and every Bearer
// challenge points to it. Audience checks stay exact: a token for another resource is 401.
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { createAdaptorServer } from '@hono/node-server';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import { createAuthenticator, metadataLocation, type Authenticator } from '@gatehouse/sdk';
import { gatehouse as expressGatehouse } from '@gatehouse/sdk/express';
import { gatehouse as fastifyGatehouse } from '@gatehouse/sdk/fastify';
import { gatehouse as honoGatehouse } from '@gatehouse/sdk/hono';
import { createTestIssuer, type TestIssuer } from '@gatehouse/sdk/testing';
import { metadataResponse } from '../src/protected-resource.ts';

const AUDIENCE = 'https://api.example.test/mcp';
const METADATA_PATH = '/.well-known/oauth-protected-resource/mcp';
const METADATA_URL = `https://api.example.test${METADATA_PATH}`;

let issuer: TestIssuer;
let bases: Record<'fastify' | 'express' | 'hono', string>;
const closers: (() => Promise<void>)[] = [];

async function listen(server: Server): Promise<string> {
  if (!server.listening) await new Promise((resolve) => server.once('listening', resolve));
  closers.push(() => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function serve(authenticator: Authenticator): Promise<typeof bases> {
  const fastifyApp = Fastify();
  await fastifyApp.register(fastifyGatehouse, { authenticator });
  fastifyApp.post('/mcp', { auth: { scopes: ['tools:write'] } }, async () => ({ ok: true }));
  await fastifyApp.listen({ port: 0, host: '127.0.0.1' });
  closers.push(() => fastifyApp.close());

  const ex = expressGatehouse(authenticator);
  const expressApp = express();
  expressApp.use(ex.protectedResourceMetadata);
  expressApp.post('/mcp', ex.requireAuth({ scopes: ['tools:write'] }), (_req, res) => void res.json({ ok: true }));

  const ho = honoGatehouse(authenticator);
  const honoApp = new Hono();
  honoApp.use(ho.protectedResourceMetadata);
  honoApp.post('/mcp', ho.requireAuth({ scopes: ['tools:write'] }), (c) => c.json({ ok: true }));

  return {
    fastify: `http://127.0.0.1:${(fastifyApp.server.address() as AddressInfo).port}`,
    express: await listen(expressApp.listen(0, '127.0.0.1')),
    hono: await listen(createAdaptorServer({ fetch: honoApp.fetch }).listen(0, '127.0.0.1') as Server),
  };
}

before(async () => {
  issuer = await createTestIssuer({ audience: AUDIENCE });
  bases = await serve(
    createAuthenticator(issuer.authenticatorOptions({ protectedResource: { scopes: ['tools:read', 'tools:write'], documentation: 'https://docs.example.test/mcp' } })),
  );
});

after(async () => {
  for (const close of closers) await close();
  await issuer.close();
});

test('the metadata is served at the path-suffixed well-known URL, the same bytes from every adapter', async () => {
  const answers = await Promise.all(Object.values(bases).map(async (base) => {
    const response = await fetch(`${base}${METADATA_PATH}`);
    return { status: response.status, type: response.headers.get('content-type'), cors: response.headers.get('access-control-allow-origin'), body: await response.text() };
  }));
  for (const answer of answers) assert.deepEqual(answer, answers[0]);
  assert.equal(answers[0]!.status, 200);
  assert.match(answers[0]!.type!, /^application\/json/);
  assert.equal(answers[0]!.cors, '*');
  assert.deepEqual(JSON.parse(answers[0]!.body), {
    resource: AUDIENCE,
    authorization_servers: [issuer.issuer],
    bearer_methods_supported: ['header'],
    scopes_supported: ['tools:read', 'tools:write'],
    resource_documentation: 'https://docs.example.test/mcp',
  });
  // Only the resource's own suffix: the bare well-known path is another resource's.
  for (const base of Object.values(bases)) assert.equal((await fetch(`${base}/.well-known/oauth-protected-resource`)).status, 404);
});

test('every Bearer challenge names the metadata URL: no token, a bad token, a token for another resource, a missing scope', async () => {
  const cases: { headers: Record<string, string>; status: number; challenge?: string; error?: string; scope?: string }[] = [
    { headers: {}, status: 401, challenge: `Bearer realm="${AUDIENCE}", resource_metadata="${METADATA_URL}"` },
    { headers: { authorization: `Bearer ${await issuer.mintBadToken('wrong_audience')}` }, status: 401, error: 'invalid_token' },
    { headers: { authorization: `Bearer ${await issuer.mintAccessToken({ scopes: ['tools:read'] })}` }, status: 403, error: 'insufficient_scope', scope: 'tools:write' },
  ];
  for (const [name, base] of Object.entries(bases)) {
    for (const c of cases) {
      const response = await fetch(`${base}/mcp`, { method: 'POST', headers: c.headers });
      const header = response.headers.get('www-authenticate') ?? '';
      assert.equal(response.status, c.status, `${name}: ${header}`);
      if (c.challenge !== undefined) assert.equal(header, c.challenge, name);
      assert.match(header, new RegExp(`^Bearer realm="${AUDIENCE}", resource_metadata="${METADATA_URL}"`), name);
      if (c.error !== undefined) assert.match(header, new RegExp(`error="${c.error}"`), name);
      if (c.scope !== undefined) assert.match(header, new RegExp(`scope="${c.scope}"`), name);
    }
  }
});

test('Fastify takes scopes_supported from the API\'s declared scopes when the option gives none', async () => {
  const app = Fastify();
  const authenticator = createAuthenticator(issuer.authenticatorOptions({ protectedResource: true }));
  await app.register(fastifyGatehouse, { authenticator, scopes: { 'tools:read': 'Read', 'tools:write': 'Write' } });
  const response = await app.inject({ method: 'GET', url: METADATA_PATH });
  assert.deepEqual(JSON.parse(response.body).scopes_supported, ['tools:read', 'tools:write']);
  await app.close();
});

test('metadata locations follow RFC 9728 §3.1, and misuse fails at construction', () => {
  assert.deepEqual(metadataLocation('https://api.example.test'), { path: '/.well-known/oauth-protected-resource', url: 'https://api.example.test/.well-known/oauth-protected-resource' });
  assert.deepEqual(metadataLocation('https://api.example.test/v1/mcp/'), { path: '/.well-known/oauth-protected-resource/v1/mcp', url: 'https://api.example.test/.well-known/oauth-protected-resource/v1/mcp' });
  assert.throws(() => createAuthenticator(issuer.authenticatorOptions({ audience: 'notes-api', protectedResource: true })), /protectedResource: the audience must be an absolute URL/);
  assert.throws(() => createAuthenticator(issuer.authenticatorOptions({ protectedResource: { scopes: ['a b'] } })), /protectedResource.scopes/);
  assert.throws(() => createAuthenticator(issuer.authenticatorOptions({ protectedResource: 'yes' as never })), /protectedResource: expected true or an object/);
  assert.throws(() => createAuthenticator(issuer.authenticatorOptions({ protectedResource: null as never })), /protectedResource: expected true or an object/);
  // An empty scope list says nothing: no empty scopes_supported, so the adapter's declared scopes fill it.
  const empty = createAuthenticator(issuer.authenticatorOptions({ protectedResource: { scopes: [] } })).description.protectedResource!;
  assert.equal('scopes_supported' in empty.metadata, false);
  assert.deepEqual(JSON.parse(metadataResponse(empty, ['tools:read']).body).scopes_supported, ['tools:read']);
  assert.equal('scopes_supported' in JSON.parse(metadataResponse(empty, []).body), false, 'nor from an adapter with none');
  // Its name and documentation when given, nothing when not; its own scopes win over the adapter's.
  const named = createAuthenticator(issuer.authenticatorOptions({ protectedResource: { name: 'Items', documentation: 'https://docs.example.test', scopes: ['a'] } })).description.protectedResource!;
  assert.equal(named.metadata.resource_name, 'Items');
  assert.equal(named.metadata.resource_documentation, 'https://docs.example.test');
  assert.deepEqual(JSON.parse(metadataResponse(named, ['b']).body).scopes_supported, ['a']);
  const bare = createAuthenticator(issuer.authenticatorOptions({ protectedResource: true })).description.protectedResource!;
  assert.equal('resource_name' in bare.metadata || 'resource_documentation' in bare.metadata, false);
  for (const audience of ['https://api.example.test/?v=1', 'https://api.example.test/#x']) {
    assert.throws(() => createAuthenticator(issuer.authenticatorOptions({ audience, protectedResource: true })), /must not have a query or fragment/);
  }
  // Without the option nothing changes: no metadata, no resource_metadata.
  assert.equal(createAuthenticator(issuer.authenticatorOptions()).description.protectedResource, undefined);
});
