// SECURITY.md: "Unknown kid: at most one JWKS refetch per cooldown, shared by concurrent requests;
// last good keys kept when the JWKS endpoint fails; then fail closed." and "When the JWKS …
// endpoint is unreachable, the answer is 503". Also discovery: exact issuer, fallback, cached.
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { createAuthenticator, type AuthenticatorOptions, type AuthOutcome } from '@gatehouse/sdk';
import { createTestIssuer, type TestFault, type TestIssuer } from '@gatehouse/sdk/testing';
import { Discovery, discoveryUrls } from '../src/discovery.ts';
import { waitFor } from '@gatehouse/test-support/wait';
import { bearer, countingFetch, manualClock, request, stubServer, type StubAnswer } from './helpers.ts';

let issuer: TestIssuer;
before(async () => {
  issuer = await createTestIssuer();
});
after(() => issuer.close());

function setup(overrides: Partial<AuthenticatorOptions> = {}) {
  const counter = countingFetch();
  const clock = manualClock();
  const errors: Error[] = [];
  const authenticator = createAuthenticator({
    issuer: issuer.issuer,
    audience: issuer.audience,
    algorithms: ['ES256'],
    fetch: counter.fetch,
    now: clock.now,
    tokenCacheSize: 0,
    onError: (error) => errors.push(error),
    ...overrides,
  });
  const jwksFetches = () => counter.count((url) => url.endsWith('/jwks'));
  const check = (token: string) => authenticator.authenticate(request(bearer(token)));
  return { authenticator, counter, clock, errors, jwksFetches, check };
}

function codeOf(outcome: AuthOutcome): string {
  return outcome.ok ? 'ok' : outcome.error.code;
}

describe('JWKS', () => {
  test('a rotated key is picked up by one refetch shared by every concurrent request', async () => {
    const rotating = await createTestIssuer();
    try {
      const { check, jwksFetches, clock } = setup({ issuer: rotating.issuer, audience: rotating.audience });
      assert.equal(codeOf(await check(await rotating.mintAccessToken({ expiresIn: 3600 }))), 'ok');
      assert.equal(jwksFetches(), 1);
      clock.advance(31); // past the cooldown that follows the first fetch

      await rotating.rotateKeys();
      const tokens = await Promise.all(Array.from({ length: 20 }, () => rotating.mintAccessToken({ expiresIn: 3600 })));
      const outcomes = await Promise.all(tokens.map(check));
      assert.deepEqual(outcomes.map(codeOf), tokens.map(() => 'ok'), 'every request waited for the one refetch');
      assert.equal(jwksFetches(), 2, 'exactly one refetch for 20 concurrent unknown-kid requests');
    } finally {
      await rotating.close();
    }
  });

  test('unknown kids trigger at most one refetch per cooldown, then fail closed with 401', async () => {
    const { check, jwksFetches, clock } = setup({ jwksCooldown: 30 });
    assert.equal(codeOf(await check(await issuer.mintAccessToken({ expiresIn: 3600 }))), 'ok');
    assert.equal(jwksFetches(), 1);

    // Within the cooldown of the first fetch: no refetch at all, however many kids are tried.
    const unknown = await Promise.all(Array.from({ length: 10 }, () => issuer.mintBadToken('unknown_kid', { expiresIn: 3600 })));
    assert.deepEqual((await Promise.all(unknown.map(check))).map(codeOf), unknown.map(() => 'invalid_token'));
    assert.equal(jwksFetches(), 1);

    // After the cooldown: concurrent unknown kids share a single refetch, then are refused.
    clock.advance(30);
    assert.deepEqual((await Promise.all(unknown.map(check))).map(codeOf), unknown.map(() => 'invalid_token'));
    assert.equal(jwksFetches(), 2);
    clock.advance(29);
    assert.equal(codeOf(await check(unknown[0] as string)), 'invalid_token');
    assert.equal(jwksFetches(), 2, 'still cooling down');
  });

  test('the last good keys are kept when the JWKS endpoint fails', async () => {
    const failing = await createTestIssuer();
    try {
      const { check, jwksFetches, clock, errors } = setup({ issuer: failing.issuer, audience: failing.audience, jwksMaxAge: 600 });
      const token = await failing.mintAccessToken({ expiresIn: 7200 });
      assert.equal(codeOf(await check(token)), 'ok');

      failing.fail('jwks', 'unavailable');
      clock.advance(601); // keys are stale: a refresh is attempted and fails
      assert.equal(codeOf(await check(token)), 'ok', 'verified with the last good keys');
      assert.equal(jwksFetches(), 2);
      assert.ok(errors.some((error) => error.name === 'UpstreamError'), 'the failure is reported to onError');

      // An unknown kid while the endpoint is down: the refetch that could find it fails → 503.
      clock.advance(31);
      const rotated = await failing.mintBadToken('unknown_kid', { expiresIn: 7200 });
      const outcome = await check(rotated);
      assert.equal(codeOf(outcome), 'temporarily_unavailable');
      assert.equal(outcome.ok ? 0 : outcome.response.status, 503);
      assert.equal(outcome.ok ? undefined : outcome.response.headers['retry-after'], '30', 'until the next fetch may start');
      // …and within the cooldown, still 503 (the key may exist), without another fetch.
      const fetches = jwksFetches();
      clock.advance(10);
      const again = await check(rotated);
      assert.equal(codeOf(again), 'temporarily_unavailable', 'a failed refetch is never a false 401');
      assert.equal(again.ok ? undefined : again.response.headers['retry-after'], '20');
      assert.equal(jwksFetches(), fetches, 'no hammering within the cooldown');
      assert.equal(codeOf(await check(token)), 'ok', 'known keys still work');
      // Back up: once a fetch succeeds, a kid that is really unknown is refused (fail closed).
      failing.fail('jwks', undefined);
      clock.advance(21);
      assert.equal(codeOf(await check(rotated)), 'invalid_token');

      // A key removed from the set stops working once the set is refreshed.
      failing.fail('jwks', undefined);
      await failing.rotateKeys({ keepPrevious: false });
      clock.advance(601);
      assert.equal(codeOf(await check(token)), 'invalid_token');
    } finally {
      await failing.close();
    }
  });

  test('keys never loaded and the endpoint unreachable: 503 for reset, 5xx, timeout and garbage', async () => {
    const faults: TestFault[] = ['reset', 'unavailable', 'hang', 'garbage'];
    for (const fault of faults) {
      const down = await createTestIssuer();
      try {
        down.fail('jwks', fault);
        // A short timeout only where the endpoint hangs: a busy machine can take longer than that
        // to answer a fetch that works, and the other faults answer at once.
        const { check, errors, clock, jwksFetches } = setup({ issuer: down.issuer, audience: down.audience, ...(fault === 'hang' ? { timeout: 0.2 } : {}) });
        const token = await down.mintAccessToken({ expiresIn: 3600 });
        const outcome = await check(token);
        assert.equal(codeOf(outcome), 'temporarily_unavailable', fault);
        if (!outcome.ok) {
          assert.equal(outcome.response.status, 503, fault);
          assert.equal(outcome.response.headers['www-authenticate'], undefined, `${fault}: a 503 carries no challenge`);
          assert.deepEqual(JSON.parse(outcome.response.body).error, 'temporarily_unavailable');
        }
        assert.ok(errors.length > 0, `${fault}: reported to onError`);
        // Within the cooldown, the failure is remembered rather than retried.
        assert.equal(codeOf(await check(token)), 'temporarily_unavailable');
        assert.equal(jwksFetches(), 1, fault);
        // Back up and past the cooldown: recovered. (After a hang the first fetch may itself time
        // out on a busy machine: each try is after another cooldown, until a deadline.)
        down.fail('jwks', undefined);
        await waitFor(
          async () => {
            clock.advance(31);
            return codeOf(await check(token)) === 'ok';
          },
          { message: `${fault}: recovered` },
        );
      } finally {
        await down.close();
      }
    }
  });

  test('a key rotated while the issuer is down: 503 with Retry-After until a fetch succeeds, then verified', async () => {
    const rotating = await createTestIssuer();
    try {
      const { check, clock, jwksFetches } = setup({ issuer: rotating.issuer, audience: rotating.audience, jwksCooldown: 30 });
      assert.equal(codeOf(await check(await rotating.mintAccessToken({ expiresIn: 7200 }))), 'ok');
      await rotating.rotateKeys();
      const fresh = await rotating.mintAccessToken({ expiresIn: 7200 }); // signed with the new kid
      clock.advance(31);
      for (const fault of ['reset', 'unavailable'] as const) {
        rotating.fail('jwks', fault);
        for (let second = 0; second < 40; second += 10) {
          const outcome = await check(fresh);
          assert.equal(codeOf(outcome), 'temporarily_unavailable', `${fault}, +${second}s`);
          assert.ok(!outcome.ok && Number(outcome.response.headers['retry-after']) >= 1, 'every 503 says when to come back');
          clock.advance(10);
        }
      }
      const fetchesWhileDown = jwksFetches();
      assert.ok(fetchesWhileDown <= 1 + 3, `at most one fetch per cooldown while down (${fetchesWhileDown})`);
      rotating.fail('jwks', undefined);
      clock.advance(30);
      assert.equal(codeOf(await check(fresh)), 'ok', 'recovered once the JWKS answers');
    } finally {
      await rotating.close();
    }
  });

  test('a published key that cannot be imported is reported to onError, naming it, and verifies nothing', async () => {
    // A 1024-bit RSA key published beside the issuer's own, and a token it signed.
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const weakJwk = { ...publicKey.export({ format: 'jwk' }), kid: 'weak-1024', alg: 'RS256', use: 'sig' };
    const withWeakKey: typeof fetch = async (input, init) => {
      const response = await fetch(input, init);
      if (!String(input).endsWith('/jwks')) return response;
      const jwks = (await response.json()) as { keys: unknown[] };
      return Response.json({ keys: [...jwks.keys, weakJwk] });
    };
    const { check, errors } = setup({ algorithms: ['ES256', 'RS256'], fetch: withWeakKey });
    // jose will not sign with a short key either: sign by hand.
    const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const now = Math.floor(Date.now() / 1000);
    const input = `${part({ alg: 'RS256', kid: 'weak-1024', typ: 'at+jwt' })}.${part({
      iss: issuer.issuer, aud: issuer.audience, sub: 'user-1', client_id: 'c', scope: 'items', iat: now, exp: now + 3600,
    })}`;
    const token = `${input}.${sign('sha256', Buffer.from(input), privateKey).toString('base64url')}`;
    const outcome = await check(token);
    assert.equal(codeOf(outcome), 'invalid_token');
    assert.match(errors.map((error) => error.message).join('\n'), /JWKS key "weak-1024" cannot verify RS256: RSA key shorter than 2048 bits/);
    assert.equal(codeOf(await check(await issuer.mintAccessToken())), 'ok', 'the good key still verifies');
  });

  test('a JWKS answering anything but 200 is refused, even with a key set in its body', async () => {
    const stub = await stubServer((path, url) =>
      path === '/.well-known/openid-configuration' ? { body: { issuer: url, jwks_uri: `${url}/jwks` } } : path === '/jwks' ? { status: 404, body: issuer.jwks() } : undefined,
    );
    try {
      const { check, errors } = setup({ issuer: stub.url });
      const outcome = await check(await issuer.mintAccessToken({ issuer: stub.url }));
      assert.equal(codeOf(outcome), 'temporarily_unavailable');
      assert.match(errors.map((error) => error.message).join('\n'), /JWKS answered 404/);
    } finally {
      await stub.close();
    }
  });

  test('a published key with private or symmetric members (d, p, k) verifies nothing, though its public part would', async () => {
    // Such a JWKS leaks a secret or was built wrongly: either way its keys are not trusted.
    let extra: Record<string, string> = {};
    const stub = await stubServer((path, url) => {
      if (path === '/.well-known/openid-configuration') return { body: { issuer: url, jwks_uri: `${url}/jwks` } };
      return path === '/jwks' ? { body: { keys: issuer.jwks().keys.map((key) => ({ ...key, ...extra })) } } : undefined;
    });
    try {
      for (const member of [{}, { d: 'AQAB' }, { p: 'AQAB' }, { k: 'AQAB' }] as Record<string, string>[]) {
        extra = member;
        const { check } = setup({ issuer: stub.url });
        assert.equal(codeOf(await check(await issuer.mintAccessToken({ issuer: stub.url }))), Object.keys(member).length === 0 ? 'ok' : 'invalid_token', JSON.stringify(member));
      }
    } finally {
      await stub.close();
    }
  });

  test('static keys: never a request, an unknown kid is simply refused', async () => {
    const { check, counter } = setup({ jwks: issuer.jwks() });
    assert.equal(codeOf(await check(await issuer.mintAccessToken())), 'ok');
    assert.equal(codeOf(await check(await issuer.mintBadToken('unknown_kid'))), 'invalid_token');
    assert.equal(counter.count(), 0);
  });
});

describe('discovery', () => {
  test('the discovery document must name exactly the configured issuer (else 503, and discover() rejects)', async () => {
    for (const configured of [`${issuer.issuer}/`, issuer.issuer.replace('127.0.0.1', 'localhost')]) {
      const { check, authenticator, errors } = setup({ issuer: configured });
      const outcome = await check(await issuer.mintAccessToken({ issuer: configured }));
      assert.equal(codeOf(outcome), 'temporarily_unavailable', configured);
      await assert.rejects(authenticator.discover(), /different issuer/);
      assert.ok(errors.some((error) => /different issuer/.test(error.message)));
    }
  });

  test('metadata is read once, lazily, and its jwks_uri is used', async () => {
    const { check, counter } = setup();
    assert.equal(counter.count(), 0, 'nothing fetched at construction');
    const token = await issuer.mintAccessToken();
    await Promise.all([check(token), check(token), check(token)]);
    assert.equal(counter.count((url) => url.includes('/.well-known/')), 1);
    assert.deepEqual(counter.urls, [`${issuer.issuer}/.well-known/openid-configuration`, `${issuer.issuer}/jwks`]);
  });

  test('falls back to RFC 8414 oauth-authorization-server metadata', async () => {
    const oauthOnly = await createTestIssuer({ discovery: 'oauth' });
    try {
      const { check, counter } = setup({ issuer: oauthOnly.issuer, audience: oauthOnly.audience });
      assert.equal(codeOf(await check(await oauthOnly.mintAccessToken())), 'ok');
      assert.deepEqual(counter.urls.slice(0, 2), [
        `${oauthOnly.issuer}/.well-known/openid-configuration`,
        `${oauthOnly.issuer}/.well-known/oauth-authorization-server`,
      ]);
    } finally {
      await oauthOnly.close();
    }
  });

  test('a discovery document that is not a JSON object is refused as such', async () => {
    for (const body of ['null', '[]', '<html>']) {
      const stub = await stubServer((path) => (path === '/.well-known/openid-configuration' ? { body } : undefined));
      try {
        await assert.rejects(setup({ issuer: stub.url }).authenticator.discover(), { message: 'discovery document is not a JSON object' }, body);
      } finally {
        await stub.close();
      }
    }
  });

  test('endpoints in the discovery document must be http(s) URLs; an https issuer\'s must be https', async () => {
    const document = (url: string, jwksUri: unknown): StubAnswer => ({ body: { issuer: url, jwks_uri: jwksUri } });
    const bad = (url: string): unknown[] => [42, [`${url}/jwks`], 'not a url', 'ftp://127.0.0.1/jwks', 'javascript:alert(1)'];
    let jwksUri: unknown;
    const stub = await stubServer((path, url) => (path === '/.well-known/openid-configuration' ? document(url, jwksUri) : undefined));
    try {
      for (const value of bad(stub.url)) {
        jwksUri = value;
        await assert.rejects(setup({ issuer: stub.url }).authenticator.discover(), { message: 'discovery document has an invalid jwks_uri' }, JSON.stringify(value));
      }
      jwksUri = `${stub.url}/jwks`;
      assert.equal((await setup({ issuer: stub.url }).authenticator.discover()).jwks_uri, jwksUri, 'an http issuer may use http');
    } finally {
      await stub.close();
    }

    // An https issuer (its name mapped onto a local stub by the fetch) may not point at http.
    const secureIssuer = 'https://id.example.test';
    const secure = await stubServer((path) => (path === '/.well-known/openid-configuration' ? document(secureIssuer, jwksUri) : undefined));
    const toStub: typeof fetch = (input, init) => fetch(String(input).replace(secureIssuer, secure.url), init);
    try {
      jwksUri = 'http://id.example.test/jwks';
      await assert.rejects(setup({ issuer: secureIssuer, fetch: toStub }).authenticator.discover(), { message: 'discovery document has an invalid jwks_uri' });
      jwksUri = 'https://id.example.test/jwks';
      assert.equal((await setup({ issuer: secureIssuer, fetch: toStub }).authenticator.discover()).jwks_uri, jwksUri);
    } finally {
      await secure.close();
    }
  });

  test('a 500 is the issuer failing, not "not here": no fallback location is tried', async () => {
    const stub = await stubServer(() => ({ status: 500, body: { error: 'server_error' } }));
    try {
      await assert.rejects(setup({ issuer: stub.url }).authenticator.discover(), { message: 'discovery answered 500' });
      assert.deepEqual(stub.paths, ['/.well-known/openid-configuration']);
    } finally {
      await stub.close();
    }
  });

  test('an answer of exactly the size limit (512 KiB) is read; one byte more is refused', async () => {
    const LIMIT = 512 * 1024;
    let size = LIMIT;
    const stub = await stubServer((path, url) => {
      if (path !== '/.well-known/openid-configuration') return undefined;
      const padding = size - JSON.stringify({ issuer: url, padding: '' }).length;
      return { body: JSON.stringify({ issuer: url, padding: 'x'.repeat(padding) }) };
    });
    try {
      assert.equal((await setup({ issuer: stub.url }).authenticator.discover()).issuer, stub.url);
      size = LIMIT + 1;
      await assert.rejects(setup({ issuer: stub.url }).authenticator.discover(), { message: 'discovery response could not be read' });
    } finally {
      await stub.close();
    }
  });

  test('well-known locations for an issuer with a path', () => {
    assert.deepEqual(discoveryUrls('https://id.example.com/tenant/'), [
      'https://id.example.com/tenant/.well-known/openid-configuration',
      'https://id.example.com/.well-known/oauth-authorization-server/tenant',
    ]);
    assert.deepEqual(discoveryUrls('https://id.example.com'), [
      'https://id.example.com/.well-known/openid-configuration',
      'https://id.example.com/.well-known/oauth-authorization-server',
    ]);
  });
});

test('concurrent first uses share one discovery fetch (single flight)', async () => {
  const counter = countingFetch();
  const discovery = new Discovery({ issuer: issuer.issuer, fetch: counter.fetch, timeoutMs: 5000, retryAfterMs: 30_000, now: () => 0 });
  const answers = await Promise.all(Array.from({ length: 5 }, () => discovery.get()));
  assert.ok(answers.every((metadata) => metadata.issuer === issuer.issuer));
  assert.equal(counter.count((url) => url.includes('/.well-known/')), 1);
});
