// introspection.checkJwts: a JWT that verifies locally is also introspected, so a revocation at the
// issuer is seen within cacheTtl instead of at exp. The same caches as opaque tokens, the same 401
// and 503 answers; cache hits still answer synchronously. (Against a real Gatehouse server:
// check-jwts-gatehouse.test.ts.)
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createAuthenticator, type AuthenticatorOptions, type AuthOutcome } from '@gatehouse/sdk';
import { createTestIssuer, type BadTokenKind, type TestIssuer } from '@gatehouse/sdk/testing';
import { bearer, countingFetch, manualClock, request } from './helpers.ts';

let issuer: TestIssuer;
before(async () => {
  issuer = await createTestIssuer();
});
after(() => issuer.close());

function setup(introspection: Partial<NonNullable<AuthenticatorOptions['introspection']>> = {}, overrides: Partial<AuthenticatorOptions> = {}) {
  const counter = countingFetch();
  const clock = manualClock();
  const authenticator = createAuthenticator(
    issuer.authenticatorOptions({
      fetch: counter.fetch,
      now: clock.now,
      introspection: { ...issuer.introspectionClient, checkJwts: true, cacheTtl: 10, ...introspection },
      ...overrides,
    }),
  );
  const introspections = () => counter.count((url) => url.endsWith('/introspect'));
  const now = (token: string) => authenticator.authenticateNow(request(bearer(token)), { scopes: ['items'] });
  return { authenticator, clock, introspections, now };
}

function codeOf(outcome: AuthOutcome): string {
  return outcome.ok ? 'ok' : outcome.error.code;
}

describe('checkJwts', () => {
  test('off (the default): a JWT revoked at the issuer keeps working until exp, and is never introspected', async () => {
    const { now, introspections } = setup({ checkJwts: undefined });
    const token = await issuer.mintAccessToken({ scopes: ['items'] });
    issuer.revoke(token);
    assert.equal(codeOf(await now(token)), 'ok');
    assert.equal(introspections(), 0);
  });

  test('on: introspected once per cacheTtl, answered synchronously from cache, refused once a revocation is seen', async () => {
    const { now, introspections, clock } = setup();
    const token = await issuer.mintAccessToken({ scopes: ['items'] });
    const first = now(token);
    assert.ok(first instanceof Promise, 'the first check calls the issuer');
    assert.equal(codeOf(await first), 'ok');
    assert.equal(introspections(), 1);

    issuer.revoke(token);
    clock.advance(9);
    const cached = now(token);
    assert.ok(!(cached instanceof Promise), 'a cache hit needs no promise');
    assert.equal(codeOf(cached), 'ok', 'cacheTtl bounds how long a revoked JWT keeps working');
    assert.equal(introspections(), 1);

    clock.advance(2);
    const refused = await now(token);
    assert.ok(!refused.ok);
    assert.equal(refused.response.status, 401);
    assert.equal(refused.error.description, 'The access token is not valid');
    assert.equal(refused.response.headers['www-authenticate'], `Bearer realm="${issuer.audience}", error="invalid_token", error_description="The access token is not valid"`);
    assert.equal(introspections(), 2);
    // The inactive answer is cached too (negativeCacheTtl), and served synchronously.
    const again = now(token);
    assert.ok(!(again instanceof Promise));
    assert.equal(codeOf(again), 'invalid_token');
    assert.equal(introspections(), 2);
  });

  test('on: concurrent requests share one call; past exp the token is refused whatever was cached', async () => {
    const { now, introspections, clock } = setup({ cacheTtl: 300 });
    const token = await issuer.mintAccessToken({ scopes: ['items'], expiresIn: 20 });
    const outcomes = await Promise.all(Array.from({ length: 5 }, () => now(token)));
    assert.ok(outcomes.every((outcome) => outcome.ok));
    assert.equal(introspections(), 1);
    clock.advance(26); // past exp and the 5 s leeway
    assert.equal((await now(token)).ok ? 'ok' : 'refused', 'refused');
  });

  test('on: only a token that verifies locally is introspected', async () => {
    const { now, introspections } = setup();
    const kinds: BadTokenKind[] = ['bad_signature', 'expired', 'wrong_audience', 'wrong_issuer', 'alg_none', 'foreign_key', 'embedded_jwk'];
    for (const kind of kinds) assert.equal(codeOf(await now(await issuer.mintBadToken(kind, { scopes: ['items'] }))), 'invalid_token', kind);
    assert.equal(introspections(), 0);
  });

  test('on: introspection unreachable is 503, and JWTs are never throttled', async () => {
    const { now, authenticator } = setup({ cacheTtl: 0, negativeCacheTtl: 0, failureLimit: { max: 1 } });
    const token = await issuer.mintAccessToken({ scopes: ['items'] });
    issuer.fail('introspection', 'unavailable');
    try {
      const outcome = await now(token);
      assert.equal(codeOf(outcome), 'temporarily_unavailable');
      assert.equal(outcome.ok ? 0 : outcome.response.status, 503);
    } finally {
      issuer.fail('introspection', undefined);
    }
    assert.equal(codeOf(await now(token)), 'ok');
    // A JWT's signature cannot be guessed: its revocation check is no attempt to throttle.
    issuer.revoke(token);
    for (let index = 0; index < 3; index += 1) {
      const outcome = await authenticator.authenticate({ ...request(bearer(token)), clientIp: '192.0.2.9' });
      assert.equal(codeOf(outcome), 'invalid_token', 'a revoked JWT is a 401, never a 429');
    }
  });
});
