// The failure limit of introspection (introspection.failureLimit): an address that has had too
// many API keys or opaque tokens answered inactive gets 429 with Retry-After, before any further
// introspection, until its window ends. Introspection requests are counted at the test issuer's
// real HTTP endpoint.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createAuthenticator, type AuthenticatorOptions, type AuthOutcome, type FailureLimitOptions } from '@gatehouse/sdk';
import { gatehouse as honoGatehouse } from '@gatehouse/sdk/hono';
import { createTestIssuer, type TestIssuer } from '@gatehouse/sdk/testing';
import { Hono } from 'hono';
import { addressKey } from '../src/failure-throttle.ts';
import { bearer, manualClock } from './helpers.ts';

let issuer: TestIssuer;
before(async () => {
  issuer = await createTestIssuer();
});
after(() => issuer.close());

const ADDRESS = '203.0.113.7';

function setup(failureLimit: false | FailureLimitOptions = { max: 3, window: 60 }, overrides: Partial<AuthenticatorOptions> = {}) {
  const clock = manualClock();
  const authenticator = createAuthenticator(
    issuer.authenticatorOptions({
      credentials: { apiKey: true },
      introspection: { ...issuer.introspectionClient, failureLimit },
      now: clock.now,
      ...overrides,
    }),
  );
  const start = issuer.requests.introspection;
  const introspections = () => issuer.requests.introspection - start;
  // `null`: a request whose address the adapter could not tell.
  const withKey = (key: string, clientIp: string | null = ADDRESS) =>
    authenticator.authenticate({ method: 'GET', url: 'https://api.example.test/items', headers: { 'x-api-key': key }, clientIp: clientIp ?? undefined });
  const withToken = (token: string, clientIp: string | null = ADDRESS) =>
    authenticator.authenticate({ method: 'GET', url: 'https://api.example.test/items', headers: bearer(token), clientIp: clientIp ?? undefined });
  return { authenticator, clock, introspections, withKey, withToken };
}

function codeOf(outcome: AuthOutcome | Promise<AuthOutcome>): string {
  assert.ok(!(outcome instanceof Promise));
  return outcome.ok ? 'ok' : outcome.error.code;
}

const badKey = () => `ghk_unknown_${crypto.randomUUID().replaceAll('-', '')}`;

describe('past the limit', () => {
  test('an address gets 429 with Retry-After and no challenge, and no introspection is made', async () => {
    const { withKey, withToken, introspections, clock } = setup();
    for (let index = 0; index < 3; index += 1) assert.equal(codeOf(await withKey(badKey())), 'invalid_token');
    assert.equal(introspections(), 3);

    const throttled = await withKey(badKey());
    assert.ok(!throttled.ok);
    assert.equal(throttled.response.status, 429);
    assert.equal(throttled.response.headers['retry-after'], '60');
    assert.equal(throttled.response.headers['www-authenticate'], undefined, 'the credential was not judged');
    assert.equal(throttled.response.headers['content-type'], 'application/json; charset=utf-8');
    assert.deepEqual(JSON.parse(throttled.response.body), {
      error: 'too_many_requests',
      error_description: 'Too many invalid credentials from this address; try again later',
    });
    // Everything introspection would decide is refused, good or bad, key or opaque token.
    assert.equal(codeOf(await withKey(issuer.createApiKey({ scopes: ['items'] }))), 'too_many_requests');
    assert.equal(codeOf(await withToken(issuer.createOpaqueToken())), 'too_many_requests');
    // A malformed credential costs the issuer nothing: refused for what it is.
    assert.equal(codeOf(await withToken('not-base64!')), 'invalid_token');
    assert.equal(introspections(), 3, 'not one introspection once over the limit');

    // JWTs are verified locally: nothing to guess at the issuer, never throttled.
    assert.equal(codeOf(await withToken(await issuer.mintAccessToken())), 'ok');
    // Another address is not affected.
    assert.equal(codeOf(await withKey(badKey(), '198.51.100.1')), 'invalid_token');
    assert.equal(introspections(), 4);

    clock.advance(20);
    const later = await withKey(badKey());
    assert.equal(later.ok ? undefined : later.response.headers['retry-after'], '40');
    clock.advance(40);
    assert.equal(codeOf(await withKey(badKey())), 'invalid_token', 'a new window once the last one ended');
    assert.equal(introspections(), 5);
  });

  test('verify() is throttled too when given the address', async () => {
    const { authenticator } = setup({ max: 1, window: 60 });
    await assert.rejects(authenticator.verify(badKey(), { apiKey: true, clientIp: ADDRESS }), { code: 'invalid_token' });
    await assert.rejects(authenticator.verify(badKey(), { apiKey: true, clientIp: ADDRESS }), { code: 'too_many_requests', status: 429, retryAfter: 60 });
  });
});

describe('what counts', () => {
  test('an answer cached as active still passes; a repeated bad credential is one failure', async () => {
    const { authenticator, withKey, introspections } = setup();
    const good = issuer.createApiKey({ scopes: ['items'] });
    assert.equal(codeOf(await withKey(good)), 'ok');
    const repeated = badKey();
    for (let index = 0; index < 10; index += 1) assert.equal(codeOf(await withKey(repeated)), 'invalid_token');
    assert.equal(introspections(), 2, 'the repeated key is answered from the negative cache');
    for (let index = 0; index < 2; index += 1) await withKey(badKey());
    assert.equal(codeOf(await withKey(badKey())), 'too_many_requests');
    assert.equal(codeOf(await withKey(repeated)), 'too_many_requests', 'over the limit, a cached bad key gets 429 too');
    // A key already known to be good is answered from the cache, synchronously, as before.
    const cached = authenticator.authenticateNow({ method: 'GET', url: '/items', headers: { 'x-api-key': good }, clientIp: ADDRESS });
    assert.equal(codeOf(cached), 'ok');
  });

  test('concurrent guesses cannot overshoot: an introspection in flight counts until it answers', async () => {
    const { withKey, introspections } = setup();
    const outcomes = await Promise.all(Array.from({ length: 10 }, () => withKey(badKey())));
    assert.deepEqual(
      outcomes.map(codeOf).sort(),
      [...Array<string>(3).fill('invalid_token'), ...Array<string>(7).fill('too_many_requests')].sort(),
    );
    assert.equal(introspections(), 3);
  });

  test('active answers and an unreachable issuer are not failures', async () => {
    const { withKey } = setup({ max: 2, window: 60 });
    for (let index = 0; index < 5; index += 1) assert.equal(codeOf(await withKey(issuer.createApiKey())), 'ok');
    issuer.fail('introspection', 'unavailable');
    try {
      for (let index = 0; index < 5; index += 1) assert.equal(codeOf(await withKey(badKey())), 'temporarily_unavailable');
    } finally {
      issuer.fail('introspection', undefined);
    }
    assert.equal(codeOf(await withKey(badKey())), 'invalid_token');
    assert.equal(codeOf(await withKey(badKey())), 'invalid_token');
    assert.equal(codeOf(await withKey(badKey())), 'too_many_requests');
  });
});

describe('addresses', () => {
  test('IPv6 counts per /64, IPv4-mapped IPv6 as IPv4; without an address nothing is throttled', async () => {
    assert.equal(addressKey('2001:DB8:1:2::1'), '2001:db8:1:2::/64');
    assert.equal(addressKey('2001:0db8:0001:0002:ffff:0:0:9'), '2001:db8:1:2::/64');
    assert.equal(addressKey('fe80::1%eth0'), 'fe80:0:0:0::/64');
    assert.equal(addressKey('::ffff:198.51.100.4'), '198.51.100.4');
    assert.equal(addressKey('198.51.100.4'), '198.51.100.4');

    const { withKey, introspections } = setup({ max: 1, window: 60 });
    assert.equal(codeOf(await withKey(badKey(), '2001:db8:1:2::1')), 'invalid_token');
    assert.equal(codeOf(await withKey(badKey(), '2001:db8:1:2:ffff::9')), 'too_many_requests', 'same /64');
    assert.equal(codeOf(await withKey(badKey(), '2001:db8:1:3::1')), 'invalid_token', 'another /64');
    assert.equal(codeOf(await withKey(badKey(), '::ffff:198.51.100.4')), 'invalid_token');
    assert.equal(codeOf(await withKey(badKey(), '198.51.100.4')), 'too_many_requests', 'the same IPv4 host');
    const before = introspections();
    for (let index = 0; index < 5; index += 1) assert.equal(codeOf(await withKey(badKey(), null)), 'invalid_token');
    assert.equal(introspections(), before + 5);
  });

  test('the /64 prefix is read from any valid IPv6 spelling; anything else counts as the string it is', () => {
    // "::" stands for as many zero groups as are missing, so a long tail moves into the prefix.
    assert.equal(addressKey('2001::1:2:3:4:5:6'), '2001:0:1:2::/64');
    assert.equal(addressKey('::1:2:3:4:5:6:7'), '0:1:2:3::/64');
    assert.equal(addressKey('2001:db8:1:2:3:4:5::'), '2001:db8:1:2::/64');
    // Not IPv6 (two "::", a group that is not hex, nine groups): never merged with another address.
    for (const notIpv6 of ['2001:db8::1::2', '2001:db8::1::3', 'fe80::zz', 'zz::1', '1:2:3:4:5:6:7:8:9', '1:2:3:4::5:6:7:8']) {
      assert.equal(addressKey(notIpv6), notIpv6);
    }
  });

  test('without an address: a good credential passes and a repeated bad one (answered from the cache) is 401', async () => {
    const { withKey, introspections } = setup({ max: 1, window: 60 });
    assert.equal(codeOf(await withKey(issuer.createApiKey(), null)), 'ok');
    const repeated = badKey();
    // Judged as a bad key, not refused as "could not be verified" by a fault in the limit's check.
    for (let index = 0; index < 2; index += 1) {
      const outcome = await withKey(repeated, null);
      assert.equal(outcome.ok ? 'ok' : outcome.error.description, 'The API key is not valid');
    }
    assert.equal(introspections(), 2, 'the repeated key was answered from the negative cache');
  });

  test('memory is bounded: past `addresses`, the least recently seen address is forgotten', async () => {
    const { withKey } = setup({ max: 1, window: 60, addresses: 2 });
    for (const address of ['192.0.2.1', '192.0.2.2']) assert.equal(codeOf(await withKey(badKey(), address)), 'invalid_token');
    assert.equal(codeOf(await withKey(badKey(), '192.0.2.1')), 'too_many_requests');
    assert.equal(codeOf(await withKey(badKey(), '192.0.2.3')), 'invalid_token');
    // .2 was the least recently seen: forgotten to make room for .3.
    assert.equal(codeOf(await withKey(badKey(), '192.0.2.2')), 'invalid_token');
  });

  test('failureLimit: false turns the limit off', async () => {
    const { withKey, authenticator } = setup(false);
    for (let index = 0; index < 30; index += 1) assert.equal(codeOf(await withKey(badKey())), 'invalid_token');
    assert.equal(authenticator.description.failureLimit, false);
  });
});

test('Hono: the address comes from `clientIp` (behind a proxy, the header it sets); none, no throttling', async () => {
  const { authenticator, introspections } = setup({ max: 1, window: 60 });
  // A proxy that puts the client's address in X-Real-IP (and overwrites whatever the client sent).
  const behindProxy = new Hono();
  behindProxy.get('/items', honoGatehouse(authenticator, { clientIp: (c) => c.req.header('x-real-ip') }).requireAuth(), (c) => c.text('ok'));
  const call = (app: Hono, address?: string) =>
    app.request('https://api.example.test/items', { headers: { 'x-api-key': badKey(), ...(address === undefined ? {} : { 'x-real-ip': address }) } });
  assert.equal((await call(behindProxy, '192.0.2.10')).status, 401);
  const throttled = await call(behindProxy, '192.0.2.10');
  assert.deepEqual([throttled.status, throttled.headers.get('retry-after')], [429, '60']);
  assert.equal((await call(behindProxy, '192.0.2.11')).status, 401, 'another client behind the same proxy');

  // app.request() has no socket: without clientIp the default finds no address.
  const noSocket = new Hono();
  noSocket.get('/items', honoGatehouse(authenticator).requireAuth(), (c) => c.text('ok'));
  const before = introspections();
  for (let index = 0; index < 3; index += 1) assert.equal((await call(noSocket)).status, 401);
  assert.equal(introspections(), before + 3);
  assert.throws(() => honoGatehouse(authenticator, { clientIp: 'x-real-ip' as never }), /^TypeError: gatehouse options\.clientIp/);
});
