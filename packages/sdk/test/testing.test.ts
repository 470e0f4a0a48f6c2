// @gatehouse/sdk/testing: the local issuer and the framework-agnostic assertions, which must fail
// on wrong answers (an assertion that cannot fail proves nothing).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  assertInsufficientScope,
  assertInvalidRequest,
  assertInvalidToken,
  assertMissingCredentials,
  assertUnavailable,
  createTestIssuer,
  parseChallenges,
  snapshot,
  type ResponseLike,
  type TestIssuer,
} from '@gatehouse/sdk/testing';

let issuer: TestIssuer;
before(async () => {
  issuer = await createTestIssuer();
});
after(() => issuer.close());

const json = 'application/json; charset=utf-8';
const answer = (status: number, challenge: string | undefined, body: object): ResponseLike => ({
  statusCode: status,
  headers: challenge === undefined ? { 'content-type': json } : { 'content-type': json, 'www-authenticate': challenge },
  payload: JSON.stringify(body),
});

describe('parseChallenges', () => {
  test('parses several challenges with quoted and token values', () => {
    assert.deepEqual(parseChallenges('Bearer realm="api", error="invalid_token", error_description="a, b \\"c\\"", ApiKey realm="api", header="X-API-Key"'), [
      { scheme: 'Bearer', params: { realm: 'api', error: 'invalid_token', error_description: 'a, b "c"' } },
      { scheme: 'ApiKey', params: { realm: 'api', header: 'X-API-Key' } },
    ]);
    assert.deepEqual(parseChallenges('Basic realm=simple, Bearer'), [
      { scheme: 'Basic', params: { realm: 'simple' } },
      { scheme: 'Bearer', params: {} },
    ]);
    assert.throws(() => parseChallenges('Bearer realm="unterminated'), SyntaxError);
  });
});

describe('assertions', () => {
  test('they pass on correct answers, from inject-like, supertest-like and fetch responses', async () => {
    assertMissingCredentials(answer(401, 'Bearer realm="api"', { error_description: 'x' }), { realm: 'api' });
    assertInvalidToken(answer(401, 'Bearer realm="api", error="invalid_token"', { error: 'invalid_token' }));
    assertInvalidRequest({ status: 400, headers: { 'www-authenticate': ['Bearer realm="api", error="invalid_request"'] }, body: { error: 'invalid_request' } });
    assertInsufficientScope(
      { status: 403, headers: { 'www-authenticate': 'Bearer realm="api", error="insufficient_scope", scope="b a"' }, text: '{"error":"insufficient_scope"}' },
      { scopes: ['a', 'b'] },
    );
    assertInvalidToken(answer(401, 'Bearer realm="api", ApiKey realm="api", header="X-API-Key", error="invalid_token"', { error: 'invalid_token' }), {
      scheme: 'ApiKey',
    });
    assertUnavailable(answer(503, undefined, { error: 'temporarily_unavailable' }));
    const fetched = await snapshot(
      new Response('{"error":"invalid_token"}', { status: 401, headers: { 'www-authenticate': 'Bearer realm="api", error="invalid_token"' } }),
    );
    assertInvalidToken(fetched);
  });

  test('they fail on wrong answers', () => {
    const wrong: [() => void, string][] = [
      [() => assertMissingCredentials(answer(401, 'Bearer realm="api", error="invalid_token"', {})), 'error code on a no-credential answer'],
      [() => assertMissingCredentials(answer(401, 'Bearer', {})), 'no realm'],
      [() => assertMissingCredentials(answer(401, undefined, {})), 'no challenge'],
      [() => assertMissingCredentials(answer(200, 'Bearer realm="api"', {})), 'wrong status'],
      [() => assertMissingCredentials(answer(401, 'Bearer realm="x"', {}), { realm: 'api' }), 'wrong realm'],
      [() => assertInvalidToken(answer(403, 'Bearer realm="api", error="invalid_token"', { error: 'invalid_token' })), '403 is not 401'],
      [() => assertInvalidToken(answer(401, 'Bearer realm="api", error="invalid_request"', { error: 'invalid_token' })), 'wrong challenge error'],
      [() => assertInvalidToken(answer(401, 'Bearer realm="api", error="invalid_token"', { error: 'x' })), 'wrong body error'],
      [() => assertInsufficientScope(answer(403, 'Bearer realm="api", error="insufficient_scope", scope="a"', { error: 'insufficient_scope' }), { scopes: ['a', 'b'] }), 'scopes'],
      [() => assertInsufficientScope(answer(401, 'Bearer realm="api", error="insufficient_scope"', { error: 'insufficient_scope' })), 'insufficient scope is 403'],
      [() => assertUnavailable(answer(401, undefined, { error: 'temporarily_unavailable' })), 'not 503'],
    ];
    for (const [run, name] of wrong) assert.throws(run, assert.AssertionError, name);
  });
});

describe('the test issuer', () => {
  test('serves discovery and a JWKS with public keys only', async () => {
    const metadata = await (await fetch(`${issuer.issuer}/.well-known/openid-configuration`)).json();
    assert.equal(metadata.issuer, issuer.issuer);
    assert.equal(metadata.jwks_uri, `${issuer.issuer}/jwks`);
    const jwks = await (await fetch(metadata.jwks_uri)).json();
    assert.equal(jwks.keys.length, 1);
    assert.equal(jwks.keys[0].d, undefined, 'no private key material');
    assert.equal(jwks.keys[0].alg, 'ES256');
  });

  test('introspection requires client authentication and answers exactly {"active": false} when inactive', async () => {
    const endpoint = `${issuer.issuer}/introspect`;
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    const key = issuer.createApiKey({ sub: 'owner', scopes: ['items'] });
    assert.equal((await fetch(endpoint, { method: 'POST', headers: form, body: `token=${key}` })).status, 401);
    const { clientId, clientSecret } = issuer.introspectionClient;
    const basic = `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`;
    const wrong = `Basic ${Buffer.from(`${clientId}:nope`).toString('base64')}`;
    assert.equal((await fetch(endpoint, { method: 'POST', headers: { ...form, authorization: wrong }, body: `token=${key}` })).status, 401);
    const active = await (await fetch(endpoint, { method: 'POST', headers: { ...form, authorization: basic }, body: `token=${key}` })).json();
    assert.equal(active.active, true);
    assert.equal(active.token_type, 'api_key');
    assert.equal(active.aud, issuer.audience);
    issuer.revoke(key);
    const inactive = await (await fetch(endpoint, { method: 'POST', headers: { ...form, authorization: basic }, body: `token=${key}` })).json();
    assert.deepEqual(inactive, { active: false });
  });

  test('mints RFC 9068 access tokens and rotates keys', async () => {
    const token = await issuer.mintAccessToken({ sub: 'johndoe', scopes: ['me'], claims: { tenant: 't' } });
    const [header, payload] = token.split('.').slice(0, 2).map((part) => JSON.parse(Buffer.from(part, 'base64url').toString())) as [
      Record<string, unknown>,
      Record<string, unknown>,
    ];
    assert.equal(header.typ, 'at+jwt');
    assert.equal(header.kid, issuer.jwks().keys[0]?.kid);
    assert.equal(payload.sub, 'johndoe');
    assert.equal(payload.scope, 'me');
    assert.equal(payload.aud, issuer.audience);
    assert.equal(payload.tenant, 't');
    const kid = await issuer.rotateKeys();
    assert.deepEqual(issuer.jwks().keys.map((key) => key.kid)[0], kid);
    assert.equal(issuer.jwks().keys.length, 2);
  });
});
