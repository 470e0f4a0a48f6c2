// SECURITY.md: "Malformed or oversized tokens (wrong segment count, JWE, bad base64 or UTF-8,
// non-object payload, 1 MB token) get 401 invalid_token quickly, never a 500."
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import Fastify from 'fastify';
import { createAuthenticator, type Authenticator } from '@gatehouse/sdk';
import { gatehouse } from '@gatehouse/sdk/fastify';
import { createTestIssuer, encodeSegment, type TestIssuer } from '@gatehouse/sdk/testing';
import { bearer, countingFetch, request, type CountingFetch } from './helpers.ts';

let issuer: TestIssuer;
let authenticator: Authenticator;
let counter: CountingFetch;
before(async () => {
  issuer = await createTestIssuer();
  counter = countingFetch();
  // Remote keys: a malformed token must be refused before any key lookup or network call.
  authenticator = createAuthenticator({ issuer: issuer.issuer, audience: issuer.audience, algorithms: ['ES256'], fetch: counter.fetch });
});
after(() => issuer.close());

const b64 = (bytes: number[] | string): string => Buffer.from(typeof bytes === 'string' ? bytes : Uint8Array.from(bytes)).toString('base64url');

async function malformedTokens(): Promise<Record<string, string>> {
  const valid = await issuer.mintAccessToken();
  const [header, payload, signature] = valid.split('.') as [string, string, string];
  return {
    'one segment': 'abc',
    'two segments': `${header}.${payload}`,
    'four segments': `${header}.${payload}.${signature}.x`,
    'five segments (JWE)': `${encodeSegment({ alg: 'RSA-OAEP', enc: 'A256GCM' })}.a.b.c.d`,
    'six segments': `${header}.${payload}.${signature}.a.b.c`,
    'empty segments': '..',
    'only dots': '.....',
    'standard base64 alphabet in header': `${header.slice(0, -2)}+/.${payload}.${signature}`,
    'base64 padding': `${header}=.${payload}.${signature}`,
    'impossible base64 length (4n+1)': `AAAAA.${payload}.${signature}`,
    'not base64 at all': `${header}.~~~~.${signature}`,
    'invalid UTF-8 in header': `${b64([0xff, 0xfe, 0xfd])}.${payload}.${signature}`,
    'overlong UTF-8 in payload': `${header}.${b64([0x7b, 0xc0, 0xaf, 0x7d])}.${signature}`,
    'header not JSON': `${b64('{"alg":"ES256"')}.${payload}.${signature}`,
    'payload not JSON': `${header}.${b64('not json')}.${signature}`,
    'payload is an array': `${header}.${b64('[1,2,3]')}.${signature}`,
    'payload is a string': `${header}.${b64('"sub"')}.${signature}`,
    'payload is null': `${header}.${b64('null')}.${signature}`,
    'payload is a number': `${header}.${b64('12')}.${signature}`,
    'header is an array': `${b64('["ES256"]')}.${payload}.${signature}`,
    'header without alg': `${encodeSegment({ typ: 'at+jwt' })}.${payload}.${signature}`,
    'alg is not a string': `${encodeSegment({ alg: ['ES256'], typ: 'at+jwt' })}.${payload}.${signature}`,
    'prototype pollution payload': `${header}.${b64('{"__proto__":{"admin":true},"constructor":{"prototype":{"admin":true}}}')}.${signature}`,
    'characters outside b64token': `${header}.${payload}.${signature}!`,
    // b64token allows trailing "=", and atob() would strip it and verify the very same signature.
    'padded signature (same bytes)': `${header}.${payload}.${signature}==`,
    'embedded space': `${header}. ${payload}.${signature}`,
    '1 MB token': `${'a'.repeat(512 * 1024)}.${'b'.repeat(512 * 1024)}.c`,
    '9 KB token just over the cap': `${header}.${'A'.repeat(9000)}.${signature}`,
  };
}

/** Well-formed JWS whose signature is malformed: refused after the key lookup. */
async function malformedSignatures(): Promise<Record<string, string>> {
  const [header, payload, signature] = (await issuer.mintAccessToken()).split('.') as [string, string, string];
  return {
    'signature too short': `${header}.${payload}.${signature.slice(0, 20)}`,
    'signature too long': `${header}.${payload}.${signature}AAAA`,
    'signature empty': `${header}.${payload}.`,
    'DER-encoded ECDSA signature': `${header}.${payload}.${b64([0x30, 0x44, 0x02, 0x20, ...new Array(32).fill(1), 0x02, 0x20, ...new Array(32).fill(2)])}`,
  };
}

test('every malformed or oversized token is a 401 invalid_token, refused before any network call', async () => {
  for (const [name, token] of Object.entries(await malformedTokens())) {
    const outcome = await authenticator.authenticate(request(bearer(token)));
    assert.equal(outcome.ok, false, name);
    if (outcome.ok) continue;
    assert.equal(outcome.error.code, 'invalid_token', `${name}: ${outcome.error.description}`);
    assert.equal(outcome.response.status, 401, name);
    // The response never echoes the token (nor a 1 MB body).
    assert.ok(outcome.response.body.length < 200, name);
    assert.ok(!(outcome.response.headers['www-authenticate'] ?? '').includes(token.slice(0, 20)), name);
  }
  const jwe = await authenticator.authenticate(request(bearer(`${encodeSegment({ alg: 'dir', enc: 'A256GCM' })}.a.b.c.d`)));
  assert.equal(jwe.ok ? 'ok' : jwe.error.description, 'Encrypted tokens (JWE) are not accepted');
  assert.equal(counter.count(), 0, 'no JWKS or discovery request for a malformed token');
  assert.equal(({} as Record<string, unknown>).admin, undefined, 'no prototype pollution');
  for (const [name, token] of Object.entries(await malformedSignatures())) {
    const outcome = await authenticator.authenticate(request(bearer(token)));
    assert.equal(outcome.ok ? 'ok' : outcome.error.description, 'The access token signature is invalid', name);
  }
});

test('the size cap applies before parsing, to every source, and is documented as 8192 characters', async () => {
  const counter = countingFetch();
  const withKeys = createAuthenticator({
    ...issuer.authenticatorOptions(),
    credentials: { apiKey: true, cookie: 'token', query: true },
    fetch: counter.fetch,
  });
  const huge = 'a'.repeat(1024 * 1024);
  for (const headers of [{ 'x-api-key': huge }, { cookie: `token=${huge}` }, bearer(huge)]) {
    const outcome = await withKeys.authenticate(request(headers));
    assert.equal(outcome.ok, false);
    if (!outcome.ok) assert.equal(outcome.error.code, 'invalid_token');
  }
  const viaQuery = await withKeys.authenticate(request({}, { url: `https://api.example.test/items?access_token=${huge}` }));
  assert.equal(viaQuery.ok ? 'ok' : viaQuery.error.code, 'invalid_token');
  assert.equal(counter.count(), 0, 'an oversized API key never reaches introspection');
});

test('over HTTP, no malformed token ever produces a 500', async () => {
  const app = Fastify();
  await app.register(gatehouse, { authenticator });
  app.get('/items', { auth: {} }, async () => ({ ok: true }));
  try {
    const tokens = { ...(await malformedTokens()), ...(await malformedSignatures()) };
    for (const [name, token] of Object.entries(tokens)) {
      const response = await app.inject({ method: 'GET', url: '/items', headers: bearer(token) });
      assert.equal(response.statusCode, 401, `${name}: ${response.body}`);
      assert.equal(response.json().error, 'invalid_token', name);
    }
  } finally {
    await app.close();
  }
});

test('an unexpected failure inside verification is a 401 reported to onError, never a thrown error', async () => {
  const errors: Error[] = [];
  // A clock that answers NaN makes jose throw a TypeError (currentDate) after the signature check.
  const broken = createAuthenticator({
    ...issuer.authenticatorOptions({ jwks: issuer.jwks(), introspection: undefined }),
    now: () => Number.NaN,
    tokenCacheSize: 0,
    onError: (error) => errors.push(error),
  });
  const outcome = await broken.authenticate(request(bearer(await issuer.mintAccessToken())));
  assert.equal(outcome.ok ? 'ok' : `${outcome.response.status} ${outcome.error.code}`, '401 invalid_token');
  assert.equal(errors.length, 1);
  assert.ok(errors[0] instanceof TypeError, String(errors[0]));
  await assert.rejects(broken.verify(await issuer.mintAccessToken()), (error: unknown) => (error as { code?: string }).code === 'invalid_token');
});
