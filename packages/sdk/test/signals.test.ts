// The SDK's side of Shared Signals (docs/sdk.md "Revocation"): the bounded deny-list of revoked
// JWTs, the checks every SET must pass before it changes anything, and what each event means.
// The whole flow against a real Gatehouse is in e2e/revocation-signals.test.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT } from 'jose';
import { createAuthenticator } from '@gatehouse/sdk';
import { gatehouse as expressGatehouse } from '@gatehouse/sdk/express';
import { gatehouse } from '@gatehouse/sdk/fastify';
import { gatehouse as honoGatehouse } from '@gatehouse/sdk/hono';
import { StaticKeys } from '../src/jwks.ts';
import { Revocations } from '../src/revocations.ts';
import { effectOf, verifySet } from '../src/signals.ts';

const ISSUER = 'https://issuer.example';
const RECEIVER = 'items-api';
const CAEP = 'https://schemas.openid.net/secevent/caep/event-type/';
const RISC = 'https://schemas.openid.net/secevent/risc/event-type/';

test('revocations refuse the named user, grant or client\'s tokens issued at or before the cutoff, and nothing else', () => {
  const revocations = new Revocations({ maxEntries: 100, retentionSec: 3600 });
  assert.equal(revocations.size, 0);
  assert.equal(revocations.refuses({ sub: 'alice', client_id: 'app', iat: 1 }), false, 'nothing revoked: nothing refused');
  revocations.revoke({ kind: 'user', sub: 'alice' }, 1000, 1000);
  revocations.revoke({ kind: 'client', clientId: 'worker' }, 1000, 1000);
  revocations.revoke({ kind: 'grant', sub: 'bob', clientId: 'app' }, 1000, 1000);
  assert.equal(revocations.size, 3);
  const refuses = (claims: Record<string, unknown>) => revocations.refuses(claims);
  assert.equal(refuses({ sub: 'alice', iat: 999 }), true);
  assert.equal(refuses({ sub: 'alice', iat: 1000 }), true, 'issued in the same second: refused');
  assert.equal(refuses({ sub: 'alice', iat: 1001 }), false, 'issued after: accepted');
  assert.equal(refuses({ sub: 'alice' }), true, 'no iat: cannot be shown to be newer');
  assert.equal(refuses({ sub: 'carol', iat: 1 }), false);
  assert.equal(refuses({ sub: 'worker', client_id: 'worker', iat: 999 }), true);
  assert.equal(refuses({ sub: 'dave', client_id: 'worker', iat: 999 }), true, 'any token the client holds');
  assert.equal(refuses({ sub: 'bob', client_id: 'app', iat: 999 }), true);
  assert.equal(refuses({ sub: 'bob', client_id: 'other', iat: 999 }), false, 'the grant, not the user');
  assert.equal(refuses({ sub: 'erin', client_id: 'app', iat: 999 }), false);
  // A later revocation of the same subject moves its cutoff; an earlier one does not.
  revocations.revoke({ kind: 'user', sub: 'alice' }, 2000, 2000);
  assert.equal(refuses({ sub: 'alice', iat: 1500 }), true);
  revocations.revoke({ kind: 'user', sub: 'alice' }, 1200, 2000);
  assert.equal(refuses({ sub: 'alice', iat: 1500 }), true);
});

test('revocations are bounded: past the limit the oldest becomes a floor that refuses more, never less; retention drops them', () => {
  const revocations = new Revocations({ maxEntries: 2, retentionSec: 100 });
  revocations.revoke({ kind: 'user', sub: 'a' }, 10, 10);
  revocations.revoke({ kind: 'user', sub: 'b' }, 20, 20);
  revocations.revoke({ kind: 'user', sub: 'c' }, 30, 30);
  // 'a' was pushed out: its cutoff is now a floor for everyone (counted: the hot path reads size).
  assert.equal(revocations.size, 3, 'two entries and the floor');
  assert.equal(revocations.refuses({ sub: 'a', iat: 10 }), true);
  assert.equal(revocations.refuses({ sub: 'zed', iat: 5 }), true, 'the floor refuses anyone\'s older token');
  assert.equal(revocations.refuses({ sub: 'zed', iat: 11 }), false);
  assert.equal(revocations.refuses({ sub: 'b', iat: 20 }), true);
  // Past the retention, entries and floor go.
  revocations.prune(125);
  assert.equal(revocations.refuses({ sub: 'b', iat: 20 }), false);
  assert.equal(revocations.refuses({ sub: 'zed', iat: 5 }), false);
  assert.equal(revocations.refuses({ sub: 'c', iat: 30 }), true);
  revocations.prune(1000);
  assert.equal(revocations.size, 0);
});

async function keys() {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(jwk);
  return { privateKey, kid, store: new StaticKeys({ keys: [{ ...jwk, kid, alg: 'ES256', use: 'sig' }] as never }, () => {}) };
}

const claims = (overrides: Record<string, unknown> = {}) => ({
  iss: ISSUER,
  aud: RECEIVER,
  jti: crypto.randomUUID(),
  iat: 1000,
  sub_id: { format: 'iss_sub', iss: ISSUER, sub: 'alice' },
  events: { [`${RISC}account-disabled`]: {} },
  ...overrides,
});

test('a SET is believed only when signed by the issuer\'s keys, for this receiver, typed secevent+jwt, with one event', async () => {
  const { privateKey, kid, store } = await keys();
  const other = await keys();
  const sign = (payload: Record<string, unknown>, header: Record<string, unknown> = {}, key = privateKey) =>
    new SignJWT(payload).setProtectedHeader({ alg: 'ES256', kid, typ: 'secevent+jwt', ...header }).sign(key);
  const verify = (set: string) => verifySet(set, { issuer: ISSUER, audience: RECEIVER, keys: store, algorithms: ['ES256'], clockToleranceSec: 5 });

  const good = await verify(await sign(claims()));
  assert.equal(good.ok, true);
  if (good.ok) {
    assert.equal(good.type, `${RISC}account-disabled`);
    assert.deepEqual(good.subject, { format: 'iss_sub', iss: ISSUER, sub: 'alice' });
  }
  const refused: [string, Promise<string>][] = [
    ['another receiver', sign(claims({ aud: 'other-api' }))],
    ['another issuer', sign(claims({ iss: 'https://evil.example' }))],
    ['an access token (typ at+jwt)', sign(claims(), { typ: 'at+jwt' })],
    ['no typ', sign(claims(), { typ: undefined })],
    ['another key', sign(claims(), {}, other.privateKey)],
    ['two events', sign(claims({ events: { [`${RISC}account-disabled`]: {}, [`${CAEP}session-revoked`]: {} } }))],
    ['no event', sign(claims({ events: {} }))],
    ['no jti', sign(claims({ jti: undefined }))],
    ['no sub_id', sign(claims({ sub_id: undefined }))],
    ['garbage', Promise.resolve('not.a.jwt')],
  ];
  for (const [what, set] of refused) {
    const outcome = await verify(await set);
    assert.equal(outcome.ok, false, what);
    if (!outcome.ok) assert.match(outcome.err, /^(invalid_key|invalid_request)$/, what);
  }
  // An unsigned SET (alg none) is refused too.
  const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'secevent+jwt' })).toString('base64url')}.${Buffer.from(JSON.stringify(claims())).toString('base64url')}.`;
  assert.equal((await verify(none)).ok, false);
});

test('what each event means: revocations by user, grant or client; API keys; keys; stream events; nothing for the rest', () => {
  const user = { format: 'iss_sub', iss: ISSUER, sub: 'alice' };
  const at = { event_timestamp: 1234 };
  assert.deepEqual(effectOf(`${CAEP}session-revoked`, at, user, ISSUER, 99), { kind: 'revoke', subject: { kind: 'user', sub: 'alice' }, at: 1234 });
  assert.deepEqual(effectOf(`${RISC}account-disabled`, {}, user, ISSUER, 99), { kind: 'revoke', subject: { kind: 'user', sub: 'alice' }, at: 99 }, 'the SET\'s iat without event_timestamp');
  assert.deepEqual(effectOf(`${CAEP}token-claims-change`, at, user, ISSUER, 99).kind, 'revoke');
  assert.deepEqual(effectOf(`${CAEP}credential-change`, { ...at, change_type: 'update' }, user, ISSUER, 99).kind, 'revoke');
  assert.deepEqual(effectOf(`${CAEP}credential-change`, { ...at, change_type: 'create' }, user, ISSUER, 99), { kind: 'none' }, 'a credential added takes nothing away');
  assert.deepEqual(effectOf(`${RISC}account-enabled`, at, user, ISSUER, 99), { kind: 'none' });
  // A user of another issuer is not ours to revoke.
  assert.deepEqual(effectOf(`${CAEP}session-revoked`, at, { ...user, iss: 'https://evil.example' }, ISSUER, 99), { kind: 'none' });
  const grant = { format: 'complex', user, application: { format: 'opaque', id: 'app' } };
  assert.deepEqual(effectOf(`${CAEP}session-revoked`, at, grant, ISSUER, 99), { kind: 'revoke', subject: { kind: 'grant', sub: 'alice', clientId: 'app' }, at: 1234 });
  // A complex subject naming the user alone (SSF §3.2, as other transmitters send it) is that user.
  assert.deepEqual(effectOf(`${CAEP}session-revoked`, at, { format: 'complex', user }, ISSUER, 99), { kind: 'revoke', subject: { kind: 'user', sub: 'alice' }, at: 1234 });
  assert.deepEqual(effectOf(`${CAEP}session-revoked`, at, { format: 'complex', user: { ...user, iss: 'https://evil.example' } }, ISSUER, 99), { kind: 'none' });
  const client = { format: 'complex', application: { format: 'opaque', id: 'worker' } };
  assert.deepEqual(effectOf('urn:gatehouse:secevent:client-revoked', at, client, ISSUER, 99), { kind: 'revoke', subject: { kind: 'client', clientId: 'worker' }, at: 1234 });
  assert.deepEqual(effectOf('urn:gatehouse:secevent:api-key-revoked', at, { format: 'opaque', id: 'key-1' }, ISSUER, 99), { kind: 'api-key', keyId: 'key-1' });
  assert.deepEqual(effectOf('urn:gatehouse:secevent:signing-key-retired', {}, { format: 'opaque', id: 'kid' }, ISSUER, 99), { kind: 'keys' });
  assert.deepEqual(effectOf('https://schemas.openid.net/secevent/ssf/event-type/verification', { state: 's' }, { format: 'opaque', id: 'x' }, ISSUER, 99), { kind: 'verification', state: 's' });
  assert.deepEqual(effectOf('https://schemas.openid.net/secevent/ssf/event-type/stream-updated', { status: 'paused' }, { format: 'opaque', id: 'x' }, ISSUER, 99), { kind: 'stream', status: 'paused' });
  assert.deepEqual(effectOf('https://example.com/unknown', at, user, ISSUER, 99), { kind: 'none' });
  assert.deepEqual(effectOf(`${CAEP}session-revoked`, at, { format: 'email', email: 'a@example.com' }, ISSUER, 99), { kind: 'none' });
});

test('options: signals need a client, push needs an https URL (or loopback), and the adapter mounts the push route', async (t) => {
  const base = { issuer: ISSUER, audience: 'https://api.example', algorithms: ['ES256'] as const };
  assert.throws(() => createAuthenticator({ ...base, algorithms: ['ES256'], signals: true }), /signals\.clientId, signals\.clientSecret: required/);
  assert.throws(
    () => createAuthenticator({ ...base, algorithms: ['ES256'], signals: { clientId: 'a', clientSecret: 'b', delivery: { push: 'http://api.example/events' } } }),
    /signals\.delivery\.push/,
  );
  assert.throws(() => createAuthenticator({ ...base, algorithms: ['ES256'], signals: { clientId: 'a', clientSecret: 'b', delivery: 'sideways' as never } }), /signals\.delivery/);
  const off = createAuthenticator({ ...base, algorithms: ['ES256'] });
  assert.deepEqual(off.status(), { signals: { state: 'off', events: 0 } });
  const refused = await off.receiveSignal('x.y.z', undefined);
  assert.equal(refused.ok, false);

  // A push receiver that has not made its stream (the issuer is unreachable here) refuses every push: 401, RFC 8935 body.
  const authenticator = createAuthenticator({
    ...base,
    algorithms: ['ES256'],
    signals: { clientId: 'a', clientSecret: 'b', delivery: { push: 'https://api.example/hooks/security-events' } },
    fetch: async () => {
      throw new Error('unreachable');
    },
  });
  assert.deepEqual(authenticator.description.signals, { delivery: 'push', pushPath: '/hooks/security-events' });
  const app = Fastify();
  t.after(() => app.close());
  await app.register(gatehouse, { authenticator });
  await app.ready();
  const pushed = await app.inject({ method: 'POST', url: '/hooks/security-events', headers: { 'content-type': 'application/secevent+jwt', authorization: 'Bearer guess' }, payload: 'a.b.c' });
  assert.equal(pushed.statusCode, 401);
  assert.equal(pushed.json().err, 'authentication_failed');
  const wrongType = await app.inject({ method: 'POST', url: '/hooks/security-events', headers: { 'content-type': 'application/json' }, payload: '{}' });
  assert.equal(wrongType.statusCode, 400);
  assert.equal(authenticator.status().signals.state === 'connected', false);
});

test('Express and Hono mount the push route too: a push without the stream\'s secret is 401, a wrong type 400, other requests pass', async (t) => {
  const authenticator = createAuthenticator({
    issuer: ISSUER,
    audience: 'https://api.example',
    algorithms: ['ES256'],
    signals: { clientId: 'a', clientSecret: 'b', delivery: { push: 'https://api.example/security-events' } },
    fetch: async () => {
      throw new Error('unreachable');
    },
  });
  const set = { method: 'POST', headers: { 'content-type': 'application/secevent+jwt', authorization: 'Bearer guess' }, body: 'a.b.c' };
  const json = { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' };

  const expressApp = express();
  expressApp.use(expressGatehouse(authenticator).securityEvents);
  expressApp.post('/other', (_req, res) => void res.status(204).end());
  const server = await new Promise<Server>((resolve) => {
    const listening = expressApp.listen(0, '127.0.0.1', () => resolve(listening));
  });
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const pushed = await fetch(`${base}/security-events`, set);
  assert.equal(pushed.status, 401);
  assert.equal(((await pushed.json()) as { err: string }).err, 'authentication_failed');
  assert.equal((await fetch(`${base}/security-events`, json)).status, 400);
  assert.equal((await fetch(`${base}/other`, json)).status, 204);

  const honoApp = new Hono();
  honoApp.use(honoGatehouse(authenticator).securityEvents);
  honoApp.post('/other', (c) => c.body(null, 204));
  const honoPushed = await honoApp.request('https://api.example/security-events', set);
  assert.equal(honoPushed.status, 401);
  assert.equal(((await honoPushed.json()) as { err: string }).err, 'authentication_failed');
  assert.equal((await honoApp.request('https://api.example/security-events', json)).status, 400);
  assert.equal((await honoApp.request('https://api.example/other', json)).status, 204);
});
