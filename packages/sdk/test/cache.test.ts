// The verified-JWT cache: a reused token is verified once, never served past its exp, bounded.
import assert from 'node:assert/strict';
import { after, before, test, type TestContext } from 'node:test';
import { createAuthenticator, type AuthenticatorOptions } from '@gatehouse/sdk';
import { createTestIssuer, type TestIssuer } from '@gatehouse/sdk/testing';
import { LruCache } from '../src/lru.ts';
import { bearer, manualClock, request } from './helpers.ts';

let issuer: TestIssuer;
before(async () => {
  issuer = await createTestIssuer();
});
after(() => issuer.close());

/** Counts signature verifications: jose's WebCrypto call. */
function countVerifications(t: TestContext): () => number {
  const subtle = t.mock.method(crypto.subtle, 'verify');
  return () => subtle.mock.callCount();
}

function setup(overrides: Partial<AuthenticatorOptions> = {}) {
  const clock = manualClock();
  const authenticator = createAuthenticator({
    issuer: issuer.issuer,
    audience: issuer.audience,
    algorithms: ['ES256'],
    jwks: issuer.jwks(),
    now: clock.now,
    ...overrides,
  });
  return { clock, check: (token: string) => authenticator.authenticate(request(bearer(token)), { scopes: ['items'] }) };
}

test('a reused token is verified once', async (t) => {
  const verifications = countVerifications(t);
  const { check } = setup();
  const token = await issuer.mintAccessToken({ scopes: ['items'] });
  for (let index = 0; index < 5; index += 1) assert.equal((await check(token)).ok, true);
  assert.equal(verifications(), 1);
  // The requirement is still checked on every request, cached or not.
  const other = await issuer.mintAccessToken({ scopes: ['me'] });
  assert.equal((await check(other)).ok, false);
  assert.equal((await check(other)).ok, false);
});

test('a cached token is never served past its exp', async () => {
  const { check, clock } = setup({ clockTolerance: 0 });
  const t = Math.floor(clock.now() / 1000);
  const token = await issuer.mintAccessToken({ scopes: ['items'], claims: { exp: t + 10 } });
  assert.equal((await check(token)).ok, true);
  clock.advance(9);
  assert.equal((await check(token)).ok, true);
  clock.advance(1);
  const outcome = await check(token);
  assert.equal(outcome.ok ? 'ok' : outcome.error.description, 'The access token has expired');
});

test('the cache is bounded (least recently used goes first); size 0 disables it', async (t) => {
  const verifications = countVerifications(t);
  const { check } = setup({ tokenCacheSize: 2 });
  const [a, b, c] = await Promise.all([1, 2, 3].map(() => issuer.mintAccessToken({ scopes: ['items'] })));
  for (const token of [a, b, a, c, a, b] as string[]) await check(token);
  // a, b, (a hit), c evicts b, (a hit), b again → 4 verifications.
  assert.equal(verifications(), 4);

  const disabled = setup({ tokenCacheSize: 0 });
  for (let index = 0; index < 3; index += 1) await disabled.check(a as string);
  assert.equal(verifications(), 7);
});

test('LruCache: expiry, recency, bound', () => {
  const cache = new LruCache<number>(2);
  cache.set('a', 1, 100, 0);
  cache.set('b', 2, 100, 0);
  assert.equal(cache.get('a', 50), 1); // a is now the most recent
  cache.set('c', 3, 100, 0); // evicts b
  assert.equal(cache.get('b', 50), undefined);
  assert.equal(cache.get('a', 99), 1);
  assert.equal(cache.get('a', 100), undefined, 'expired at expiresAt');
  cache.set('d', 4, 10, 20);
  assert.equal(cache.get('d', 20), undefined, 'an already-expired value is not stored');
  assert.ok(cache.size <= 2);
  // Setting a stored key again makes it the most recent, like reading it does.
  const resets = new LruCache<number>(2);
  resets.set('a', 1, 100, 0);
  resets.set('b', 2, 100, 0);
  resets.set('a', 3, 100, 0);
  resets.set('c', 4, 100, 0); // evicts b, the least recently used
  assert.deepEqual([resets.get('a', 0), resets.get('b', 0), resets.get('c', 0)], [3, undefined, 4]);
});

test('LruCache.deleteWhere removes what matches, and only that: a revoked subject\'s tokens go', () => {
  const cache = new LruCache<{ sub: string }>(4);
  for (const [key, sub] of [['t1', 'alice'], ['t2', 'bob'], ['t3', 'alice'], ['t4', 'carol']] as const) cache.set(key, { sub }, 100, 0);
  assert.equal(cache.deleteWhere((value) => value.sub === 'alice'), 2);
  assert.equal(cache.size, 2);
  assert.deepEqual(['t1', 't2', 't3', 't4'].map((key) => cache.get(key, 0)?.sub), [undefined, 'bob', undefined, 'carol']);
  // The order of the rest is intact: two more entries evict bob first, then carol.
  cache.set('t5', { sub: 'dave' }, 100, 0);
  cache.set('t6', { sub: 'erin' }, 100, 0);
  cache.set('t7', { sub: 'frank' }, 100, 0);
  assert.equal(cache.get('t2', 0), undefined);
  assert.equal(cache.get('t4', 0)?.sub, 'carol');
});

test('LruCache behaves like a reference LRU over thousands of random operations', () => {
  // The reference: an array in recency order (last = most recent), filtered by expiry.
  // A 32-bit LCG in integer arithmetic, drawing from its high bits: the same formula in floating
  // point loses its low bits past 2^53 and picked the same key 99% of the time.
  let seed = 42;
  const random = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return (seed >>> 16) % n;
  };
  for (const max of [1, 2, 5]) {
    const cache = new LruCache<number>(max);
    let reference: { key: string; value: number; expiresAt: number }[] = [];
    let now = 0;
    for (let step = 0; step < 5000; step++) {
      now += random(3);
      const key = `k${random(8)}`;
      const operation = random(3);
      if (operation === 0) {
        const expiresAt = now + 1 + random(20);
        cache.set(key, step, expiresAt, now);
        reference = reference.filter((e) => e.key !== key);
        reference.push({ key, value: step, expiresAt });
        while (reference.length > max) reference.shift();
      } else if (operation === 1) {
        const index = reference.findIndex((e) => e.key === key);
        let expected: number | undefined;
        if (index !== -1) {
          const [entry] = reference.splice(index, 1);
          if (now < entry!.expiresAt) {
            expected = entry!.value;
            reference.push(entry!);
          }
        }
        assert.equal(cache.get(key, now), expected, `step ${step}: get ${key}`);
      } else {
        cache.delete(key);
        reference = reference.filter((e) => e.key !== key);
      }
      assert.ok(cache.size <= max);
    }
  }
});
