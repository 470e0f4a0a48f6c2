// SECURITY.md "Token verification (SDK)": algorithms, key sources, kid, iss/aud/exp/nbf, typ,
// signature before claims — through the public authenticator, with a real issuer on 127.0.0.1; the
// pre-checks also against the verifier itself, with a key store that records every lookup.
import assert from 'node:assert/strict';
import { createHmac, createPublicKey } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { exportJWK, generateKeyPair } from 'jose';
import { AuthError, createAuthenticator, type AuthenticatorOptions, type AuthOutcome } from '@gatehouse/sdk';
import { createTestIssuer, encodeSegment, signJws, type TestIssuer } from '@gatehouse/sdk/testing';
import type { KeyStore } from '../src/jwks.ts';
import { createJwtVerifier } from '../src/verify-jwt.ts';
import { bearer, countingFetch, manualClock, request } from './helpers.ts';

let issuer: TestIssuer;
/** One RSA issuer for the whole file: RSA key generation is the slowest thing here. */
let rsaIssuer: TestIssuer;
before(async () => {
  [issuer, rsaIssuer] = await Promise.all([createTestIssuer(), createTestIssuer({ algorithm: 'RS256' })]);
});
after(() => Promise.all([issuer.close(), rsaIssuer.close()]));

/** An authenticator with the issuer's keys configured statically and a fetch that counts. */
function staticAuthenticator(overrides: Partial<AuthenticatorOptions> = {}) {
  const counter = countingFetch();
  const authenticator = createAuthenticator({
    issuer: issuer.issuer,
    audience: issuer.audience,
    algorithms: ['ES256'],
    jwks: issuer.jwks(),
    fetch: counter.fetch,
    tokenCacheSize: 0,
    ...overrides,
  });
  return { authenticator, counter };
}

function assertInvalid(outcome: AuthOutcome, description?: RegExp): void {
  assert.equal(outcome.ok, false, 'expected the token to be refused');
  if (outcome.ok) return;
  assert.equal(outcome.error.code, 'invalid_token');
  assert.equal(outcome.response.status, 401);
  if (description !== undefined) assert.match(outcome.error.description, description);
}

function claims(extra: Record<string, unknown> = {}): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  return { iss: issuer.issuer, aud: issuer.audience, sub: 'user-1', client_id: 'c', exp: now + 300, iat: now, ...extra };
}

describe('algorithms', () => {
  test('alg "none" in any casing, with an empty signature, is refused', async () => {
    const { authenticator } = staticAuthenticator();
    for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
      const token = `${encodeSegment({ alg, typ: 'at+jwt' })}.${encodeSegment(claims())}.`;
      assertInvalid(await authenticator.authenticate(request(bearer(token))), /algorithm/);
    }
    assertInvalid(await authenticator.authenticate(request(bearer(await issuer.mintBadToken('alg_none')))), /algorithm/);
  });

  test('none and HS* cannot even be configured', () => {
    for (const algorithms of [['none'], ['NONE'], ['HS256'], ['ES256', 'hs512'], [], ['XYZ']]) {
      assert.throws(
        () => createAuthenticator({ issuer: issuer.issuer, audience: 'a', algorithms: algorithms as never }),
        (error: unknown) => error instanceof TypeError && /algorithms/.test(error.message),
      );
    }
  });

  test('HS256 with the public key as the HMAC secret (algorithm confusion) is refused', async () => {
    const jwk = rsaIssuer.jwks().keys[0];
    assert.ok(jwk);
    const authenticator = createAuthenticator({ ...rsaIssuer.authenticatorOptions(), jwks: rsaIssuer.jwks(), introspection: undefined });
    // The attacker knows the public key in every form the verifier might hold it in.
    const pem = createPublicKey({ key: jwk as never, format: 'jwk' }).export({ type: 'spki', format: 'pem' }) as string;
    for (const secret of [pem, JSON.stringify(jwk), jwk.n as string]) {
      const header = encodeSegment({ alg: 'HS256', typ: 'at+jwt', kid: jwk.kid });
      const payload = encodeSegment({ ...claims(), iss: rsaIssuer.issuer, aud: rsaIssuer.audience });
      const signature = createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url');
      assertInvalid(await authenticator.authenticate(request(bearer(`${header}.${payload}.${signature}`))), /algorithm/);
    }
    // Sanity: the same authenticator accepts the issuer's real RS256 tokens.
    assert.equal((await authenticator.authenticate(request(bearer(await rsaIssuer.mintAccessToken())))).ok, true);
  });

  test('a validly signed token with an algorithm that is not configured is refused', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES384', { extractable: true });
    const jwk = { ...(await exportJWK(publicKey)), kid: 'p384' };
    const authenticator = createAuthenticator({ issuer: issuer.issuer, audience: issuer.audience, algorithms: ['ES256'], jwks: { keys: [jwk] } });
    const token = await signJws({ alg: 'ES384', typ: 'at+jwt', kid: 'p384' }, claims(), privateKey);
    assertInvalid(await authenticator.authenticate(request(bearer(token))), /algorithm/);
  });

  test('the key type is bound to the algorithm: an EC token cannot use an RSA or wrong-curve key', async () => {
    const p384 = await generateKeyPair('ES384', { extractable: true });
    const keys = [
      { ...rsaIssuer.jwks().keys[0], kid: 'shared' },
      { ...(await exportJWK(p384.publicKey)), kid: 'p384' },
    ];
    const authenticator = createAuthenticator({
      issuer: issuer.issuer,
      audience: issuer.audience,
      algorithms: ['ES256', 'ES384', 'RS256'],
      jwks: { keys },
    });
    // Header says ES256 and names the RSA key's kid: no EC key with that kid exists.
    const p256 = await generateKeyPair('ES256', { extractable: true });
    const viaRsaKid = await signJws({ alg: 'ES256', typ: 'at+jwt', kid: 'shared' }, claims(), p256.privateKey);
    assertInvalid(await authenticator.authenticate(request(bearer(viaRsaKid))), /unknown key/);
    // Header says ES256 but the kid is a P-384 key: ES256 means P-256 only (RFC 7518 §3.4).
    // The binding is checked on the JWK before any import: the key is simply not a candidate.
    const viaWrongCurve = await signJws({ alg: 'ES256', typ: 'at+jwt', kid: 'p384' }, claims(), p384.privateKey);
    assertInvalid(await authenticator.authenticate(request(bearer(viaWrongCurve))), /unknown key/);
    // Header says RS256 and names the EC key: an RSA algorithm never gets an EC key (refused before
    // the signature is even looked at, so any signature bytes do).
    const viaEcKid = `${encodeSegment({ alg: 'RS256', typ: 'at+jwt', kid: 'p384' })}.${encodeSegment(claims())}.${'A'.repeat(342)}`;
    assertInvalid(await authenticator.authenticate(request(bearer(viaEcKid))), /unknown key/);
    // Sanity: the same P-384 key verifies ES384.
    const good = await signJws({ alg: 'ES384', typ: 'at+jwt', kid: 'p384' }, claims(), p384.privateKey);
    assert.equal((await authenticator.authenticate(request(bearer(good)))).ok, true);
  });
});

describe('before any key lookup', () => {
  test('size, shape, strict base64url and the issuer are checked before the key store is asked', async () => {
    const lookups: unknown[] = [];
    const keys: KeyStore = {
      getKey: async (kid) => {
        lookups.push(kid);
        throw new Error('no key lookup expected');
      },
    };
    const verify = createJwtVerifier({
      issuer: issuer.issuer,
      audience: issuer.audience,
      algorithms: ['ES256'],
      keys,
      clockToleranceSec: 5,
      maxTokenLength: 2048,
      now: Date.now,
    });
    const [header, payload, signature] = (await issuer.mintAccessToken()).split('.') as [string, string, string];
    const refused: Record<string, [string, RegExp]> = {
      // verify() and the credential readers cap too; the verifier is safe on its own.
      'over maxTokenLength': [`${header}.${payload}.${signature}${'A'.repeat(2048)}`, /too large/],
      'JWE': [`${header}.${payload}.a.b.${signature}`, /JWE/],
      // atob() (what jose decodes with) ignores whitespace and strips padding: refused here instead.
      'space inside the payload': [`${header}.${payload.slice(0, 10)} ${payload.slice(10)}.${signature}`, /malformed/],
      'padded signature': [`${header}.${payload}.${signature}==`, /malformed/],
      'padded header': [`${header}=.${payload}.${signature}`, /malformed/],
      'standard base64 alphabet': [`${header}.${payload}.${signature.replace(/-/g, '+').replace(/_/g, '/')}+/`, /malformed/],
      'empty header': [`.${payload}.${signature}`, /malformed/],
      'payload not JSON': [`${header}.${encodeSegment('x').slice(0, -1)}.${signature}`, /malformed/],
      'foreign issuer': [`${header}.${encodeSegment({ ...claims(), iss: 'https://evil.example.test' })}.${signature}`, /another issuer/],
    };
    for (const [name, [token, description]] of Object.entries(refused)) {
      await assert.rejects(verify(token), (error: unknown) => {
        assert.ok(error instanceof AuthError, `${name}: ${String(error)}`);
        assert.equal(error.code, 'invalid_token', name);
        assert.match(error.description, description, name);
        return true;
      });
    }
    assert.deepEqual(lookups, []);
  });
});

describe('keys', () => {
  test('a published key verifies only what its JWK allows: alg, use, key_ops (RFC 7517 §4)', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const jwk = await exportJWK(publicKey);
    const variants: Record<string, Record<string, unknown>> = {
      'use enc': { use: 'enc' },
      'key_ops without verify': { key_ops: ['encrypt'] },
      'key_ops not an array': { key_ops: 'verify' },
      'alg ES384': { alg: 'ES384' },
      'alg RS256': { alg: 'RS256' },
    };
    const keys = Object.entries(variants).map(([kid, extra]) => ({ ...jwk, ...extra, kid }));
    keys.push({ ...jwk, alg: 'ES256', use: 'sig', key_ops: ['verify'], kid: 'good' });
    const authenticator = createAuthenticator({ issuer: issuer.issuer, audience: issuer.audience, algorithms: ['ES256'], jwks: { keys } });
    for (const kid of Object.keys(variants)) {
      const token = await signJws({ alg: 'ES256', typ: 'at+jwt', kid }, claims(), privateKey);
      assertInvalid(await authenticator.authenticate(request(bearer(token))), /unknown key/);
    }
    // Sanity: the same key with members that allow ES256 verification.
    const good = await signJws({ alg: 'ES256', typ: 'at+jwt', kid: 'good' }, claims(), privateKey);
    assert.equal((await authenticator.authenticate(request(bearer(good)))).ok, true);
  });

  test('an Ed25519 key named EdDSA verifies Ed25519 tokens and the reverse (RFC 9864); named for another alg, neither', async () => {
    const { privateKey, publicKey } = await generateKeyPair('Ed25519', { extractable: true });
    const jwk = await exportJWK(publicKey);
    const keys = [
      { ...jwk, alg: 'EdDSA', kid: 'named-eddsa' },
      { ...jwk, alg: 'Ed25519', kid: 'named-ed25519' },
      { ...jwk, alg: 'ES256', kid: 'named-es256' },
    ];
    const authenticator = createAuthenticator({ issuer: issuer.issuer, audience: issuer.audience, algorithms: ['EdDSA', 'Ed25519'], jwks: { keys } });
    const check = async (alg: string, kid: string) => authenticator.authenticate(request(bearer(await signJws({ alg, typ: 'at+jwt', kid }, claims(), privateKey))));
    for (const alg of ['EdDSA', 'Ed25519']) {
      for (const kid of ['named-eddsa', 'named-ed25519']) assert.equal((await check(alg, kid)).ok, true, `${alg} with ${kid}`);
      assertInvalid(await check(alg, 'named-es256'), /unknown key/);
    }
  });

  test('an RSA key shorter than 2048 bits is never used (RFC 8725 §3.5)', async () => {
    const rsa = async (modulusLength: number) => {
      const params = { name: 'RSASSA-PKCS1-v1_5', modulusLength, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' };
      const pair = await crypto.subtle.generateKey(params, true, ['sign', 'verify']);
      return { privateKey: pair.privateKey, jwk: { ...(await crypto.subtle.exportKey('jwk', pair.publicKey)), kid: `rsa-${modulusLength}` } };
    };
    const [short, long] = await Promise.all([rsa(1024), rsa(2048)]);
    // Configured statically, the short key is refused at construction, naming it (not silently
    // refusing every token later). Published in a JWKS, it verifies nothing (jwks.test.ts).
    const options = { issuer: issuer.issuer, audience: issuer.audience, algorithms: ['RS256'] } as const;
    assert.throws(
      () => createAuthenticator({ ...options, jwks: { keys: [long.jwk, short.jwk] } }),
      (error: unknown) => error instanceof TypeError && /^jwks\.keys\[1\] \(kid "rsa-1024"\): an RSA key of 1024 bits is too short/.test(error.message),
    );
    const authenticator = createAuthenticator({ ...options, jwks: { keys: [long.jwk] } });
    const weak = await signJws({ alg: 'RS256', typ: 'at+jwt', kid: short.jwk.kid }, claims(), short.privateKey);
    assertInvalid(await authenticator.authenticate(request(bearer(weak))), /unknown key/);
    const strong = await signJws({ alg: 'RS256', typ: 'at+jwt', kid: long.jwk.kid }, claims(), long.privateKey);
    assert.equal((await authenticator.authenticate(request(bearer(strong)))).ok, true);
  });
});

describe('key sources', () => {
  test('jwk, jku, x5u and x5c headers are never followed: zero outbound requests', async () => {
    // An attacker-controlled key server that would serve the attacker's key, if anyone asked.
    const attacker = await generateKeyPair('ES256', { extractable: true });
    const attackerJwk = { ...(await exportJWK(attacker.publicKey)), kid: 'evil', alg: 'ES256', use: 'sig' };
    let attackerHits = 0;
    const server = createServer((_request, response) => {
      attackerHits += 1;
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [attackerJwk] }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const attackerUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`;
    try {
      const { authenticator, counter } = staticAuthenticator();
      const headers = [
        { jwk: attackerJwk },
        { jku: attackerUrl },
        { x5u: attackerUrl },
        { x5c: ['MIIBszCCAVmgAwIBAgIUQ'] },
        { jwk: attackerJwk, jku: attackerUrl, x5u: attackerUrl },
      ];
      for (const extra of headers) {
        const token = await signJws({ alg: 'ES256', typ: 'at+jwt', kid: 'evil', ...extra }, claims(), attacker.privateKey);
        assertInvalid(await authenticator.authenticate(request(bearer(token))));
      }
      assertInvalid(await authenticator.authenticate(request(bearer(await issuer.mintBadToken('embedded_jwk')))));
      assert.equal(counter.count(), 0, 'no outbound request at all with static keys');
      assert.equal(attackerHits, 0, 'the attacker URL was never fetched');

      // With remote keys, the only URLs ever fetched are the configured issuer's.
      const remote = countingFetch();
      const remoteAuthenticator = createAuthenticator({ ...issuer.authenticatorOptions(), fetch: remote.fetch });
      for (const extra of headers) {
        const token = await signJws({ alg: 'ES256', typ: 'at+jwt', kid: 'evil', ...extra }, claims(), attacker.privateKey);
        assertInvalid(await remoteAuthenticator.authenticate(request(bearer(token))));
      }
      assert.ok(remote.urls.every((url) => url.startsWith(`${issuer.issuer}/`)), remote.urls.join(' '));
      assert.equal(attackerHits, 0);
    } finally {
      server.close();
    }
  });

  test('kid is an exact-match lookup key', async () => {
    const { authenticator } = staticAuthenticator();
    const kid = issuer.jwks().keys[0]?.kid as string;
    assert.equal((await authenticator.authenticate(request(bearer(await issuer.mintAccessToken({ header: { kid } }))))).ok, true);
    for (const variant of [kid.toUpperCase(), kid.toLowerCase(), `${kid} `, ` ${kid}`, kid.slice(1), `${kid}x`, '', `${kid}\u0000`]) {
      if (variant === kid) continue;
      const token = await issuer.mintAccessToken({ header: { kid: variant } });
      assertInvalid(await authenticator.authenticate(request(bearer(token))), /unknown key/);
    }
    const numericKid = await issuer.mintAccessToken({ header: { kid: 1 } });
    assertInvalid(await authenticator.authenticate(request(bearer(numericKid))), /malformed/);
  });

  test('the issuer is checked first: a foreign issuer never causes a key lookup or a fetch', async () => {
    const counter = countingFetch();
    const authenticator = createAuthenticator({ ...issuer.authenticatorOptions(), fetch: counter.fetch });
    const token = await issuer.mintAccessToken({ issuer: 'https://evil.example.test', header: { kid: 'never-seen' } });
    assertInvalid(await authenticator.authenticate(request(bearer(token))), /another issuer/);
    assert.equal(counter.count(), 0);
  });

  test('a token signed by an unpublished key that claims the published kid is refused', async () => {
    const { authenticator } = staticAuthenticator();
    assertInvalid(await authenticator.authenticate(request(bearer(await issuer.mintBadToken('foreign_key')))), /signature/);
  });
});

describe('claims', () => {
  test('iss is compared exactly', async () => {
    const { authenticator } = staticAuthenticator();
    for (const iss of [`${issuer.issuer}/`, issuer.issuer.toUpperCase(), issuer.issuer.replace('127.0.0.1', 'localhost'), undefined, 42]) {
      const token = await issuer.mintAccessToken({ claims: { iss } });
      assertInvalid(await authenticator.authenticate(request(bearer(token))), /issuer/);
    }
    // …and the configured issuer must match the discovery document exactly too (see jwks.test.ts).
  });

  test('aud must contain this API exactly', async () => {
    const { authenticator } = staticAuthenticator();
    const aud = issuer.audience;
    for (const ok of [aud, [aud], ['https://other.example.test', aud]]) {
      const token = await issuer.mintAccessToken({ audience: ok });
      assert.equal((await authenticator.authenticate(request(bearer(token)))).ok, true, JSON.stringify(ok));
    }
    for (const bad of [`${aud}/`, aud.toUpperCase(), `${aud}x`, aud.slice(0, -1), ['https://other.example.test'], [], [[aud]]]) {
      const token = await issuer.mintAccessToken({ audience: bad as never });
      assertInvalid(await authenticator.authenticate(request(bearer(token))), /not meant for this API/);
    }
    assertInvalid(await authenticator.authenticate(request(bearer(await issuer.mintAccessToken({ claims: { aud: undefined } })))));
    assertInvalid(await authenticator.authenticate(request(bearer(await issuer.mintBadToken('wrong_audience')))));
  });

  test('exp and nbf are checked with the documented 5 s leeway', async () => {
    const clock = manualClock();
    const { authenticator } = staticAuthenticator({ now: clock.now });
    const t = Math.floor(clock.now() / 1000);
    const at = async (token: string, offset: number): Promise<boolean> => {
      const outcome = await createAuthenticator({
        issuer: issuer.issuer,
        audience: issuer.audience,
        algorithms: ['ES256'],
        jwks: issuer.jwks(),
        tokenCacheSize: 0,
        now: () => (t + offset) * 1000,
      }).authenticate(request(bearer(token)));
      return outcome.ok;
    };
    const expiring = await issuer.mintAccessToken({ claims: { exp: t + 60 } });
    assert.equal(await at(expiring, 59), true);
    assert.equal(await at(expiring, 64), true, 'within the 5 s leeway');
    assert.equal(await at(expiring, 65), false, 'exp <= now - leeway is expired');
    const notYet = await issuer.mintAccessToken({ claims: { nbf: t + 100 } });
    assert.equal(await at(notYet, 95), true, 'within the 5 s leeway');
    assert.equal(await at(notYet, 94), false);
    assertInvalid(await authenticator.authenticate(request(bearer(await issuer.mintAccessToken({ claims: { exp: undefined } })))), /expiry/);
    assertInvalid(await authenticator.authenticate(request(bearer(await issuer.mintAccessToken({ claims: { exp: '9999999999' } })))), /expiry/);
    assertInvalid(await authenticator.authenticate(request(bearer(await issuer.mintBadToken('expired')))), /expired/);
    assertInvalid(await authenticator.authenticate(request(bearer(await issuer.mintBadToken('not_yet_valid')))), /not valid yet/);
    assert.throws(() => staticAuthenticator({ clockTolerance: -1 }), /clockTolerance/);
  });

  test('a token issued in the future (beyond the leeway) is refused, as RFC 9068 profiles do', async () => {
    const t = Math.floor(Date.now() / 1000);
    const at = async (token: string, offset: number) =>
      createAuthenticator({
        issuer: issuer.issuer,
        audience: issuer.audience,
        algorithms: ['ES256'],
        jwks: issuer.jwks(),
        tokenCacheSize: 0,
        now: () => (t + offset) * 1000,
      }).authenticate(request(bearer(token)));
    const future = await issuer.mintAccessToken({ claims: { iat: t + 60, exp: t + 3600 } });
    assertInvalid(await at(future, 0), /issued in the future/);
    assertInvalid(await at(future, 54), /issued in the future/);
    assert.equal((await at(future, 55)).ok, true, 'within the 5 s leeway');
    assert.equal((await at(await issuer.mintAccessToken({ claims: { iat: undefined } }), 0)).ok, true, 'iat is optional (RFC 9068 requires it of issuers, not of us)');
  });

  test('the signature is checked before any claim', async () => {
    const { authenticator } = staticAuthenticator();
    const breakSignature = (token: string): string => {
      const index = token.lastIndexOf('.') + 10;
      return token.slice(0, index) + (token[index] === 'A' ? 'B' : 'A') + token.slice(index + 1);
    };
    for (const kind of ['expired', 'wrong_audience', 'not_yet_valid', 'wrong_typ'] as const) {
      const broken = breakSignature(await issuer.mintBadToken(kind));
      assertInvalid(await authenticator.authenticate(request(bearer(broken))), /signature is invalid/);
    }
  });

  test('typ must be at+jwt (RFC 9068 §4): an ID token is not an access token', async () => {
    const { authenticator } = staticAuthenticator();
    for (const typ of ['at+jwt', 'application/at+jwt', 'AT+JWT', 'Application/At+Jwt']) {
      const outcome = await authenticator.authenticate(request(bearer(await issuer.mintAccessToken({ header: { typ } }))));
      assert.equal(outcome.ok, true, typ);
    }
    for (const typ of ['JWT', 'jwt', 'application/jwt', 'at+jwt ', 'id_token', '', undefined, 1]) {
      const token = await issuer.mintAccessToken({ header: { typ } });
      assertInvalid(await authenticator.authenticate(request(bearer(token))), /not an access token/);
    }
    assertInvalid(await authenticator.authenticate(request(bearer(await issuer.mintBadToken('id_token')))));
  });

  test('a critical header extension is refused (RFC 7515 §4.1.11)', async () => {
    const { authenticator } = staticAuthenticator();
    for (const header of [{ crit: ['exp'], exp: 1 }, { b64: false, crit: ['b64'] }, { b64: true }]) {
      const token = await issuer.mintAccessToken({ header });
      assertInvalid(await authenticator.authenticate(request(bearer(token))), /extension/);
    }
  });

  test('claims the principal is built from must have the right types', async () => {
    const { authenticator } = staticAuthenticator();
    for (const bad of [{ sub: 42 }, { client_id: ['a'] }, { jti: 7 }, { scope: ['items'] }, { iat: 'now' }, { scp: [1] }]) {
      assertInvalid(await authenticator.authenticate(request(bearer(await issuer.mintAccessToken({ claims: bad })))), /malformed/);
    }
    assertInvalid(await authenticator.authenticate(request(bearer(await issuer.mintAccessToken({ audience: [issuer.audience, 7] as never })))), /not meant/);
    // JSON's 1e400 is Infinity: a number to jose, but a token that would never expire.
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const withKey = createAuthenticator({
      issuer: issuer.issuer,
      audience: issuer.audience,
      algorithms: ['ES256'],
      jwks: { keys: [{ ...(await exportJWK(publicKey)), kid: 'k' }] },
    });
    const signRaw = async (payloadJson: string): Promise<string> => {
      const input = `${encodeSegment({ alg: 'ES256', typ: 'at+jwt', kid: 'k' })}.${Buffer.from(payloadJson).toString('base64url')}`;
      const signature = await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, privateKey, new TextEncoder().encode(input));
      return `${input}.${Buffer.from(signature).toString('base64url')}`;
    };
    const json = JSON.stringify(claims());
    assert.equal((await withKey.authenticate(request(bearer(await signRaw(json))))).ok, true);
    assertInvalid(await withKey.authenticate(request(bearer(await signRaw(json.replace(/"exp":\d+/, '"exp":1e400'))))), /expiry/);
    assertInvalid(await withKey.authenticate(request(bearer(await signRaw(json.replace(/"iat":\d+/, '"iat":-1e400'))))), /malformed/);
  });
});
