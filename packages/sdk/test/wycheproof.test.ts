// SECURITY.md: "Invalid ECDSA signatures, including all-zero (r = s = 0) ones, are rejected (run
// published test vectors)." Project Wycheproof's P-256/SHA-256 vectors in the IEEE P1363 form JWS
// uses (RFC 7518 §3.4). jose verifies JWS only, not arbitrary messages, so: every vector goes
// through crypto.subtle.verify, the primitive jose calls (jose/dist/webapi/lib/jws_verify.js), to
// prove the fixture exact; then every invalid signature rides on a real ES256 JWT through the
// authenticator, whose key set is the vector's own public key.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { importJWK } from 'jose';
import { createAuthenticator, type Authenticator } from '@gatehouse/sdk';
import { createTestIssuer, encodeSegment } from '@gatehouse/sdk/testing';
import { bearer, request } from './helpers.ts';

interface Vector {
  tcId: number;
  comment: string;
  flags: string[];
  msg: string;
  sig: string;
  result: 'valid' | 'invalid' | 'acceptable';
}
interface Group {
  publicKey?: { wx: string; wy: string };
  publicKeyJwk?: { x: string; y: string };
  tests: Vector[];
}

const fixture = JSON.parse(
  readFileSync(new URL('./fixtures/wycheproof-ecdsa-secp256r1-sha256-p1363.json', import.meta.url), 'utf8'),
) as { source: string; testGroups: Group[] };

const ISSUER = 'https://issuer.example.test';
const AUDIENCE = 'https://api.example.test';
/** ES256 as jose hands it to WebCrypto (jose/dist/webapi/lib/jws_algorithms.js). */
const ES256 = { name: 'ECDSA', hash: 'SHA-256' } as const;

const hex = (value: string): Uint8Array<ArrayBuffer> => Uint8Array.from(Buffer.from(value, 'hex'));

/** wx/wy are published as big-endian integers (sometimes with a leading 00 sign byte). */
function coordinate(value: string): string {
  const bytes = Buffer.from(value.replace(/^(00)+/, '').padStart(64, '0'), 'hex');
  assert.equal(bytes.length, 32);
  return bytes.toString('base64url');
}

function jwkOf(group: Group): { kty: 'EC'; crv: 'P-256'; x: string; y: string } {
  if (group.publicKeyJwk !== undefined) return { kty: 'EC', crv: 'P-256', x: group.publicKeyJwk.x, y: group.publicKeyJwk.y };
  assert.ok(group.publicKey);
  return { kty: 'EC', crv: 'P-256', x: coordinate(group.publicKey.wx), y: coordinate(group.publicKey.wy) };
}

/** An ES256 access token for ISSUER/AUDIENCE naming `kid`, carrying `signature` as is. */
function tokenWith(kid: string, signature: Uint8Array): string {
  const now = Math.floor(Date.now() / 1000);
  const header = encodeSegment({ alg: 'ES256', typ: 'at+jwt', kid });
  const payload = encodeSegment({ iss: ISSUER, aud: AUDIENCE, sub: 'user-1', client_id: 'c', exp: now + 300, iat: now });
  return `${header}.${payload}.${Buffer.from(signature).toString('base64url')}`;
}

async function descriptionOf(authenticator: Authenticator, token: string): Promise<string> {
  const outcome = await authenticator.authenticate(request(bearer(token)));
  if (outcome.ok) return 'accepted';
  assert.equal(outcome.response.status, 401);
  return `${outcome.error.code}: ${outcome.error.description}`;
}

const REFUSED = 'invalid_token: The access token signature is invalid';

test(`Wycheproof ECDSA P-256 SHA-256 P1363 vectors through crypto.subtle.verify (${fixture.source})`, async () => {
  const seen = { valid: 0, invalid: 0 };
  for (const group of fixture.testGroups) {
    const key = await importJWK(jwkOf(group), 'ES256');
    assert.ok(key instanceof CryptoKey);
    for (const vector of group.tests) {
      const verified = await crypto.subtle.verify(ES256, key, hex(vector.sig), hex(vector.msg)).catch(() => false);
      if (vector.result === 'acceptable') continue;
      seen[vector.result] += 1;
      assert.equal(verified, vector.result === 'valid', `tcId ${vector.tcId} (${vector.comment}) should be ${vector.result}`);
    }
  }
  // Not vacuous: both kinds ran, including the all-zero signature (tcId 11).
  assert.ok(seen.valid >= 15 && seen.invalid >= 30, JSON.stringify(seen));
  assert.ok(fixture.testGroups.some((group) => group.tests.some((vector) => vector.tcId === 11 && /^0+$/.test(vector.sig))));

  // RFC 7518 §3.4: an ES256 signature is exactly 64 bytes; a valid one cut, padded or shifted fails.
  const group = fixture.testGroups[0] as Group;
  const key = await importJWK(jwkOf(group), 'ES256');
  const valid = group.tests.find((vector) => vector.tcId === 1) as Vector;
  const signature = hex(valid.sig);
  for (const wrong of [signature.slice(0, 63), Uint8Array.from([...signature, 0]), Uint8Array.from([0, ...signature]), new Uint8Array(0)]) {
    assert.equal(await crypto.subtle.verify(ES256, key as CryptoKey, wrong, hex(valid.msg)).catch(() => false), false);
  }
});

test('every invalid vector signature on a real ES256 JWT, with the vector key as the issuer key set, is a 401', async () => {
  // One kid per group: the vector's public key is the only key the authenticator knows.
  const keys = fixture.testGroups.map((group, index) => ({ ...jwkOf(group), kid: `wycheproof-${index}`, alg: 'ES256', use: 'sig' }));
  const authenticator = createAuthenticator({ issuer: ISSUER, audience: AUDIENCE, algorithms: ['ES256'], jwks: { keys } });
  let checked = 0;
  for (const [index, group] of fixture.testGroups.entries()) {
    for (const vector of group.tests.filter((candidate) => candidate.result === 'invalid')) {
      // The exact description proves the key was found, imported and the signature really checked.
      assert.equal(await descriptionOf(authenticator, tokenWith(`wycheproof-${index}`, hex(vector.sig))), REFUSED, `tcId ${vector.tcId} ${vector.comment}`);
      checked += 1;
    }
  }
  assert.ok(checked >= 30, `${checked} invalid vectors`);
});

test('r = s = 0 and the other key-independent special signatures are refused on a real token', async () => {
  const issuer = await createTestIssuer();
  try {
    const authenticator = createAuthenticator({ issuer: issuer.issuer, audience: issuer.audience, algorithms: ['ES256'], jwks: issuer.jwks() });
    const token = await issuer.mintAccessToken();
    const signingInput = token.slice(0, token.lastIndexOf('.'));
    assert.equal((await authenticator.authenticate(request(bearer(token)))).ok, true);
    // The all-zero signature, explicitly: r = 0 and s = 0 (64 zero bytes, RFC 7518 §3.4 layout).
    assert.equal(await descriptionOf(authenticator, `${signingInput}.${'A'.repeat(86)}`), REFUSED);
    // These signatures (r or s = 0, 1, n, n - 1, p, …) do not depend on the key or message.
    const special = fixture.testGroups.flatMap((group) => group.tests).filter((vector) => vector.flags.includes('InvalidSignature'));
    assert.ok(special.length >= 15);
    for (const vector of special) {
      const forged = `${signingInput}.${Buffer.from(vector.sig, 'hex').toString('base64url')}`;
      assert.equal(await descriptionOf(authenticator, forged), REFUSED, `tcId ${vector.tcId} ${vector.comment}`);
    }
  } finally {
    await issuer.close();
  }
});
