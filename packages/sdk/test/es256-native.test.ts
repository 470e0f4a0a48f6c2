// Issue 14: ordinary ES256 tokens are verified with node:crypto (src/es256.ts) instead of jose's
// WebCrypto call. The native path must give jose's answer for every token: this file sends a corpus
// of tokens — every header, claim and signature edge jose checks, alone and combined — through
// the verifier twice, once as built (native) and once with `native: false` (jose for everything),
// and requires the same outcome: the same claims, or the same refusal. It also proves the native
// path is taken, so the comparison compares something.
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { test } from 'node:test';
import { AuthError } from '@gatehouse/sdk';
import { StaticKeys } from '../src/jwks.ts';
import { nativeEs256, ordinaryEs256Header, validateClaims } from '../src/es256.ts';
import { createJwtVerifier, type JwtVerifyContext } from '../src/verify-jwt.ts';

const ISSUER = 'https://issuer.example.test';
const AUDIENCE = 'https://api.example.test';
const NOW = 1_800_000_000;
const TOLERANCE = 30;

const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'ES256', use: 'sig' };

const segment = (value: unknown): string => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

function signed(header: string, payload: string, key: KeyObject = privateKey): string {
  const input = `${header}.${payload}`;
  return `${input}.${sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
}

const HEADER = { alg: 'ES256', typ: 'at+jwt', kid: 'k1' };
const CLAIMS = { iss: ISSUER, aud: AUDIENCE, sub: 'user-1', client_id: 'c', jti: 'j', scope: 'items', exp: NOW + 300, iat: NOW };

function corpus(): Array<[string, string]> {
  const cases: Array<[string, string]> = [];
  const add = (name: string, header: unknown, claims: unknown, key?: KeyObject) => cases.push([name, signed(segment(header), segment(claims), key)]);

  add('ordinary', HEADER, CLAIMS);
  // Header.
  for (const typ of ['AT+JWT', 'application/at+jwt', 'Application/At+Jwt', 'JWT', 'jwt', 'at+jwt ', 'application/jwt', '', 42, null, ['at+jwt']]) {
    add(`typ ${JSON.stringify(typ)}`, { ...HEADER, typ }, CLAIMS);
  }
  add('no typ', { alg: 'ES256', kid: 'k1' }, CLAIMS);
  add('no kid', { alg: 'ES256', typ: 'at+jwt' }, CLAIMS);
  add('unknown kid', { ...HEADER, kid: 'k2' }, CLAIMS);
  add('kid a number', { ...HEADER, kid: 1 }, CLAIMS);
  add('kid null', { ...HEADER, kid: null }, CLAIMS);
  add('crit exp', { ...HEADER, crit: ['exp'] }, CLAIMS);
  add('crit empty', { ...HEADER, crit: [] }, CLAIMS);
  add('crit b64', { ...HEADER, crit: ['b64'], b64: false }, CLAIMS);
  add('b64 true', { ...HEADER, b64: true }, CLAIMS);
  for (const alg of ['ES384', 'es256', 'none', 'HS256', 'RS256', null]) add(`alg ${String(alg)}`, { ...HEADER, alg }, CLAIMS);
  add('no alg', { typ: 'at+jwt', kid: 'k1' }, CLAIMS);
  add('jwk in header', { ...HEADER, jwk: other.publicKey.export({ format: 'jwk' }) }, CLAIMS);
  add('header an array', [HEADER], CLAIMS);
  add('header null', null, CLAIMS);
  cases.push(['header not JSON', signed(segment('{"alg":"ES256",'), segment(CLAIMS))]);
  cases.push(['header not UTF-8', signed(Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]).toString('base64url'), segment(CLAIMS))]);
  // An ordinary header but for one byte that is not UTF-8, inside a string: jose refuses the header.
  const ordinaryButOneByte = Buffer.concat([Buffer.from('{"alg":"ES256","typ":"at+jwt","kid":"k1","x":"'), Buffer.from([0xff]), Buffer.from('"}')]);
  cases.push(['ordinary header with a byte that is not UTF-8', signed(ordinaryButOneByte.toString('base64url'), segment(CLAIMS))]);
  cases.push(['duplicate alg member', signed(segment('{"alg":"none","typ":"at+jwt","kid":"k1","alg":"ES256"}'), segment(CLAIMS))]);
  cases.push(['__proto__ in header', signed(segment('{"alg":"ES256","typ":"at+jwt","kid":"k1","__proto__":{"crit":["x"]}}'), segment(CLAIMS))]);

  // Claims.
  const without = (claim: string) => Object.fromEntries(Object.entries(CLAIMS).filter(([name]) => name !== claim));
  for (const claim of ['iss', 'aud', 'exp', 'iat', 'sub', 'jti', 'scope', 'client_id']) add(`no ${claim}`, HEADER, without(claim));
  const variants: Record<string, unknown[]> = {
    iss: [`${ISSUER}/`, ISSUER.toUpperCase(), [ISSUER], null],
    aud: ['https://other.example.test', [AUDIENCE], ['x', AUDIENCE], ['x'], [], 42, [42], null, `${AUDIENCE}/`],
    exp: [NOW, NOW - TOLERANCE, NOW - TOLERANCE + 1, NOW - TOLERANCE - 1, NOW + 0.5, '1800000300', null, -1, 0],
    nbf: [NOW, NOW + TOLERANCE, NOW + TOLERANCE + 1, NOW + TOLERANCE + 0.5, 'soon', null],
    iat: [NOW + TOLERANCE, NOW + TOLERANCE + 1, 'now', null, -5],
    sub: [42, null, ''],
    client_id: [42, ['c']],
    jti: [1],
    scope: [42, ['items'], 'items  admin', ''],
  };
  for (const [claim, values] of Object.entries(variants)) {
    for (const value of values) add(`${claim} ${JSON.stringify(value)}`, HEADER, { ...CLAIMS, [claim]: value });
  }
  // Two faults at once: jose's order decides which is reported.
  add('bad typ and expired', { ...HEADER, typ: 'JWT' }, { ...CLAIMS, exp: NOW - 1000 });
  add('no aud and expired', HEADER, { ...without('aud'), exp: NOW - 1000 });
  add('no aud and no exp', HEADER, Object.fromEntries(Object.entries(CLAIMS).filter(([name]) => name !== 'aud' && name !== 'exp')));
  add('other aud and not yet valid', HEADER, { ...CLAIMS, aud: 'x', nbf: NOW + 1000 });
  add('iat a string and expired', HEADER, { ...CLAIMS, iat: 'x', exp: NOW - 1000 });
  add('nbf future and expired', HEADER, { ...CLAIMS, nbf: NOW + 1000, exp: NOW - 1000 });
  cases.push(['exp 1e400', signed(segment(HEADER), segment(JSON.stringify(CLAIMS).replace(`"exp":${NOW + 300}`, '"exp":1e400')))]);
  for (const claims of [[CLAIMS], null, 'claims', 42]) add(`claims ${JSON.stringify(claims).slice(0, 20)}`, HEADER, claims);
  cases.push(['claims not UTF-8', signed(segment(HEADER), Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xc3, 0x28, 0x22, 0x7d]).toString('base64url'))]);
  cases.push(['__proto__ in claims', signed(segment(HEADER), segment(JSON.stringify(CLAIMS).replace('{', '{"__proto__":{"aud":"x"},')))]);

  // Signatures.
  const good = signed(segment(HEADER), segment(CLAIMS));
  const [h, p, s] = good.split('.') as [string, string, string];
  const bytes = Buffer.from(s, 'base64url');
  const flipped = Buffer.from(bytes);
  flipped[10]! ^= 1;
  cases.push(['signature with a flipped bit', `${h}.${p}.${flipped.toString('base64url')}`]);
  cases.push(['signature all zeros', `${h}.${p}.${Buffer.alloc(64).toString('base64url')}`]);
  cases.push(['signature 63 bytes', `${h}.${p}.${bytes.subarray(0, 63).toString('base64url')}`]);
  cases.push(['signature 65 bytes', `${h}.${p}.${Buffer.concat([bytes, Buffer.from([0])]).toString('base64url')}`]);
  cases.push(['signature plus a character', `${h}.${p}.${s}A`]);
  cases.push(['signature minus a character', `${h}.${p}.${s.slice(0, -1)}`]);
  cases.push(['signature empty', `${h}.${p}.`]);
  cases.push(['signature DER-encoded', `${h}.${p}.${sign('sha256', Buffer.from(`${h}.${p}`), privateKey).toString('base64url')}`]);
  cases.push(['signature of another key', signed(h, p, other.privateKey)]);
  cases.push(['payload swapped', `${h}.${segment({ ...CLAIMS, scope: 'admin' })}.${s}`]);
  cases.push(['header swapped', `${segment({ ...HEADER, typ: 'AT+JWT' })}.${p}.${s}`]);
  const last = s.at(-1)!;
  const sibling = 'AEIMQUYcgkosw048'.split('').find((c) => c !== last && Math.floor('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.indexOf(c) / 16) === Math.floor('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.indexOf(last) / 16));
  if (sibling) cases.push(['signature with non-canonical last character', `${h}.${p}.${s.slice(0, -1)}${sibling}`]);
  // A header of 4n characters plus one more, signed as such: only its shape is wrong.
  const even = [0, 1, 2, 3].map((pad) => segment({ ...HEADER, x: 'y'.repeat(pad) })).find((header) => header.length % 4 === 0)!;
  cases.push(['header segment 4n+1 characters', signed(`${even}A`, p)]);
  cases.push(['payload segment 4n+1 characters', `${h}.${p}A.${s}`]);
  cases.push(['bad signature and expired', `${h}.${segment({ ...CLAIMS, exp: NOW - 1000 })}.${s}`]);
  return cases;
}

type Outcome = { ok: true; claims: unknown; scopes: string[] } | { ok: false; error: string };

async function outcomeOf(verify: (token: string) => Promise<{ claims: unknown; scopes: ReadonlySet<string> }>, token: string): Promise<Outcome> {
  try {
    const { claims, scopes } = await verify(token);
    return { ok: true, claims, scopes: [...scopes].sort() };
  } catch (error) {
    return { ok: false, error: error instanceof AuthError ? `${error.code}: ${error.description}` : `${(error as Error).constructor.name}: ${(error as Error).message}` };
  }
}

function context(): JwtVerifyContext {
  return {
    issuer: ISSUER,
    audience: AUDIENCE,
    algorithms: ['ES256'],
    keys: new StaticKeys({ keys: [jwk] }, () => {}),
    clockToleranceSec: TOLERANCE,
    maxTokenLength: 8192,
    now: () => NOW * 1000 + 250,
  };
}

test('node:crypto is available here, so ordinary ES256 tokens take the native path', () => {
  assert.ok(nativeEs256, 'process.getBuiltinModule("node:crypto") should be there on Node 24');
  assert.ok(ordinaryEs256Header(signed(segment(HEADER), segment(CLAIMS))));
  assert.equal(ordinaryEs256Header(signed(segment({ ...HEADER, crit: ['x'] }), segment(CLAIMS))), undefined);
  // A header without kid is ordinary too (a key set of one key).
  assert.deepEqual(ordinaryEs256Header(signed(segment({ alg: 'ES256', typ: 'at+jwt' }), segment(CLAIMS))), { alg: 'ES256', typ: 'at+jwt' });
});

test('the native path answers every token of the corpus exactly as jose does', async () => {
  const native = createJwtVerifier(context());
  const jose = createJwtVerifier(context(), { native: false });
  const cases = corpus();
  let nativelyVerified = 0;
  let accepted = 0;
  for (const [name, token] of cases) {
    const [fromNative, fromJose] = [await outcomeOf(native, token), await outcomeOf(jose, token)];
    assert.deepEqual(fromNative, fromJose, `${name}: ${token}`);
    if (ordinaryEs256Header(token)) nativelyVerified += 1;
    if (fromJose.ok) accepted += 1;
  }
  // The corpus exercises both answers, and most of it goes through the native path.
  assert.ok(accepted >= 10, `accepted ${accepted}`);
  assert.ok(cases.length - accepted >= 60, `refused ${cases.length - accepted}`);
  assert.ok(nativelyVerified >= cases.length * 0.7, `${nativelyVerified} of ${cases.length} took the native path`);
});

test('the native path checks the signature: a forged token it would otherwise accept is refused', async () => {
  const verify = createJwtVerifier(context());
  const good = signed(segment(HEADER), segment(CLAIMS));
  assert.equal((await outcomeOf(verify, good)).ok, true);
  const forged = signed(segment(HEADER), segment(CLAIMS), other.privateKey);
  assert.ok(ordinaryEs256Header(forged));
  assert.deepEqual(await outcomeOf(verify, forged), { ok: false, error: 'invalid_token: The access token signature is invalid' });
});

test('a clock that answers NaN or Infinity is an error on both paths, never a pass', async () => {
  for (const now of [Number.NaN, Number.POSITIVE_INFINITY]) {
    const broken = { ...context(), now: () => now };
    const token = signed(segment(HEADER), segment(CLAIMS));
    const [fromNative, fromJose] = [await outcomeOf(createJwtVerifier(broken), token), await outcomeOf(createJwtVerifier(broken, { native: false }), token)];
    assert.deepEqual(fromNative, { ok: false, error: 'TypeError: Invalid currentDate option input' });
    assert.deepEqual(fromNative, fromJose);
  }
});

// What verify-jwt.ts already guarantees before these run (the key store binds keys to ES256, the
// issuer is checked on the unverified payload, the tolerance is validated with the options) is
// checked again here, as jose checks it again: each check on its own.
test('the native primitives on their own: key type, issuer, tolerance, KeyObjects made once', async (t) => {
  const { subtle } = globalThis.crypto;
  const es256 = (jwkKey: JsonWebKey) => subtle.importKey('jwk', jwkKey, { name: 'ECDSA', namedCurve: jwkKey.crv! }, false, ['verify']);
  const token = signed(segment(HEADER), segment(CLAIMS));
  const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey.export({ format: 'jwk' });
  for (const key of [
    await es256(p384),
    await subtle.importKey('jwk', { ...privateKey.export({ format: 'jwk' }) }, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']),
    await subtle.importKey('jwk', generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'jwk' }), { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, false, ['verify']),
  ]) {
    await assert.rejects(nativeEs256!.verifySignature(token, key), /needs a P-256 ECDSA public key/, `${key.type} ${key.algorithm.name}`);
  }
  const key = await es256(publicKey.export({ format: 'jwk' }));
  const from = t.mock.method(process.getBuiltinModule('node:crypto').KeyObject, 'from');
  for (let index = 0; index < 3; index += 1) await nativeEs256!.verifySignature(token, key);
  assert.equal(from.mock.callCount(), 1, 'one KeyObject per CryptoKey');

  const rules = { issuer: ISSUER, audience: AUDIENCE, typ: 'at+jwt', clockToleranceSec: TOLERANCE };
  const header = { alg: 'ES256', typ: 'at+jwt' };
  assert.deepEqual(validateClaims(header, { ...CLAIMS }, rules, NOW * 1000), CLAIMS);
  assert.throws(() => validateClaims(header, { ...CLAIMS, iss: 'https://other.example' }, rules, NOW * 1000), (error: { claim?: string }) => error.claim === 'iss');
  assert.deepEqual(validateClaims(header, { ...CLAIMS }, { ...rules, clockToleranceSec: 0 }, NOW * 1000), CLAIMS, 'no tolerance is a tolerance');
  for (const clockToleranceSec of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
    assert.throws(() => validateClaims(header, { ...CLAIMS }, { ...rules, clockToleranceSec }, NOW * 1000), /Invalid clockTolerance option input/);
  }
});
