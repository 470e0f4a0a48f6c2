// The Fastify adapter: route options, typed request.auth, HEAD routes, boot-time misuse, the
// OpenAPI document it produces, and Swagger UI that logs in with authorization code + PKCE.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { AUTH_ERROR_SCHEMA_ID, authErrorExample, authErrorSchema, createAuthenticator, errorResponses, type Authenticator } from '@gatehouse/sdk';
import { docsRedirectUrl, gatehouse, gatehouseDocs } from '@gatehouse/sdk/fastify';
import { assertInsufficientScope, assertMissingCredentials, createTestIssuer, type TestIssuer } from '@gatehouse/sdk/testing';
import { bearer } from './helpers.ts';

let issuer: TestIssuer;
let authenticator: Authenticator;
before(async () => {
  issuer = await createTestIssuer({ scopes: ['me', 'items', 'accounts:read'] });
  authenticator = createAuthenticator(issuer.authenticatorOptions({ credentials: { apiKey: true }, defaultSources: ['bearer'] }));
});
after(() => issuer.close());

const SCOPES = { me: 'Read your profile', items: 'Read your items', 'accounts:read': 'Read any account', admin: 'Administer' };

/** The items API of the scenarios. */
async function itemsApi(options: { docs?: boolean } = {}): Promise<FastifyInstance> {
  const app = Fastify();
  await app.register(gatehouse, { authenticator, scopes: SCOPES });
  if (options.docs === true) {
    await app.register(gatehouseDocs, {
      publicUrl: 'https://api.example.test/v1',
      clientId: 'docs',
      flows: ['authorizationCode', 'password'],
      openapi: { info: { title: 'Items API', version: '1.0.0' } },
    });
  }
  app.get('/', async () => ({ hello: 'world' }));
  app.get('/users/me', { auth: { kinds: ['user'] } }, async (request) => ({ subject: request.auth?.subject, kind: request.auth?.kind }));
  app.get('/users/me/items/', { auth: { scopes: ['items'] } }, async (request) => ({ owner: request.auth?.subject, items: [] }));
  app.get('/accounts/:username', { auth: { scopes: ['accounts:read'], sources: ['bearer', 'apiKey'] } }, async (request) => ({ by: request.auth?.kind }));
  app.get('/feed', { auth: { optional: true } }, async (request) => ({ personalised: request.auth !== undefined }));
  app.post('/items', { auth: { anyScopes: ['items', 'admin'] } }, async () => ({ created: true }));
  // Routes that document some refusals themselves, and one that sends its own 403.
  const ownError = { type: 'object', properties: { message: { type: 'string' } }, description: 'Our own' };
  app.get('/own-401', { auth: { scopes: ['me'] }, schema: { response: { 200: { type: 'object' }, 401: ownError } } }, async () => ({}));
  app.get('/own-4xx', { auth: { scopes: ['me'] }, schema: { response: { '4XX': ownError } } }, async () => ({}));
  app.get('/objects/:id', { auth: {} }, async (_request, reply) => reply.code(403).send({ error: 'forbidden', message: 'Not yours', field: 'id' }));
  await app.ready();
  return app;
}

describe('routes', () => {
  test('a route declares its requirement in its options and reads request.auth', async () => {
    const app = await itemsApi();
    try {
      assert.equal((await app.inject({ url: '/' })).statusCode, 200, 'routes without auth are untouched');
      assertMissingCredentials(await app.inject({ url: '/users/me/items/' }));
      const token = await issuer.mintAccessToken({ sub: 'johndoe', scopes: ['me', 'items'] });
      const ok = await app.inject({ url: '/users/me/items/', headers: bearer(token) });
      assert.equal(ok.statusCode, 200);
      assert.deepEqual(ok.json(), { owner: 'johndoe', items: [] });
      assertInsufficientScope(await app.inject({ url: '/users/me/items/', headers: bearer(await issuer.mintAccessToken({ scopes: ['me'] })) }), {
        scopes: ['items'],
      });
      assert.deepEqual((await app.inject({ url: '/users/me', headers: bearer(token) })).json(), { subject: 'johndoe', kind: 'user' });
      assertInsufficientScope(await app.inject({ url: '/users/me', headers: bearer(await issuer.mintClientToken()) }));
    } finally {
      await app.close();
    }
  });

  test('API key OR bearer where the route says so; optional authentication', async () => {
    const app = await itemsApi();
    try {
      const key = issuer.createApiKey({ scopes: ['accounts:read'] });
      assert.deepEqual((await app.inject({ url: '/accounts/alice', headers: { 'x-api-key': key } })).json(), { by: 'api_key' });
      assertMissingCredentials(await app.inject({ url: '/users/me/items/', headers: { 'x-api-key': key } }));
      const missing = await app.inject({ url: '/accounts/alice' });
      assert.equal(missing.headers['www-authenticate'], `Bearer realm="${issuer.audience}", ApiKey realm="${issuer.audience}", header="X-API-Key"`);
      assert.deepEqual((await app.inject({ url: '/feed' })).json(), { personalised: false });
      assert.deepEqual((await app.inject({ url: '/feed', headers: bearer(await issuer.mintAccessToken()) })).json(), { personalised: true });
      assert.equal((await app.inject({ url: '/feed', headers: bearer('bad.token.here') })).statusCode, 401);
    } finally {
      await app.close();
    }
  });

  test('HEAD routes Fastify adds for GET are protected too', async () => {
    const app = await itemsApi();
    try {
      assert.equal((await app.inject({ method: 'HEAD', url: '/users/me/items/' })).statusCode, 401);
      const token = await issuer.mintAccessToken({ scopes: ['items'] });
      assert.equal((await app.inject({ method: 'HEAD', url: '/users/me/items/', headers: bearer(token) })).statusCode, 200);
    } finally {
      await app.close();
    }
  });

  test('authentication runs before the body is parsed and before other route hooks', async () => {
    const app = Fastify();
    await app.register(gatehouse, { authenticator });
    let parsed = 0;
    let hookRan = 0;
    app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
      parsed += 1;
      done(null, JSON.parse(body as string));
    });
    app.post('/items', { auth: {}, onRequest: async () => void (hookRan += 1) }, async () => ({ ok: true }));
    try {
      const response = await app.inject({ method: 'POST', url: '/items', payload: { a: 1 } });
      assert.equal(response.statusCode, 401);
      assert.equal(parsed, 0);
      assert.equal(hookRan, 0);
    } finally {
      await app.close();
    }
  });

  test('misuse fails at boot, naming the route and the setting', async () => {
    const cases: [object, RegExp][] = [
      [{ scopes: ['itms'] }, /GET \/x: auth: scope 'itms' is not one of the API's scopes/],
      [{ scopes: ['two words'] }, /GET \/x: auth\.scopes\[0\]/],
      [{ sources: ['query'] }, /GET \/x: auth\.sources: 'query' is not enabled/],
      [{ kinds: ['admin'] }, /GET \/x: auth\.kinds\[0\]/],
      [{ optional: 'yes' }, /GET \/x: auth\.optional/],
    ];
    for (const [auth, message] of cases) {
      const app = Fastify();
      await app.register(gatehouse, { authenticator, scopes: SCOPES });
      assert.throws(() => app.get('/x', { auth: auth as never }, async () => ({})), message);
      await app.close();
    }
    await assert.rejects(async () => {
      const app = Fastify();
      await app.register(gatehouse, {} as never);
    }, /authenticator option is required/);
  });
});

describe('OpenAPI and Swagger UI', () => {
  test('the document says what each route enforces, with the real OAuth endpoints', async () => {
    const app = await itemsApi({ docs: true });
    try {
      const document = (await app.inject({ url: '/docs/json' })).json();
      const schemes = document.components.securitySchemes;
      assert.deepEqual(schemes.gatehouse.flows.authorizationCode, {
        authorizationUrl: `${issuer.issuer}/authorize`,
        tokenUrl: `${issuer.issuer}/token`,
        scopes: SCOPES,
      });
      // One scheme per flow, the authorization code first: Swagger UI keeps one "Authorized" per scheme.
      assert.deepEqual(Object.keys(schemes.gatehouse.flows), ['authorizationCode']);
      assert.deepEqual(schemes.gatehousePassword.flows, { password: { tokenUrl: `${issuer.issuer}/token`, scopes: SCOPES } });
      assert.deepEqual(Object.keys(schemes).slice(0, 2), ['gatehouse', 'gatehousePassword']);
      assert.deepEqual(schemes.apiKeyHeader, { type: 'apiKey', in: 'header', name: 'X-API-Key' });

      const security = (path: string, method = 'get') => document.paths[path][method].security;
      assert.equal(document.paths['/'].get.security, undefined);
      assert.deepEqual(security('/users/me/items/'), [{ gatehouse: ['items'] }, { gatehousePassword: ['items'] }], 'a token from either flow');
      assert.deepEqual(
        security('/accounts/{username}'),
        [{ gatehouse: ['accounts:read'] }, { gatehousePassword: ['accounts:read'] }, { apiKeyHeader: [] }],
        'API key OR bearer',
      );
      assert.deepEqual(security('/feed'), [{ gatehouse: [] }, { gatehousePassword: [] }, {}], 'optional: anonymous allowed');
      assert.deepEqual(
        security('/items', 'post'),
        [{ gatehouse: ['items'] }, { gatehousePassword: ['items'] }, { gatehouse: ['admin'] }, { gatehousePassword: ['admin'] }],
        'any-of: one alternative per scope',
      );
      assert.equal(issuer.requests.discovery >= 1, true, 'discovery was read to build the docs');
    } finally {
      await app.close();
    }
  });

  test('each protected route documents how the SDK refuses, with one shared RFC 6750 error schema', async () => {
    const app = await itemsApi({ docs: true });
    try {
      const document = (await app.inject({ url: '/docs/json' })).json();
      const responses = (path: string, method = 'get') => document.paths[path][method].responses as Record<string, any>;
      const ref = { $ref: `#/components/schemas/${AUTH_ERROR_SCHEMA_ID}` };
      assert.deepEqual(document.components.schemas[AUTH_ERROR_SCHEMA_ID].properties, authErrorSchema().properties);

      assert.deepEqual(Object.keys(responses('/')), ['200'], 'an unprotected route is untouched');
      const items = responses('/users/me/items/');
      assert.deepEqual(Object.keys(items).sort(), ['200', '401', '403', '429', '503']);
      assert.equal(items['200'].description, 'Default Response', 'the default success response stays');
      for (const status of ['401', '403', '429', '503']) assert.deepEqual(items[status].content['application/json'].schema, ref, status);
      // Swagger UI shows what the SDK answers, not `{"error": "string"}`; a 403 names the route's scopes.
      const example = (status: string) => items[status].content['application/json'].example;
      assert.deepEqual(example('401'), authErrorExample(401));
      assert.deepEqual(example('403'), { error: 'insufficient_scope', error_description: 'The credential lacks a scope this route requires', scope: 'items' });
      assert.equal(example('429').error, 'too_many_requests');
      assert.equal(example('503').error, 'temporarily_unavailable');
      assert.ok(items['401'].headers['WWW-Authenticate'] && items['403'].headers['WWW-Authenticate']);
      assert.deepEqual(items['429'].headers['Retry-After'].schema, { type: 'integer' });
      assert.deepEqual(Object.keys(responses('/feed')).sort(), ['200', '401', '429', '503'], 'no scope, no 403');
      assert.ok(responses('/users/me')['403'], 'a kind restriction is a 403 too');
      assert.ok(responses('/items', 'post')['403'], 'any-of scopes');

      // What a route documents itself stays its own.
      const own401 = responses('/own-401');
      assert.equal(own401['401'].description, 'Our own');
      assert.deepEqual(Object.keys(own401).sort(), ['200', '401', '403', '429', '503']);
      assert.deepEqual(Object.keys(responses('/own-4xx')).sort(), ['4XX', '503'], '4XX covers 401, 403 and 429');

      // Without introspection nothing is throttled; with static keys the issuer is never needed.
      const offline = createAuthenticator({ issuer: issuer.issuer, audience: issuer.audience, algorithms: ['ES256'], jwks: issuer.jwks() });
      assert.deepEqual(Object.keys(errorResponses(offline.description, offline.requirement({ scopes: ['me'] }))).sort(), ['401', '403']);
    } finally {
      await app.close();
    }
  });

  test('the error schema is only documentation: a route\'s own error body keeps every member', async () => {
    const app = await itemsApi();
    try {
      const response = await app.inject({ url: '/objects/1', headers: bearer(await issuer.mintAccessToken()) });
      assert.equal(response.statusCode, 403);
      assert.deepEqual(response.json(), { error: 'forbidden', message: 'Not yours', field: 'id' });
    } finally {
      await app.close();
    }
  });

  test('Swagger UI logs in with authorization code + PKCE as a public client, redirecting to the public URL', async () => {
    const app = await itemsApi({ docs: true });
    try {
      const initializer = (await app.inject({ url: '/docs/static/swagger-initializer.js' })).body;
      const redirect = 'https://api.example.test/v1/docs/static/oauth2-redirect.html';
      assert.equal(docsRedirectUrl('https://api.example.test/v1/'), redirect);
      assert.ok(initializer.includes(`oauth2RedirectUrl: ${JSON.stringify(redirect)}`), 'redirect URL from the configured public URL');
      assert.ok(!initializer.includes("resolveUrl('./static/oauth2-redirect.html')"), 'not computed from the browser location');
      const initOAuth = JSON.parse(/ui\.initOAuth\((\{.*?\})\)/.exec(initializer)![1]!);
      assert.equal(initOAuth.clientId, 'docs');
      assert.equal(initOAuth.usePkceWithAuthorizationCodeGrant, true);
      // RFC 8707: the authorization request names this API, whatever the server's default API is.
      assert.deepEqual(initOAuth.additionalQueryStringParams, { resource: 'https://api.example.test' });
      assert.doesNotMatch(initializer, /clientSecret|client_secret/);
      // The redirect page is really served where the URL points (behind the proxy's /v1 prefix).
      assert.equal((await app.inject({ url: '/docs/static/oauth2-redirect.html' })).statusCode, 200);
      assert.equal((await app.inject({ url: '/docs' })).statusCode, 200);
    } finally {
      await app.close();
    }
  });

  test('docs misuse fails at boot; an unreachable issuer fails the boot instead of serving wrong docs', async () => {
    const bad: [object, RegExp][] = [
      [{ publicUrl: 'api.example.test', clientId: 'docs' }, /publicUrl/],
      [{ publicUrl: 'https://api.example.test', clientId: '' }, /clientId/],
      [{ publicUrl: 'https://api.example.test', clientId: 'docs', ui: { initOAuth: { clientSecret: 's' } } }, /never put a client secret/],
    ];
    for (const [options, message] of bad) {
      const app = Fastify();
      await app.register(gatehouse, { authenticator });
      await assert.rejects(async () => app.register(gatehouseDocs, options as never), message);
      await app.close();
    }
    const down = await createTestIssuer();
    down.fail('discovery', 'unavailable');
    const app = Fastify();
    try {
      await app.register(gatehouse, { authenticator: createAuthenticator(down.authenticatorOptions()) });
      await assert.rejects(async () => app.register(gatehouseDocs, { publicUrl: 'https://api.example.test', clientId: 'docs' }), /discovery/);
    } finally {
      await app.close().catch(() => undefined);
      await down.close();
    }
  });
});
