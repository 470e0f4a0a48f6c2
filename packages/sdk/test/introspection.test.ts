// Opaque tokens and API keys through RFC 7662 introspection: client authentication, the
// active/inactive answers, both caches and their bounds, and the 503 rule.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createAuthenticator, type AuthenticatorOptions, type AuthOutcome } from '@gatehouse/sdk';
import { createTestIssuer, type TestFault, type TestIssuer } from '@gatehouse/sdk/testing';
import { waitFor } from '@gatehouse/test-support/wait';
import { bearer, countingFetch, manualClock, request, stubServer } from './helpers.ts';

let issuer: TestIssuer;
before(async () => {
  issuer = await createTestIssuer();
});
after(() => issuer.close());

function setup(overrides: Partial<AuthenticatorOptions> = {}, target: TestIssuer = issuer) {
  const counter = countingFetch();
  const clock = manualClock();
  const errors: Error[] = [];
  const authenticator = createAuthenticator(
    target.authenticatorOptions({
      credentials: { apiKey: true },
      fetch: counter.fetch,
      now: clock.now,
      onError: (error) => errors.push(error),
      ...overrides,
    }),
  );
  const introspections = () => counter.count((url) => url.endsWith('/introspect'));
  const withToken = (token: string) => authenticator.authenticate(request(bearer(token)));
  const withKey = (key: string) => authenticator.authenticate(request({ 'x-api-key': key }));
  return { authenticator, counter, clock, errors, introspections, withToken, withKey };
}

function codeOf(outcome: AuthOutcome): string {
  return outcome.ok ? 'ok' : outcome.error.code;
}

describe('answers', () => {
  test('an active opaque token becomes a principal; the endpoint comes from discovery', async () => {
    const { withToken, counter } = setup();
    const token = issuer.createOpaqueToken({ sub: 'alice', clientId: 'web', scopes: ['items', 'me'] });
    assert.ok(!token.includes('.'), 'opaque tokens have no dots, so they are never mistaken for a JWT');
    const outcome = await withToken(token);
    assert.ok(outcome.ok);
    assert.equal(outcome.principal?.kind, 'user');
    assert.equal(outcome.principal?.subject, 'alice');
    assert.equal(outcome.principal?.clientId, 'web');
    assert.deepEqual([...(outcome.principal?.scopes ?? [])], ['items', 'me']);
    assert.deepEqual(counter.urls, [`${issuer.issuer}/.well-known/openid-configuration`, `${issuer.issuer}/introspect`]);
  });

  test('an API key in X-API-Key is an api_key principal', async () => {
    const { withKey } = setup();
    const outcome = await withKey(issuer.createApiKey({ sub: 'svc-owner', scopes: 'accounts:read' }));
    assert.ok(outcome.ok);
    assert.equal(outcome.principal?.kind, 'api_key');
    assert.equal(outcome.principal?.subject, 'svc-owner');
    assert.ok(outcome.principal?.scopes.has('accounts:read'));
  });

  test('opaque client tokens are clients (no sub, or sub = client_id)', async () => {
    const { withToken } = setup();
    for (const credential of [{ sub: undefined, clientId: 'svc' }, { sub: 'svc', clientId: 'svc' }]) {
      const token = issuer.createOpaqueToken({ ...credential, sub: credential.sub as string });
      const outcome = await withToken(token);
      assert.equal(outcome.ok && outcome.principal?.kind, 'client');
      assert.equal(outcome.ok && outcome.principal?.subject, 'svc');
    }
  });

  test('inactive (unknown, revoked, expired) is 401 invalid_token', async () => {
    const { withToken, withKey } = setup({ introspection: { ...issuer.introspectionClient, cacheTtl: 0, negativeCacheTtl: 0 } });
    assert.equal(codeOf(await withToken('unknown-opaque-token')), 'invalid_token');
    const key = issuer.createApiKey({ scopes: ['items'] });
    assert.equal(codeOf(await withKey(key)), 'ok');
    issuer.revoke(key);
    const revoked = await withKey(key);
    assert.equal(codeOf(revoked), 'invalid_token');
    assert.equal(revoked.ok ? 0 : revoked.response.status, 401);
    assert.equal(codeOf(await withToken(issuer.createOpaqueToken({ expiresIn: -10 }))), 'invalid_token');
  });

  test('the answer must be for this API and this issuer', async () => {
    const { withToken, withKey } = setup();
    assert.equal(codeOf(await withToken(issuer.createOpaqueToken({ audience: 'https://other.example.test' }))), 'invalid_token');
    assert.equal(codeOf(await withKey(issuer.createApiKey({ audience: ['https://other.example.test'] }))), 'invalid_token');
    assert.equal(codeOf(await withToken(issuer.createOpaqueToken({ audience: ['https://other.example.test', issuer.audience] }))), 'ok');
  });

  test('API keys only through API-key sources, tokens never through them', async () => {
    const { withToken, withKey, introspections } = setup();
    const key = issuer.createApiKey({ scopes: ['items'] });
    const asBearer = await withToken(key);
    assert.equal(asBearer.ok ? 'ok' : asBearer.error.description, 'API keys are not accepted as bearer tokens');
    const opaque = await withKey(issuer.createOpaqueToken());
    assert.equal(opaque.ok ? 'ok' : opaque.error.description, 'The credential is not an API key');
    // A JWT-looking API key is still introspected, never verified locally.
    const before = introspections();
    const jwtShaped = await withKey(await issuer.mintAccessToken());
    assert.equal(codeOf(jwtShaped), 'invalid_token');
    assert.equal(introspections(), before + 1);
  });

  test('token_type_hint: access_token for a bearer token, none for an API key (RFC 7662 §2.1)', async () => {
    const hints: (string | null)[] = [];
    const recording: typeof fetch = (input, init) => {
      if (String(input).endsWith('/introspect')) hints.push(new URLSearchParams(String(init?.body)).get('token_type_hint'));
      return fetch(input, init);
    };
    const { withToken, withKey } = setup({ fetch: recording });
    assert.equal(codeOf(await withToken(issuer.createOpaqueToken())), 'ok');
    assert.equal(codeOf(await withKey(issuer.createApiKey())), 'ok');
    assert.deepEqual(hints, ['access_token', null]);
  });

  test('an active answer with members of the wrong type is unusable: 503, reported, never a principal', async () => {
    let answer: Record<string, unknown> = {};
    const stub = await stubServer((path, url) => {
      if (path === '/.well-known/openid-configuration') return { body: { issuer: url, introspection_endpoint: `${url}/introspect` } };
      return path === '/introspect' ? { body: { active: true, iss: url, aud: issuer.audience, sub: 'user-1', client_id: 'web', ...answer } } : undefined;
    });
    try {
      const { withToken, errors } = setup({ issuer: stub.url, introspection: { ...issuer.introspectionClient, cacheTtl: 0 } });
      assert.equal(codeOf(await withToken('opaque-token')), 'ok', 'the well-formed answer passes');
      for (const malformed of [{ sub: 42 }, { exp: 'soon' }, { aud: 7 }, { scope: ['items'] }, { scp: 5 }]) {
        answer = malformed;
        errors.length = 0;
        assert.equal(codeOf(await withToken('opaque-token')), 'temporarily_unavailable', JSON.stringify(malformed));
        assert.deepEqual(errors.map((error) => error.message), ['introspection answer has malformed members'], JSON.stringify(malformed));
      }
    } finally {
      await stub.close();
    }
  });

  test('an answer\'s nbf is checked like a JWT\'s: later than now plus the clock tolerance is 401', async () => {
    let nbf: number | undefined;
    const stub = await stubServer((path, url) => {
      if (path === '/.well-known/openid-configuration') return { body: { issuer: url, introspection_endpoint: `${url}/introspect` } };
      return path === '/introspect' ? { body: { active: true, iss: url, aud: issuer.audience, sub: 'user-1', client_id: 'web', nbf } } : undefined;
    });
    try {
      // A whole second, so that now + tolerance is exactly an nbf the answer can carry.
      const nowSec = Math.floor(Date.now() / 1000);
      const { withToken } = setup({ issuer: stub.url, now: () => nowSec * 1000, clockTolerance: 5, introspection: { ...issuer.introspectionClient, cacheTtl: 0, negativeCacheTtl: 0 } });
      const cases: [number | undefined, string][] = [
        [undefined, 'ok'],
        [nowSec - 100, 'ok'],
        [nowSec + 3, 'ok'],
        [nowSec + 5, 'ok'],
        [nowSec + 6, 'invalid_token: The credential is not valid yet'],
      ];
      for (const [value, expected] of cases) {
        nbf = value;
        const outcome = await withToken('opaque-token');
        assert.equal(outcome.ok ? 'ok' : `${outcome.error.code}: ${outcome.error.description}`, expected, `nbf now${value === undefined ? ' absent' : `${value - nowSec >= 0 ? '+' : ''}${value - nowSec}`}`);
      }
    } finally {
      await stub.close();
    }
  });

  test('without introspection, a credential that is not a JWT is 401 and no request is made', async () => {
    const counter = countingFetch();
    const authenticator = createAuthenticator({ issuer: issuer.issuer, audience: issuer.audience, algorithms: ['ES256'], fetch: counter.fetch });
    assert.equal(codeOf(await authenticator.authenticate(request(bearer(issuer.createOpaqueToken())))), 'invalid_token');
    assert.equal(counter.count(), 0);
  });
});

describe('caches', () => {
  test('an active answer is reused for cacheTtl, and concurrent requests share one call', async () => {
    const { withToken, introspections, clock } = setup({ introspection: { ...issuer.introspectionClient, cacheTtl: 30 } });
    const token = issuer.createOpaqueToken({ scopes: ['items'] });
    const outcomes = await Promise.all(Array.from({ length: 10 }, () => withToken(token)));
    assert.ok(outcomes.every((outcome) => outcome.ok));
    assert.equal(introspections(), 1);
    clock.advance(29);
    assert.equal(codeOf(await withToken(token)), 'ok');
    assert.equal(introspections(), 1);
    // A revocation is seen once the TTL has passed.
    issuer.revoke(token);
    clock.advance(2);
    assert.equal(codeOf(await withToken(token)), 'invalid_token');
    assert.equal(introspections(), 2);
  });

  test('an active answer is never reused past the credential\'s exp', async () => {
    const { withToken, introspections, clock } = setup({ introspection: { ...issuer.introspectionClient, cacheTtl: 300 } });
    const token = issuer.createOpaqueToken({ expiresIn: 10 });
    assert.equal(codeOf(await withToken(token)), 'ok');
    clock.advance(9);
    assert.equal(codeOf(await withToken(token)), 'ok');
    assert.equal(introspections(), 1);
    clock.advance(2); // past exp: the cache entry is gone, the issuer is asked again
    await withToken(token);
    assert.equal(introspections(), 2);
    clock.advance(5); // past exp + the 5 s leeway: refused even though the issuer's clock disagrees
    assert.equal(codeOf(await withToken(token)), 'invalid_token');
  });

  test('an inactive answer is reused for negativeCacheTtl', async () => {
    const { withToken, introspections, clock } = setup({ introspection: { ...issuer.introspectionClient, negativeCacheTtl: 5 } });
    for (let index = 0; index < 5; index += 1) assert.equal(codeOf(await withToken('bad-credential')), 'invalid_token');
    assert.equal(introspections(), 1);
    clock.advance(5);
    await withToken('bad-credential');
    assert.equal(introspections(), 2);
  });

  test('both caches are bounded', async () => {
    const { withToken, introspections } = setup({
      introspection: { ...issuer.introspectionClient, cacheSize: 1, negativeCacheSize: 1 },
    });
    const [first, second] = [issuer.createOpaqueToken(), issuer.createOpaqueToken()];
    for (const token of [first, second, first, second]) await withToken(token);
    assert.equal(introspections(), 4, 'a cache of one keeps only the latest active answer');
    for (const token of ['bad-1', 'bad-2', 'bad-1', 'bad-2']) await withToken(token);
    assert.equal(introspections(), 8, 'a cache of one keeps only the latest inactive answer');
  });
});

describe('the 503 rule', () => {
  test('introspection unreachable or unusable is 503, not 401: reset, 5xx, timeout, garbage', async () => {
    const faults: TestFault[] = ['reset', 'unavailable', 'hang', 'garbage'];
    for (const fault of faults) {
      const down = await createTestIssuer();
      try {
        // A short timeout only where the endpoint hangs (the other faults answer at once).
        const { withKey, errors } = setup(fault === 'hang' ? { timeout: 0.2 } : {}, down);
        const key = down.createApiKey({ scopes: ['items'] });
        down.fail('introspection', fault);
        const outcome = await withKey(key);
        assert.equal(codeOf(outcome), 'temporarily_unavailable', fault);
        assert.equal(outcome.ok ? 0 : outcome.response.status, 503, fault);
        assert.ok(errors.length > 0, fault);
        // Failures are not cached: as soon as the issuer answers again, the key works.
        down.fail('introspection', undefined);
        // With the short timeout, a busy machine may time out a working answer too: until a deadline.
        await waitFor(async () => codeOf(await withKey(key)) === 'ok', { message: `${fault}: the key works again` });
      } finally {
        await down.close();
      }
    }
  });

  test('the API\'s own client credentials are sent (client_secret_basic); wrong ones are a 503, reported', async () => {
    const { withKey, errors } = setup({ introspection: { clientId: issuer.introspectionClient.clientId, clientSecret: 'wrong' } });
    const outcome = await withKey(issuer.createApiKey());
    assert.equal(codeOf(outcome), 'temporarily_unavailable');
    assert.match(errors[0]?.message ?? '', /introspection answered 401/);
    const ok = setup();
    assert.equal(codeOf(await ok.withKey(issuer.createApiKey())), 'ok');
  });
});
