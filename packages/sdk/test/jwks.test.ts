// SECURITY.md: "Unknown kid: at most one JWKS refetch per cooldown, shared by concurrent requests;
// last good keys kept when the JWKS endpoint fails; then fail closed." and "When the JWKS …
// endpoint is unreachable, the answer is 503". Also discovery: exact issuer, fallback, cached.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createAuthenticator, type AuthenticatorOptions, type AuthOutcome } from '@gatehouse/sdk';
import { createTestIssuer, type TestFault, type TestIssuer } from '@gatehouse/sdk/testing';
import { discoveryUrls } from '../src/discovery.ts';
import { bearer, countingFetch, manualClock, request } from './helpers.ts';

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
      // …and within the cooldown it is simply refused (fail closed, no hammering).
      assert.equal(codeOf(await check(rotated)), 'invalid_token');
      assert.equal(codeOf(await check(token)), 'ok', 'known keys still work');

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
        const { check, errors, clock, jwksFetches } = setup({ issuer: down.issuer, audience: down.audience, timeout: 0.2 });
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
        // Back up and past the cooldown: recovered.
        down.fail('jwks', undefined);
        clock.advance(31);
        assert.equal(codeOf(await check(token)), 'ok', fault);
      } finally {
        await down.close();
      }
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
