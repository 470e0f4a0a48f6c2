// Misuse fails at construction with a TypeError naming the option (STYLE.md point 3), and the
// Express adapter's optional next(err) mode.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import express from 'express';
import { AuthError, createAuthenticator, DEFAULTS, type AuthenticatorOptions } from '@gatehouse/sdk';
import { gatehouse } from '@gatehouse/sdk/express';

const base: AuthenticatorOptions = { issuer: 'https://id.example.test', audience: 'https://api.example.test', algorithms: ['ES256'] };

test('required options and bad values throw a TypeError naming the option', () => {
  const cases: [Partial<Record<keyof AuthenticatorOptions, unknown>>, RegExp][] = [
    [{ issuer: undefined }, /^issuer:/],
    [{ issuer: 'id.example.test' }, /^issuer:/],
    [{ issuer: 'http://id.example.test' }, /^issuer: expected an https URL/],
    [{ issuer: 'https://id.example.test/?tenant=1' }, /^issuer: must not have a query/],
    [{ audience: undefined }, /^audience:/],
    [{ audience: '' }, /^audience:/],
    [{ algorithms: undefined }, /^algorithms:/],
    [{ algorithms: ['none'] }, /^algorithms\[0\]: 'none'/],
    [{ algorithms: ['HS256'] }, /^algorithms\[0\]: HS256 is symmetric/],
    [{ jwks: { keys: [{ kty: 'oct', k: 'c2VjcmV0' }] } }, /^jwks\.keys\[0\]: symmetric/],
    [{ jwks: { keys: [{ kty: 'EC', crv: 'P-256', x: 'x', y: 'y', d: 'd' }] } }, /^jwks\.keys\[0\]: contains private key material/],
    [{ jwks: { keys: [] }, jwksUri: 'https://id.example.test/jwks' }, /^jwks, jwksUri/],
    [{ introspection: { clientId: 'api' } }, /^introspection\.clientSecret/],
    [{ introspection: { clientId: 'a', clientSecret: 'b', checkJwts: 'yes' } }, /^introspection\.checkJwts: expected a boolean/],
    [{ introspection: { clientId: 'a', clientSecret: 'b', failureLimit: true } }, /^introspection\.failureLimit: expected false or/],
    [{ introspection: { clientId: 'a', clientSecret: 'b', failureLimit: { max: 0 } } }, /^introspection\.failureLimit\.max: .*false turns the limit off/],
    [{ introspection: { clientId: 'a', clientSecret: 'b', failureLimit: { max: 2.5 } } }, /^introspection\.failureLimit\.max/],
    [{ introspection: { clientId: 'a', clientSecret: 'b', failureLimit: { window: 0 } } }, /^introspection\.failureLimit\.window/],
    [{ introspection: { clientId: 'a', clientSecret: 'b', failureLimit: { addresses: -1 } } }, /^introspection\.failureLimit\.addresses/],
    [{ credentials: { apiKey: true } }, /^credentials\.apiKey: API keys are checked by introspection/],
    [{ credentials: { bearer: false } }, /^credentials: every credential source is disabled/],
    // Exact messages: a bad name must be refused as a name, not later for its missing prefix.
    [{ credentials: { cookie: 'bad name' } }, /^credentials\.cookie: expected a name made of token characters/],
    [{ credentials: { query: 'a b' } }, /^credentials\.query: expected a name made of token characters/],
    [{ credentials: { query: 7 } }, /^credentials\.query: expected a name made of token characters/],
    // One name for both would make a token and an API key indistinguishable.
    [{ credentials: { cookie: '__Host-t', apiKey: { cookie: '__Host-t' } }, introspection: { clientId: 'a', clientSecret: 'b' } }, /^credentials: the token and API key cookies need different names/],
    [{ credentials: { query: 'token', apiKey: { query: 'token' } }, introspection: { clientId: 'a', clientSecret: 'b' } }, /^credentials: the token and API key parameters need different names/],
    // Under an https issuer, a credential cookie any subdomain or http page could set is refused.
    [{ credentials: { cookie: 'access_token' } }, /^credentials\.cookie: under an https issuer a credential cookie must be named __Host-access_token/],
    [{ credentials: { apiKey: { cookie: 'key' } }, introspection: { clientId: 'a', clientSecret: 'b' } }, /^credentials\.apiKey\.cookie: under an https issuer/],
    [{ credentials: { cookie: '__host-token' } }, /^credentials\.cookie: under an https issuer/],
    [{ credentials: { cookie: '__Host-token', unprefixedCookies: 'yes' } }, /^credentials\.unprefixedCookies: expected a boolean/],
    [{ jwks: { keys: [{ kty: 'RSA', kid: 'old', n: 'AQAB'.repeat(10), e: 'AQAB' }] } }, /^jwks\.keys\[0\] \(kid "old"\): an RSA key of \d+ bits is too short/],
    [{ jwks: { keys: [{ kty: 'RSA', e: 'AQAB' }] } }, /^jwks\.keys\[0\]: an RSA key of 0 bits/],
    [{ jwks: { keys: [{ kid: 'k' }] } }, /^jwks\.keys\[0\] \(kid "k"\): expected kty RSA, EC or OKP/],
    [{ credentials: { apiKey: { header: 'Authorization' } }, introspection: { clientId: 'a', clientSecret: 'b' } }, /^credentials\.apiKey\.header: Authorization is reserved/],
    [{ defaultSources: ['query'] }, /^defaultSources\[0\]: 'query' is not an enabled/],
    [{ trustedOrigins: ['https://app.example.test/'] }, /^trustedOrigins\[0\]/],
    [{ trustedOrigins: 'https://app.example.test' }, /^trustedOrigins: expected an array of origins/],
    [{ clockTolerance: 3600 }, /^clockTolerance/],
    [{ timeout: -1 }, /^timeout/],
    [{ tokenCacheSize: 1.5 }, /^tokenCacheSize/],
    [{ realm: 'a"b' }, /^realm/],
    [{ fetch: 'fetch' }, /^fetch/],
  ];
  for (const [overrides, message] of cases) {
    assert.throws(() => createAuthenticator({ ...base, ...overrides } as AuthenticatorOptions), (error: unknown) => {
      assert.ok(error instanceof TypeError, `${JSON.stringify(overrides)} should throw a TypeError`);
      assert.match(error.message, message);
      return true;
    });
  }
});

test('documented defaults; http is accepted for loopback issuers or with allowHttpIssuer', () => {
  assert.equal(DEFAULTS.clockTolerance, 5);
  assert.equal(DEFAULTS.introspectionCacheTtl, 30);
  assert.equal(DEFAULTS.introspectionNegativeCacheTtl, 5);
  assert.equal(DEFAULTS.maxTokenLength, 8192);
  // JWTs are checked locally only unless asked; failed introspections are throttled unless told not to.
  assert.equal(DEFAULTS.introspectionCheckJwts, false);
  assert.deepEqual([DEFAULTS.failureLimitMax, DEFAULTS.failureLimitWindow, DEFAULTS.failureLimitAddresses], [20, 60, 10_000]);
  const introspecting = createAuthenticator({ ...base, introspection: { clientId: 'a', clientSecret: 'b' } }).description;
  assert.deepEqual([introspecting.introspection, introspecting.failureLimit, introspecting.usesIssuer], [true, true, true]);
  assert.doesNotThrow(() => createAuthenticator({ ...base, issuer: 'http://127.0.0.1:3000' }));
  assert.doesNotThrow(() => createAuthenticator({ ...base, issuer: 'http://localhost:3000' }));
  assert.doesNotThrow(() => createAuthenticator({ ...base, issuer: 'http://gatehouse:3000', allowHttpIssuer: true }));
  assert.equal(createAuthenticator(base).description.realm, base.audience, 'realm defaults to the audience');
  // Credential cookies: prefixed names under https; any name with the explicit opt-out or a loopback http issuer.
  for (const cookie of ['__Host-token', '__Secure-token']) assert.doesNotThrow(() => createAuthenticator({ ...base, credentials: { cookie } }));
  assert.doesNotThrow(() => createAuthenticator({ ...base, credentials: { cookie: 'token', unprefixedCookies: true } }));
  assert.doesNotThrow(() => createAuthenticator({ ...base, issuer: 'http://127.0.0.1:3000', credentials: { cookie: 'token' } }));
});

test('Express: errors are sent directly by default, or passed to next(err) with status and headers', async () => {
  const authenticator = createAuthenticator({ ...base, jwks: { keys: [] } });
  assert.throws(() => gatehouse(authenticator).requireAuth({ scopes: ['a b'] }), /requireAuth\.scopes\[0\]/);
  const app = express();
  const { requireAuth } = gatehouse(authenticator, { errors: 'next' });
  let seen: unknown;
  app.get('/items', requireAuth({ scopes: ['items'] }), (_req, res) => void res.json({}));
  app.use((error: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    seen = error;
    const authError = error as AuthError;
    res.status(authError.status).set(authError.headers).json({ custom: authError.code });
  });
  const server = await new Promise<Server>((resolve) => {
    const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
  });
  try {
    const response = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/items`);
    assert.equal(response.status, 401);
    assert.equal(response.headers.get('www-authenticate'), `Bearer realm="${base.audience}"`);
    assert.deepEqual(await response.json(), { custom: 'missing_credentials' });
    assert.ok(seen instanceof AuthError);
    assert.equal(seen.response?.status, 401);
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

test('values at the edges are accepted as given, and the description says what is on', () => {
  const introspection = { clientId: 'a', clientSecret: 'b' };
  // 0 s is a valid timeout and tolerance; functions are accepted where functions are asked for.
  assert.doesNotThrow(() => createAuthenticator({ ...base, timeout: 0, clockTolerance: 0, jwksCooldown: 0, now: () => 0, onError: () => {} }));
  assert.throws(() => createAuthenticator({ ...base, timeout: '5' as never }), /^TypeError: timeout/);
  // The failure limit turned off is off, and says so.
  const unlimited = createAuthenticator({ ...base, introspection: { ...introspection, failureLimit: false } }).description;
  assert.deepEqual([unlimited.introspection, unlimited.failureLimit], [true, false]);
  // Keys given and no introspection: nothing is asked of the issuer.
  assert.equal(createAuthenticator({ ...base, jwks: { keys: [] } }).description.usesIssuer, false);
  assert.equal(createAuthenticator(base).description.usesIssuer, true, 'keys from the issuer');
  // Each credential source is where it was put, and off when turned off.
  const locations = (credentials: AuthenticatorOptions['credentials']) => createAuthenticator({ ...base, introspection, credentials }).description.locations;
  assert.equal(locations({ query: false }).query, undefined);
  assert.equal(locations({ query: true }).query, DEFAULTS.queryParameter);
  assert.deepEqual(locations({ cookie: '__Host-token', apiKey: { cookie: '__Host-key' } }).apiKey, { header: 'X-API-Key', query: undefined, cookie: '__Host-key' });
  assert.deepEqual(locations({ apiKey: { query: 'api_key' } }).apiKey, { header: 'X-API-Key', query: 'api_key', cookie: undefined });
  assert.equal(locations({ cookie: '__Secure-token', apiKey: { header: 'X-Api-Key' } }).cookie, '__Secure-token');
  // With the header turned off, a query parameter or a cookie alone is enough for API keys; nothing at all is not.
  assert.deepEqual(locations({ apiKey: { header: false, query: 'api_key' } }).apiKey, { header: undefined, query: 'api_key', cookie: undefined });
  assert.deepEqual(locations({ apiKey: { header: false, cookie: '__Host-key' } }).apiKey, { header: undefined, query: undefined, cookie: '__Host-key' });
  assert.throws(() => locations({ apiKey: { header: false } }), /^TypeError: credentials\.apiKey: enable at least one of header, query, cookie$/);
  // false is the documented way to say "no API keys", not a value of the wrong type.
  assert.equal(locations({ apiKey: false }).apiKey, undefined);
  assert.throws(() => createAuthenticator({ ...base, introspection, credentials: { apiKey: 'yes' as never } }), /^TypeError: credentials\.apiKey: expected true or/);
  assert.throws(() => createAuthenticator({ ...base, jwks: { keys: [null as never] } }), /^TypeError: jwks\.keys\[0\]: expected a JWK object/);
  assert.throws(() => createAuthenticator({ ...base, jwks: null as never }), /^TypeError: jwks/);
  // jwksUri and introspection.endpoint follow the issuer's rule: anyone on an http path could
  // swap the keys, forge introspection answers or read the client secret. http only on loopback
  // or with allowHttpIssuer.
  assert.throws(() => createAuthenticator({ ...base, jwksUri: 'http://keys.internal.test/jwks' }), /^TypeError: jwksUri: expected an https URL \(http is accepted only on loopback or with allowHttpIssuer\)/);
  assert.doesNotThrow(() => createAuthenticator({ ...base, jwksUri: 'http://127.0.0.1:9/jwks' }));
  assert.doesNotThrow(() => createAuthenticator({ ...base, allowHttpIssuer: true, jwksUri: 'http://keys.internal.test/jwks' }));
  assert.throws(() => createAuthenticator({ ...base, allowHttpIssuer: true, jwksUri: 'http://keys.internal.test/jwks?v=1' }), /^TypeError: jwksUri: must not have a query/);
  const plainIntrospection = { ...introspection, endpoint: 'http://id.internal.test/introspect' };
  assert.throws(() => createAuthenticator({ ...base, introspection: plainIntrospection }), /^TypeError: introspection\.endpoint: expected an https URL/);
  assert.doesNotThrow(() => createAuthenticator({ ...base, allowHttpIssuer: true, introspection: plainIntrospection }));
});

test('a static RSA key is measured by its modulus: exact bits, leading zero bytes skipped, anything else 0 bits', () => {
  const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = publicKey.export({ format: 'jwk' }) as { kty: 'RSA'; n: string; e: string };
  assert.doesNotThrow(() => createAuthenticator({ ...base, algorithms: ['RS256'], jwks: { keys: [jwk] } }), 'a 2048-bit key is long enough');
  // The bit count the refusal names, or 'accepted'.
  const bitsOf = (n: string): string => {
    try {
      createAuthenticator({ ...base, algorithms: ['RS256'], jwks: { keys: [{ kty: 'RSA', n, e: jwk.e }] } });
      return 'accepted';
    } catch (error) {
      return /an RSA key of (-?\d+) bits/.exec((error as Error).message)?.[1] ?? (error as Error).message;
    }
  };
  const modulus = (bytes: number[]) => Buffer.from(bytes).toString('base64url');
  assert.equal(bitsOf(modulus([0x01, 0x00, 0x01])), '17');
  assert.equal(bitsOf(modulus([0x80, 0x00, 0x00])), '24');
  assert.equal(bitsOf(modulus([0x00, 0x00, 0x01, 0xff])), '9', 'leading zero bytes do not count');
  assert.equal(bitsOf(modulus([0x00, 0x00, 0x00])), '0', 'an all-zero modulus is no modulus');
  // JWK members are base64url without padding (RFC 7518 §6.3.1.1): the padded form of a good modulus is none.
  assert.equal(bitsOf(`${jwk.n}==`), '0');
  assert.equal(bitsOf(`/${jwk.n.slice(1)}`), '0', 'a standard-base64 character');
});
