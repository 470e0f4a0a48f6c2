// The admin API's OpenAPI document: valid OpenAPI 3.0 (checked against the official JSON Schema
// with Ajv), only the admin routes, every operation documenting the scope it requires, and no
// response schema with room for a secret. Swagger UI serves it at /admin/docs.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { Ajv, type AnySchemaObject } from 'ajv';
import { assertRealisticExamples } from '@gatehouse/test-support/openapi-examples';
import { ADMIN_SCOPES } from '../src/admin/scopes.ts';
import { startAdmin } from './admin-support.ts';

// ajv-formats is CommonJS (module.exports = plugin).
const addFormats = createRequire(import.meta.url)('ajv-formats') as (ajv: Ajv) => Ajv;

/**
 * The official OpenAPI 3.0 schema (fixtures/README.md says where it comes from). It is written in
 * JSON Schema draft-04, which Ajv 8 does not speak; the only draft-04 constructs in it are `id`
 * and the boolean form of `exclusiveMinimum`, converted here to their draft-07 forms.
 */
function openApi30Schema(): AnySchemaObject {
  const schema = JSON.parse(readFileSync(new URL('./fixtures/openapi-3.0-schema.json', import.meta.url), 'utf8')) as Record<string, unknown>;
  const { id, $schema: _draft04, ...rest } = schema;
  const convert = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(convert);
    if (typeof node !== 'object' || node === null) return node;
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(node)) out[key] = convert(value);
    if (out.exclusiveMinimum === true && typeof out.minimum === 'number') {
      out.exclusiveMinimum = out.minimum;
      delete out.minimum;
    }
    return out;
  };
  return { $id: id as string, ...(convert(rest) as Record<string, unknown>) };
}

const METHODS = ['get', 'put', 'post', 'delete', 'patch'] as const;

test('the admin OpenAPI document validates against the OpenAPI 3.0 schema and documents only the admin API', async (t) => {
  const server = await startAdmin(t);
  const response = await fetch(`${server.issuer}/admin/api/openapi.json`);
  assert.equal(response.status, 200, 'public: Swagger UI loads it before anyone logs in');
  const doc = (await response.json()) as any;

  const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: true });
  addFormats(ajv);
  const validate = ajv.compile(openApi30Schema());
  assert.ok(validate(doc), JSON.stringify(validate.errors?.slice(0, 5), null, 2));
  assert.match(doc.openapi, /^3\.0\.\d$/);
  // The validator is live: what OpenAPI 3.0 forbids is caught (`type: "null"` is 3.1 only).
  const broken = structuredClone(doc);
  broken.paths['/admin/api/me'].get.responses['200'].content['application/json'].schema.properties.client_id = { type: 'null' };
  assert.equal(validate(broken), false);

  // Only admin routes: an encapsulated @fastify/swagger sees nothing of the protocol or the pages.
  const paths = Object.keys(doc.paths);
  assert.ok(paths.length >= 15);
  for (const path of paths) assert.match(path, /^\/admin\/api\//);
  assert.ok(!paths.includes('/admin/api/openapi.json'));

  const operationIds = new Set<string>();
  for (const [path, item] of Object.entries<any>(doc.paths)) {
    for (const method of METHODS) {
      const operation = item[method];
      if (!operation) continue;
      const label = `${method.toUpperCase()} ${path}`;
      assert.ok(operation.operationId && !operationIds.has(operation.operationId), `${label}: a unique operationId`);
      operationIds.add(operation.operationId);
      assert.ok(operation.summary, `${label}: a summary`);
      assert.ok(operation.tags?.length, `${label}: a tag`);
      // What the SDK enforces is what the document says: a bearer token or an API key, and the scope.
      assert.deepEqual(
        operation.security.map((s: Record<string, string[]>) => Object.keys(s)[0]).sort(),
        ['apiKeyHeader', 'gatehouse'],
        `${label}: security`,
      );
      const scopes = operation.security.find((s: any) => s.gatehouse).gatehouse as string[];
      for (const scope of scopes) assert.ok(scope in ADMIN_SCOPES, `${label}: ${scope} is an admin scope`);
      if (operation.operationId !== 'whoAmI') assert.equal(scopes.length, 1, `${label}: one scope, read or write`);
      for (const status of ['401', '403']) assert.ok(operation.responses[status], `${label}: documents ${status}`);
      // Added by the SDK: too many bad API keys from one address, Gatehouse's introspection failing.
      for (const status of ['429', '503']) {
        assert.deepEqual(operation.responses[status]?.content['application/json'].schema, { $ref: '#/components/schemas/GatehouseAuthError' }, `${label}: ${status}`);
      }
      assert.ok(operation.responses['429'].headers['Retry-After'], `${label}: 429 says when to retry`);
      if (path.includes('{id}')) assert.ok(operation.responses['404'], `${label}: documents 404`);
      if (operation.requestBody) assert.ok(operation.responses['400'], `${label}: documents 400`);
    }
  }
  assert.deepEqual(Object.keys(doc.components.securitySchemes).sort(), ['apiKeyHeader', 'gatehouse']);
  assert.deepEqual(doc.components.securitySchemes.apiKeyHeader, { type: 'apiKey', in: 'header', name: 'X-API-Key' });
  assert.deepEqual(Object.keys(doc.components.schemas.GatehouseAuthError.properties).sort(), ['error', 'error_description', 'scope']);

  // No response schema has a place for a secret, so none can be serialized (STYLE 14).
  const names = new Set<string>();
  const collect = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(collect);
    else if (typeof node === 'object' && node !== null) {
      const properties = (node as { properties?: Record<string, unknown> }).properties;
      if (properties) for (const name of Object.keys(properties)) names.add(name);
      Object.values(node).forEach(collect);
    }
  };
  for (const item of Object.values<any>(doc.paths)) for (const method of METHODS) if (item[method]) collect(item[method].responses);
  for (const forbidden of ['password', 'password_hash', 'secret_hash', 'private_jwk', 'd', 'p', 'q']) assert.ok(!names.has(forbidden), `no "${forbidden}" in a response`);
  // Only where a secret is shown once, on purpose.
  assert.ok(names.has('client_secret') && names.has('key'));
});

// Issue 13: Swagger UI shows what the API really answers, not `{"id": "string", …}`.
test('every admin response body has a realistic example that fits its schema', async (t) => {
  const server = await startAdmin(t);
  const doc = (await (await fetch(`${server.issuer}/admin/api/openapi.json`)).json()) as any;
  const examples = assertRealisticExamples(doc);
  const example = (label: string) => examples.find((found) => found.label === label)?.example as any;

  assert.equal(example('GET /admin/api/users 200').items[0].username, 'johndoe', 'a page of users');
  assert.equal(example('GET /admin/api/users/{id} 200').email, 'johndoe@example.com');
  assert.equal(example('POST /admin/api/clients 201').client.client_id, 'items-web');
  assert.equal(example('GET /admin/api/me 200').kind, 'user');
  // The RFC 6750 bodies: the admin API's own 401/403, and the SDK's 429/503.
  assert.equal(example('GET /admin/api/users 401').error, 'invalid_token');
  assert.equal(example('GET /admin/api/users 403').error, 'insufficient_scope');
  assert.equal(example('GET /admin/api/users 429').error, 'too_many_requests');
  assert.equal(example('GET /admin/api/users 503').error, 'temporarily_unavailable');
  assert.equal(example('GET /admin/api/users/{id} 404').error, 'not_found');
});

test('Swagger UI is served at /admin/docs, framed by nobody, and reads the admin document', async (t) => {
  const server = await startAdmin(t);
  const page = await fetch(`${server.issuer}/admin/docs/static/index.html`);
  assert.equal(page.status, 200);
  const html = await page.text();
  assert.match(html, /swagger/i);
  assert.match(html, /<title>Gatehouse admin API<\/title>/, 'the API\'s own title, not "Swagger UI"');
  const icon = /<link rel="icon" type="image\/svg\+xml" href="([^"]+)"/.exec(html)?.[1];
  assert.ok(icon, 'the brand icon, not Swagger\'s');
  assert.doesNotMatch(html, /favicon-32x32\.png/);
  const served = await fetch(new URL(icon, page.url));
  assert.equal(served.headers.get('content-type'), 'image/svg+xml');
  assert.match(await served.text(), /fill="#2f5bd3"/);
  assert.match(page.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/);
  assert.doesNotMatch(page.headers.get('content-security-policy') ?? '', /upgrade-insecure-requests/, 'an http public URL stays http');
  const json = (await (await fetch(`${server.issuer}/admin/docs/json`)).json()) as any;
  assert.equal(json.info.title, 'Gatehouse admin API');
  assert.deepEqual(json.servers, [{ url: server.issuer }]);
});
