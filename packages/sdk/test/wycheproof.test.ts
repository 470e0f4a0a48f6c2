// SECURITY.md: "Invalid ECDSA signatures, including all-zero (r = s = 0) ones, are rejected (run
// published test vectors)." Project Wycheproof's P-256/SHA-256 vectors in the IEEE P1363 form JWS
// uses (RFC 7518 §3.4), run through the SDK's own signature step, then through whole tokens.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { createAuthenticator } from '@gatehouse/sdk';
import { createTestIssuer } from '@gatehouse/sdk/testing';
import { importVerifyKey, verifySignature, type PublicJwk } from '../src/signature.ts';
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
  publicKeyJwk?: PublicJwk;
  tests: Vector[];
}

const fixture = JSON.parse(
  readFileSync(new URL('./fixtures/wycheproof-ecdsa-secp256r1-sha256-p1363.json', import.meta.url), 'utf8'),
) as { source: string; testGroups: Group[] };

const hex = (value: string): Uint8Array<ArrayBuffer> => Uint8Array.from(Buffer.from(value, 'hex'));

/** wx/wy are published as big-endian integers (sometimes with a leading 00 sign byte). */
function coordinate(value: string): string {
  const bytes = Buffer.from(value.replace(/^(00)+/, '').padStart(64, '0'), 'hex');
  assert.equal(bytes.length, 32);
  return bytes.toString('base64url');
}

function jwkOf(group: Group): PublicJwk {
  if (group.publicKeyJwk !== undefined) return { kty: 'EC', crv: 'P-256', x: group.publicKeyJwk['x'], y: group.publicKeyJwk['y'] };
  assert.ok(group.publicKey);
  return { kty: 'EC', crv: 'P-256', x: coordinate(group.publicKey.wx), y: coordinate(group.publicKey.wy) };
}

test(`Wycheproof ECDSA P-256 SHA-256 P1363 vectors (${fixture.source})`, async () => {
  const seen = { valid: 0, invalid: 0 };
  for (const group of fixture.testGroups) {
    const key = await importVerifyKey(jwkOf(group), 'ES256');
    for (const vector of group.tests) {
      const verified = await verifySignature('ES256', key, hex(vector.msg), hex(vector.sig));
      if (vector.result === 'acceptable') continue;
      seen[vector.result] += 1;
      assert.equal(verified, vector.result === 'valid', `tcId ${vector.tcId} (${vector.comment}) should be ${vector.result}`);
    }
  }
  // Not vacuous: both kinds ran, including the all-zero signature (tcId 11).
  assert.ok(seen.valid >= 15 && seen.invalid >= 30, JSON.stringify(seen));
  assert.ok(fixture.testGroups.some((group) => group.tests.some((vector) => vector.tcId === 11 && /^0+$/.test(vector.sig))));
});

test('an ECDSA signature that is not exactly 2 × 32 bytes (P1363) is refused before WebCrypto sees it', async (t) => {
  const group = fixture.testGroups[0] as Group;
  const key = await importVerifyKey(jwkOf(group), 'ES256');
  const valid = group.tests.find((vector) => vector.tcId === 1) as Vector;
  const verify = t.mock.method(crypto.subtle, 'verify');
  const signature = hex(valid.sig);
  for (const wrong of [signature.slice(0, 63), Uint8Array.from([...signature, 0]), Uint8Array.from([0, ...signature]), new Uint8Array(0)]) {
    assert.equal(await verifySignature('ES256', key, hex(valid.msg), wrong), false);
  }
  assert.equal(verify.mock.callCount(), 0);
  assert.equal(await verifySignature('ES256', key, hex(valid.msg), signature), true);
  assert.equal(verify.mock.callCount(), 1);
});

test('whole tokens carrying the special-case signatures (r = s = 0, r = n, …) are refused with 401', async () => {
  const issuer = await createTestIssuer();
  try {
    const authenticator = createAuthenticator({ issuer: issuer.issuer, audience: issuer.audience, algorithms: ['ES256'], jwks: issuer.jwks() });
    const token = await issuer.mintAccessToken();
    const signingInput = token.slice(0, token.lastIndexOf('.'));
    assert.equal((await authenticator.authenticate(request(bearer(token)))).ok, true);
    // These signatures do not depend on the key or message, so they apply to any token.
    const special = fixture.testGroups.flatMap((group) => group.tests).filter((vector) => vector.flags.includes('InvalidSignature'));
    assert.ok(special.length >= 15);
    for (const vector of special) {
      const forged = `${signingInput}.${Buffer.from(vector.sig, 'hex').toString('base64url')}`;
      const outcome = await authenticator.authenticate(request(bearer(forged)));
      assert.equal(outcome.ok ? 'accepted' : outcome.error.code, 'invalid_token', `tcId ${vector.tcId} ${vector.comment}`);
    }
  } finally {
    await issuer.close();
  }
});
