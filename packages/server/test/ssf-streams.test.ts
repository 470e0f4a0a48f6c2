// The Shared Signals transmitter over real HTTP (docs/adr/0016-shared-signals.md): the SSF
// configuration document, stream management by a receiver with a client-credentials token, each
// change an operator or a user makes turning into its CAEP/RISC event, polling (RFC 8936) with
// acknowledgements, pushing (RFC 8935) with retries, and the operators' view. Every SET is
// checked with jose alone against the published JWKS, as any receiver would.
import assert from 'node:assert/strict';
import { createPublicKey, verify } from 'node:crypto';
import { test } from 'node:test';
import * as oidc from 'openid-client';
import { createBrowser, formAction, formValue, loginThroughForm, type Browser } from '@gatehouse/test-support/browser';
import * as clients from '../src/storage/clients.ts';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose';
import { cli, seedDemo, testSecretKey, tokenRequest } from '@gatehouse/test-support/gatehouse';
import { startTinyServer } from '@gatehouse/test-support/http-server';
import { waitFor } from '@gatehouse/test-support/wait';
import * as apiKeys from '../src/storage/api-keys.ts';
import * as roles from '../src/storage/roles.ts';
import * as signingKeys from '../src/storage/keys.ts';
import * as users from '../src/storage/users.ts';
import { withPasswordHash } from '../src/passwords/user-passwords.ts';
import { ALL_ADMIN_SCOPES, startAdmin, type AdminServer } from './admin-support.ts';

const CAEP = 'https://schemas.openid.net/secevent/caep/event-type/';
const RISC = 'https://schemas.openid.net/secevent/risc/event-type/';
const SSF = 'https://schemas.openid.net/secevent/ssf/event-type/';
const POLL = 'urn:ietf:rfc:8936';
const PUSH = 'urn:ietf:rfc:8935';

interface Receiver {
  readonly clientId: string;
  readonly token: string;
}

async function receiver(server: AdminServer, clientId = 'items-api'): Promise<Receiver> {
  const client = await server.machine(clientId, ['admin:streams:write']);
  return { clientId, token: await server.clientToken(client, ['admin:streams:write']) };
}

/**
 * The same SET checked with no JWT library at all: node:crypto's ECDSA over the JWS signing input
 * with the published key, and the claim formats of SSF 1.0 / RFC 9493 read by hand (the server
 * signs with jose; this check shares no code with it).
 */
async function independentlyValid(server: AdminServer, set: string): Promise<void> {
  const [header, payload, signature] = set.split('.') as [string, string, string];
  const protectedHeader = JSON.parse(Buffer.from(header, 'base64url').toString());
  assert.deepEqual(Object.keys(protectedHeader).sort(), ['alg', 'kid', 'typ']);
  assert.equal(protectedHeader.alg, 'ES256');
  const { keys } = (await (await fetch(`${server.issuer}/jwks`)).json()) as { keys: Record<string, string>[] };
  const jwk = keys.find((key) => key.kid === protectedHeader.kid);
  assert.ok(jwk, 'signed by a key the JWKS publishes');
  const ok = verify('sha256', Buffer.from(`${header}.${payload}`), { key: createPublicKey({ key: jwk, format: 'jwk' }), dsaEncoding: 'ieee-p1363' }, Buffer.from(signature, 'base64url'));
  assert.ok(ok, 'the ES256 signature verifies');
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
  const events = Object.entries(claims.events as Record<string, unknown>);
  assert.equal(events.length, 1, 'one event per SET (SSF 1.0 §4.1)');
  assert.ok(URL.canParse(events[0]![0]), 'the event type is a URI');
  const subject = (value: any, depth = 0): void => {
    assert.equal(typeof value?.format, 'string');
    if (value.format === 'iss_sub') assert.ok(typeof value.iss === 'string' && typeof value.sub === 'string');
    else if (value.format === 'opaque') assert.equal(typeof value.id, 'string');
    else {
      assert.equal(value.format, 'complex');
      assert.equal(depth, 0);
      const members = Object.entries(value).filter(([name]) => name !== 'format');
      assert.ok(members.length > 0 && members.every(([name]) => ['user', 'application', 'session', 'device', 'tenant', 'org_unit', 'group'].includes(name)));
      for (const [, member] of members) subject(member, 1);
    }
  };
  subject(claims.sub_id);
}

/** A SET checked as a generic receiver would: signature by the JWKS, typ, issuer, audience. */
async function verifySet(server: AdminServer, set: string, audience: string): Promise<JWTPayload & { events: Record<string, any>; sub_id: any }> {
  await independentlyValid(server, set);
  const jwks = createRemoteJWKSet(new URL(`${server.issuer}/jwks`));
  const { payload, protectedHeader } = await jwtVerify(set, jwks, { issuer: server.issuer, audience, typ: 'secevent+jwt', algorithms: ['ES256'] });
  assert.equal(protectedHeader.typ, 'secevent+jwt');
  // RFC 8417 §2.2: a SET has no exp and no sub at the top: it is not an access or ID token.
  assert.equal(payload.exp, undefined);
  assert.equal(payload.sub, undefined);
  assert.equal(typeof payload.jti, 'string');
  assert.equal(typeof payload.iat, 'number');
  return payload as never;
}

async function poll(server: AdminServer, who: Receiver, streamId: string, body: Record<string, unknown> = {}) {
  const answer = await server.call('POST', `/ssf/poll/${streamId}`, { token: who.token }, { returnImmediately: true, ...body });
  assert.equal(answer.status, 200, answer.text);
  return answer.body as { sets: Record<string, string>; moreAvailable: boolean };
}

/** Polls (acknowledging everything) until `count` events came, and returns them verified, in order. */
async function collect(server: AdminServer, who: Receiver, streamId: string, count: number) {
  const events: Awaited<ReturnType<typeof verifySet>>[] = [];
  await waitFor(async () => {
    const answer = await poll(server, who, streamId, { ack: events.map((event) => event.jti), maxEvents: 50 });
    for (const set of Object.values(answer.sets)) events.push(await verifySet(server, set, who.clientId));
    return events.length >= count;
  });
  await poll(server, who, streamId, { ack: events.map((event) => event.jti) });
  return events;
}

const typeOf = (event: { events: Record<string, unknown> }) => Object.keys(event.events)[0]!;

test('the SSF configuration document names the endpoints, the delivery methods and the JWKS', async (t) => {
  const server = await startAdmin(t);
  const response = await fetch(`${server.issuer}/.well-known/ssf-configuration`);
  assert.equal(response.status, 200);
  const document = (await response.json()) as Record<string, any>;
  assert.equal(document.issuer, server.issuer);
  assert.equal(document.jwks_uri, `${server.issuer}/jwks`);
  assert.deepEqual(document.delivery_methods_supported, [PUSH, POLL]);
  assert.equal(document.configuration_endpoint, `${server.issuer}/ssf/streams`);
  assert.equal(document.status_endpoint, `${server.issuer}/ssf/status`);
  assert.equal(document.verification_endpoint, `${server.issuer}/ssf/verify`);
  assert.equal(document.spec_version, '1_0');
});

test('a receiver creates a poll stream, asks for verification, and gets a SET any JWT library validates', async (t) => {
  const server = await startAdmin(t);
  const items = await receiver(server);
  // Without the streams scope: refused.
  const reader = await server.machine('reader', ['admin:users:read']);
  const readerToken = await server.clientToken(reader, ['admin:users:read']);
  assert.equal((await server.call('POST', '/ssf/streams', { token: readerToken }, { delivery: { method: POLL } })).status, 403);
  assert.equal((await server.call('POST', '/ssf/streams', {}, { delivery: { method: POLL } })).status, 401);

  const created = await server.call('POST', '/ssf/streams', { token: items.token }, { delivery: { method: POLL }, description: 'items' });
  assert.equal(created.status, 201, created.text);
  const stream = created.body;
  assert.equal(stream.iss, server.issuer);
  assert.equal(stream.aud, 'items-api');
  assert.equal(stream.delivery.method, POLL);
  assert.equal(stream.delivery.endpoint_url, `${server.issuer}/ssf/poll/${stream.stream_id}`);
  assert.ok(stream.events_delivered.includes(`${CAEP}session-revoked`));

  assert.equal((await server.call('POST', '/ssf/verify', { token: items.token }, { stream_id: stream.stream_id, state: 'abc123' })).status, 204);
  const [event] = await collect(server, items, stream.stream_id, 1);
  assert.deepEqual(event!.events, { [`${SSF}verification`]: { state: 'abc123' } });
  assert.deepEqual(event!.sub_id, { format: 'opaque', id: stream.stream_id });
  assert.equal(decodeProtectedHeader(Object.values((await poll(server, items, stream.stream_id)).sets)[0] ?? 'e30.e30.x').typ, undefined, 'acknowledged: not sent again');

  // Read, list, status.
  assert.equal((await server.call('GET', `/ssf/streams?stream_id=${stream.stream_id}`, { token: items.token })).body.stream_id, stream.stream_id);
  assert.deepEqual(
    (await server.call('GET', '/ssf/streams', { token: items.token })).body.map((s: any) => s.stream_id),
    [stream.stream_id],
  );
  assert.deepEqual((await server.call('GET', `/ssf/status?stream_id=${stream.stream_id}`, { token: items.token })).body, { stream_id: stream.stream_id, status: 'enabled' });
});

test('SETs are signed with the active ES256 key: after a rotation, not the retired one, and not the one scheduled next', async (t) => {
  const server = await startAdmin(t);
  const items = await receiver(server);
  const stream = (await server.call('POST', '/ssf/streams', { token: items.token }, { delivery: { method: POLL } })).body;
  await signingKeys.scheduleKeyRotation(server.db, 'ES256', Date.now());
  assert.ok(await signingKeys.activateDueKeys(server.db));
  await signingKeys.scheduleKeyRotation(server.db, 'ES256', Date.now() + 3_600_000);
  await server.server.changed('keys');
  const keys = await signingKeys.listSigningKeys(server.db);
  const active = keys.filter((key) => key.alg === 'ES256' && key.state === 'active');
  assert.equal(active.length, 1);
  assert.deepEqual(keys.filter((key) => key.alg === 'ES256').map((key) => key.state).sort(), ['active', 'next', 'retired']);

  assert.equal((await server.call('POST', '/ssf/verify', { token: items.token }, { stream_id: stream.stream_id, state: 'after-rotation' })).status, 204);
  let set: string | undefined;
  await waitFor(async () => (set = Object.values((await poll(server, items, stream.stream_id)).sets)[0]) !== undefined);
  await verifySet(server, set!, items.clientId);
  assert.equal(decodeProtectedHeader(set!).kid, active[0]!.kid);
});

test('another client cannot see, poll, verify or delete a stream: it does not exist for it', async (t) => {
  const server = await startAdmin(t);
  const items = await receiver(server);
  const other = await receiver(server, 'other-api');
  const stream = (await server.call('POST', '/ssf/streams', { token: items.token }, { delivery: { method: POLL } })).body;
  assert.equal((await server.call('GET', `/ssf/streams?stream_id=${stream.stream_id}`, { token: other.token })).status, 404);
  assert.equal((await server.call('POST', `/ssf/poll/${stream.stream_id}`, { token: other.token }, {})).status, 404);
  assert.equal((await server.call('POST', '/ssf/verify', { token: other.token }, { stream_id: stream.stream_id })).status, 404);
  assert.equal((await server.call('DELETE', `/ssf/streams?stream_id=${stream.stream_id}`, { token: other.token })).status, 404);
  assert.deepEqual((await server.call('GET', '/ssf/streams', { token: other.token })).body, []);
  assert.equal((await server.call('DELETE', `/ssf/streams?stream_id=${stream.stream_id}`, { token: items.token })).status, 204);
  assert.equal((await server.call('GET', `/ssf/streams?stream_id=${stream.stream_id}`, { token: items.token })).status, 404);
});

test('bad stream requests are 400s naming the field, never 500s', async (t) => {
  const server = await startAdmin(t);
  const items = await receiver(server);
  const cases: [unknown, string][] = [
    [{ delivery: { method: PUSH } }, 'delivery.endpoint_url'],
    [{ delivery: { method: PUSH, endpoint_url: 'http://receiver.example/events' } }, 'delivery.endpoint_url'],
    [{ delivery: { method: PUSH, endpoint_url: 'not a url' } }, 'delivery.endpoint_url'],
    [{ delivery: { method: POLL, endpoint_url: 'https://receiver.example/' } }, 'delivery'],
    [{ delivery: { method: POLL }, events_requested: ['urn:unknown'] }, 'events_requested'],
  ];
  for (const [body, field] of cases) {
    const answer = await server.call('POST', '/ssf/streams', { token: items.token }, body);
    assert.equal(answer.status, 400, `${JSON.stringify(body)}: ${answer.text}`);
    assert.equal(answer.body.field, field, JSON.stringify(body));
  }
  const unknownMethod = await server.call('POST', '/ssf/streams', { token: items.token }, { delivery: { method: 'urn:other' } });
  assert.equal(unknownMethod.status, 400);

  // A client cannot make streams without end: each is looked at every check.
  for (let i = 0; i < 20; i++) assert.equal((await server.call('POST', '/ssf/streams', { token: items.token }, { delivery: { method: POLL } })).status, 201);
  const over = await server.call('POST', '/ssf/streams', { token: items.token }, { delivery: { method: POLL } });
  assert.equal(over.status, 409, over.text);
  assert.match(over.body.message, /20 streams already/);
});

test('with no stream, a change records no event; a stream starts with what happens after it', async (t) => {
  const server = await startAdmin(t);
  const alice = await users.createUser(server.db, { username: 'alice' });
  await users.setUserDisabled(server.db, alice.id, true);
  const count = async () => Number((await server.db.selectFrom('security_events').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
  assert.equal(await count(), 0);
  const items = await receiver(server);
  const stream = (await server.call('POST', '/ssf/streams', { token: items.token }, { delivery: { method: POLL } })).body;
  await users.setUserDisabled(server.db, alice.id, false);
  assert.equal(await count(), 1);
  const events = await collect(server, items, stream.stream_id, 1);
  assert.deepEqual(events.map(typeOf), [`${RISC}account-enabled`]);
});

test('every change a resource server must hear of becomes its event, from the admin API and the CLI', async (t) => {
  const server = await startAdmin(t);
  const items = await receiver(server);
  const stream = (await server.call('POST', '/ssf/streams', { token: items.token }, { delivery: { method: POLL } })).body;
  const ops = await server.machine('ops', ALL_ADMIN_SCOPES);
  const opsToken = await server.clientToken(ops, ALL_ADMIN_SCOPES);
  await roles.createRole(server.db, { name: 'reader', scopes: ['items:read'] });
  const alice = await users.createUser(server.db, await withPasswordHash({ username: 'alice', password: 'correct horse battery staple', roles: ['reader'] }));
  const { apiKey: key } = await apiKeys.createApiKey(server.db, { owner: { kind: 'user', id: alice.id }, api: server.adminApi, scopes: [], name: 'k' });
  const as = { token: opsToken };
  await server.machine('worker', []);

  assert.equal((await server.call('POST', `/admin/api/users/${alice.id}/disable`, as)).status, 200);
  assert.equal((await server.call('POST', `/admin/api/users/${alice.id}/enable`, as)).status, 200);
  assert.equal((await server.call('PUT', `/admin/api/users/${alice.id}/password`, as, { password: 'another long passphrase 42' })).status, 200);
  assert.equal((await server.call('PATCH', `/admin/api/users/${alice.id}`, as, { roles: [] })).status, 200);
  assert.equal((await server.call('POST', `/admin/api/api-keys/${key.id}/revoke`, as)).status, 200);
  assert.equal((await server.call('POST', '/admin/api/clients/worker/secret', as)).status, 200);
  const cliRun = cli({ GATEHOUSE_DATABASE_URL: server.databaseUrl, GATEHOUSE_SECRET_KEY: testSecretKey(server.databaseUrl) }, ['users', 'disable', 'alice']);
  assert.equal(cliRun.code, 0, cliRun.stderr);

  const events = await collect(server, items, stream.stream_id, 10);
  const alicesSubject = { format: 'iss_sub', iss: server.issuer, sub: alice.id };
  const seen = events.map((event) => [typeOf(event), event.sub_id]);
  assert.deepEqual(seen, [
    [`${RISC}account-disabled`, alicesSubject],
    [`${CAEP}session-revoked`, alicesSubject],
    [`${RISC}account-enabled`, alicesSubject],
    [`${CAEP}credential-change`, alicesSubject],
    [`${CAEP}session-revoked`, alicesSubject],
    [`${CAEP}token-claims-change`, alicesSubject],
    ['urn:gatehouse:secevent:api-key-revoked', { format: 'opaque', id: key.id }],
    [`${CAEP}credential-change`, { format: 'complex', application: { format: 'opaque', id: 'worker' } }],
    [`${RISC}account-disabled`, alicesSubject],
    [`${CAEP}session-revoked`, alicesSubject],
  ]);
  const password = events[3]!.events[`${CAEP}credential-change`];
  assert.equal(password.credential_type, 'password');
  assert.equal(password.change_type, 'update');
  assert.equal(typeof password.event_timestamp, 'number');
  assert.deepEqual(events[5]!.events[`${CAEP}token-claims-change`].claims, { roles: [] });
  assert.deepEqual(events[6]!.events['urn:gatehouse:secevent:api-key-revoked'].owner, alicesSubject);
  // Each jti once.
  assert.equal(new Set(events.map((event) => event.jti)).size, events.length);
});

test("a replayed refresh token ends its grant for every API: session-revoked for the user with that client", async (t) => {
  const server = await startAdmin(t, { GATEHOUSE_REFRESH_TOKEN_REUSE_GRACE: '0', GATEHOUSE_REFRESH_TOKEN_RETRY_WINDOW: '0' });
  const seed = await seedDemo(server.db);
  const items = await receiver(server);
  const stream = (await server.call('POST', '/ssf/streams', { token: items.token }, { delivery: { method: POLL } })).body;
  const login = { grant_type: 'password', username: 'johndoe', password: 'correct horse' };
  const tokens = (await tokenRequest(server.issuer, login, seed.passwordClient)).body;
  const refresh = { grant_type: 'refresh_token', refresh_token: tokens.refresh_token };
  assert.equal((await tokenRequest(server.issuer, refresh, seed.passwordClient)).status, 200);
  assert.equal((await tokenRequest(server.issuer, refresh, seed.passwordClient)).status, 400, 'the replay is refused');

  const [event] = await collect(server, items, stream.stream_id, 1);
  const john = (await users.findUser(server.db, 'johndoe'))!;
  assert.equal(typeOf(event!), `${CAEP}session-revoked`);
  assert.deepEqual(event!.sub_id, {
    format: 'complex',
    user: { format: 'iss_sub', iss: server.issuer, sub: john.id },
    application: { format: 'opaque', id: seed.passwordClient.clientId },
  });
  assert.equal(event!.events[`${CAEP}session-revoked`].reason_admin.en, 'refresh_token.reused');
});

test('signing out ends the session for the APIs too (session-revoked for the user); a browser with no session ends nothing', async (t) => {
  const server = await startAdmin(t);
  const items = await receiver(server);
  const stream = (await server.call('POST', '/ssf/streams', { token: items.token }, { delivery: { method: POLL } })).body;
  const ada = await users.createUser(server.db, await withPasswordHash({ username: 'ada', password: 'analytical engine 1843' }));
  const redirect = 'http://127.0.0.1:8999/callback';
  const home = 'http://127.0.0.1:8999/home';
  const { clientSecret } = await clients.createClient(server.db, { clientId: 'rp', name: 'rp', grantTypes: 'authorization_code', redirectUris: [redirect], postLogoutRedirectUris: [home], firstParty: true });
  const config = await oidc.discovery(new URL(server.issuer), 'rp', undefined, oidc.ClientSecretBasic(clientSecret!), { execute: [oidc.allowInsecureRequests] });
  const verifier = oidc.randomPKCECodeVerifier();
  const browser = createBrowser();
  const authorize = oidc.buildAuthorizationUrl(config, { redirect_uri: redirect, scope: 'openid', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' });
  const { callback } = await loginThroughForm(browser, authorize, { username: 'ada', password: 'analytical engine 1843' }, redirect);
  const idToken = (await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier })).id_token!;
  const signOut = async (who: Browser) => {
    const url = oidc.buildEndSessionUrl(config, { id_token_hint: idToken, post_logout_redirect_uri: home });
    const page = await (await who.get(url)).text();
    const done = await who.post(new URL(formAction(page, '/logout/confirm'), server.issuer), { xsrf: formValue(page, 'xsrf'), logout: 'yes' });
    assert.ok([200, 303].includes(done.status), `signed out: ${done.status}`);
  };
  // Someone else's browser, holding only the ID token: no session there, nothing to end.
  await signOut(createBrowser());
  await signOut(browser);
  const events = await collect(server, items, stream.stream_id, 1);
  assert.equal(events.length, 1, JSON.stringify(events));
  assert.equal(typeOf(events[0]!), `${CAEP}session-revoked`);
  assert.deepEqual(events[0]!.sub_id, { format: 'iss_sub', iss: server.issuer, sub: ada.id });
  assert.deepEqual(events[0]!.events[`${CAEP}session-revoked`].reason_user, { en: 'signed out' });
});

test('a rehash at login is not a credential change; an unchanged role list is not a claims change', async (t) => {
  const server = await startAdmin(t);
  const items = await receiver(server);
  const stream = (await server.call('POST', '/ssf/streams', { token: items.token }, { delivery: { method: POLL } })).body;
  const alice = await users.createUser(server.db, { username: 'alice' });
  await users.updatePasswordHash(server.db, alice.id, 'x', 'rehash');
  await users.updateUser(server.db, alice.id, { roles: [] });
  await server.call('POST', '/ssf/verify', { token: items.token }, { stream_id: stream.stream_id, state: 'end' });
  const events = await collect(server, items, stream.stream_id, 1);
  assert.deepEqual(events.map(typeOf), [`${SSF}verification`]);
});

test('polling: what is not acknowledged comes again, maxEvents bounds an answer, a held poll returns when an event comes', async (t) => {
  const server = await startAdmin(t);
  const items = await receiver(server);
  const stream = (await server.call('POST', '/ssf/streams', { token: items.token }, { delivery: { method: POLL } })).body;
  const ids: string[] = [];
  for (const name of ['u1', 'u2', 'u3']) {
    const user = await users.createUser(server.db, { username: name });
    ids.push(user.id);
    await users.setUserDisabled(server.db, user.id, false);
  }
  const first = await poll(server, items, stream.stream_id, { maxEvents: 2 });
  assert.equal(Object.keys(first.sets).length, 2);
  assert.equal(first.moreAvailable, true);
  const [a, b] = Object.keys(first.sets);
  // Only the first acknowledged: the second comes again, then the third.
  const second = await poll(server, items, stream.stream_id, { ack: [a], maxEvents: 2 });
  assert.deepEqual(Object.keys(second.sets)[0], b);
  assert.equal(Object.keys(second.sets).length, 2);
  const subjects = await Promise.all(Object.values(second.sets).map(async (set) => (await verifySet(server, set, items.clientId)).sub_id.sub));
  assert.deepEqual(subjects, [ids[1], ids[2]]);
  const done = await poll(server, items, stream.stream_id, { ack: Object.keys(second.sets) });
  assert.deepEqual(done, { sets: {}, moreAvailable: false });

  // A held poll (returnImmediately false) answers as soon as an event is recorded.
  const held = server.call('POST', `/ssf/poll/${stream.stream_id}`, { token: items.token }, { returnImmediately: false });
  await users.setUserDisabled(server.db, ids[0]!, true);
  const answer = await held;
  assert.equal(answer.status, 200);
  assert.ok(Object.keys(answer.body.sets).length >= 1, answer.text);
});

test('push: SETs are POSTed in order with the receiver\'s Authorization header; a failing receiver gets them later, in order', async (t) => {
  const server = await startAdmin(t);
  const items = await receiver(server);
  let failing = true;
  const sink = await startTinyServer(t, () => (failing ? { status: 503, body: 'down' } : { status: 202, body: '' }));
  const created = await server.call('POST', '/ssf/streams', { token: items.token }, {
    delivery: { method: PUSH, endpoint_url: `${sink.origin}/ssf/events`, authorization_header: 'Bearer receiver-secret' },
    events_requested: [`${RISC}account-disabled`, `${RISC}account-enabled`],
  });
  assert.equal(created.status, 201, created.text);
  const streamId = created.body.stream_id;
  assert.equal(created.body.delivery.endpoint_url, `${sink.origin}/ssf/events`);
  assert.doesNotMatch(created.text, /receiver-secret/);

  const alice = await users.createUser(server.db, { username: 'alice' });
  await users.setUserDisabled(server.db, alice.id, true);
  await users.setUserDisabled(server.db, alice.id, false);
  // The receiver is down: the first is tried, refused, and the stream waits.
  await waitFor(() => sink.posts.length >= 1);
  const ops = await server.machine('ops', ALL_ADMIN_SCOPES);
  const opsToken = await server.clientToken(ops, ALL_ADMIN_SCOPES);
  const lagging = await waitFor(async () => {
    const view = (await server.call('GET', `/admin/api/streams/${streamId}`, { token: opsToken })).body;
    return view.failures >= 1 ? view : undefined;
  });
  assert.equal(lagging.pending, 2);
  assert.equal(lagging.last_error, 'HTTP 503');
  assert.ok(lagging.next_attempt_at);

  failing = false;
  const delivered = await waitFor(() => {
    const accepted = sink.posts.filter((post, index) => index >= 1 || post);
    const unique = new Map(accepted.map((post) => [post.body, post]));
    return unique.size >= 2 && sink.posts.length >= 3 ? [...unique.values()] : undefined;
  });
  assert.ok(delivered.every((post) => post.contentType === 'application/secevent+jwt'));
  const sets = await Promise.all(sink.posts.map((post) => verifySet(server, post.body, items.clientId)));
  // In order, the first (retried) before the second; only the two asked for (no session-revoked).
  const order = [...new Map(sets.map((set) => [set.jti, typeOf(set)])).values()];
  assert.deepEqual(order, [`${RISC}account-disabled`, `${RISC}account-enabled`]);
  const view = await waitFor(async () => {
    const current = (await server.call('GET', `/admin/api/streams/${streamId}`, { token: opsToken })).body;
    return current.pending === 0 ? current : undefined;
  });
  assert.equal(view.failures, 0);
  assert.equal(view.last_error, null);
});

test('push sends the stream\'s Authorization header, and a 400 from the receiver does not block the stream', async (t) => {
  const server = await startAdmin(t);
  const items = await receiver(server);
  const authorizations: (string | undefined)[] = [];
  let calls = 0;
  const sink = await startTinyServer(t, (request) => {
    authorizations.push(request.headers.authorization);
    calls++;
    return calls === 1 ? { status: 400, type: 'application/json', body: '{"err":"invalid_request","description":"nope"}' } : { status: 202, body: '' };
  });
  const streamId = (
    await server.call('POST', '/ssf/streams', { token: items.token }, {
      delivery: { method: PUSH, endpoint_url: `${sink.origin}/events`, authorization_header: 'Bearer receiver-secret' },
    })
  ).body.stream_id;
  const alice = await users.createUser(server.db, { username: 'alice' });
  await users.setUserDisabled(server.db, alice.id, true);
  await waitFor(() => sink.posts.length >= 2);
  assert.deepEqual([...new Set(authorizations)], ['Bearer receiver-secret']);
  const types = await Promise.all(sink.posts.map(async (post) => typeOf(await verifySet(server, post.body, items.clientId))));
  assert.deepEqual(types, [`${RISC}account-disabled`, `${CAEP}session-revoked`]);
  assert.ok(streamId);
});

test('operators list streams with their lag, pause one (events kept), resume it (events delivered, the receiver told), delete it', async (t) => {
  const server = await startAdmin(t);
  const items = await receiver(server);
  const streamId = (await server.call('POST', '/ssf/streams', { token: items.token }, { delivery: { method: POLL } })).body.stream_id;
  const reader = await server.machine('auditor', ['admin:streams:read']);
  const readerToken = await server.clientToken(reader, ['admin:streams:read']);
  const ops = await server.machine('ops', ALL_ADMIN_SCOPES);
  const opsToken = await server.clientToken(ops, ALL_ADMIN_SCOPES);

  const alice = await users.createUser(server.db, { username: 'alice' });
  await users.setUserDisabled(server.db, alice.id, true);
  const list = await server.call('GET', '/admin/api/streams', { token: readerToken });
  assert.equal(list.status, 200);
  assert.equal(list.body.total, 1);
  assert.equal(list.body.items[0].client_id, 'items-api');
  assert.equal(list.body.items[0].pending, 2);
  assert.equal((await server.call('POST', `/admin/api/streams/${streamId}/status`, { token: readerToken }, { status: 'paused' })).status, 403);

  const paused = await server.call('POST', `/admin/api/streams/${streamId}/status`, { token: opsToken }, { status: 'paused', reason: 'maintenance' });
  assert.equal(paused.status, 200, paused.text);
  assert.equal(paused.body.status, 'paused');
  assert.deepEqual(await poll(server, items, streamId), { sets: {}, moreAvailable: false });
  assert.equal((await server.call('GET', `/ssf/status?stream_id=${streamId}`, { token: items.token })).body.status, 'paused');

  assert.equal((await server.call('POST', `/admin/api/streams/${streamId}/status`, { token: opsToken }, { status: 'enabled' })).status, 200);
  const events = await collect(server, items, streamId, 4);
  assert.deepEqual(events.map(typeOf), [`${RISC}account-disabled`, `${CAEP}session-revoked`, `${SSF}stream-updated`, `${SSF}stream-updated`]);
  assert.deepEqual(events[2]!.events[`${SSF}stream-updated`], { status: 'paused', reason: 'maintenance' });
  assert.deepEqual(events[3]!.events[`${SSF}stream-updated`], { status: 'enabled' });

  // Disabled drops what happens meanwhile; enabled again starts from now.
  await server.call('POST', `/admin/api/streams/${streamId}/status`, { token: opsToken }, { status: 'disabled' });
  await users.setUserDisabled(server.db, alice.id, false);
  await server.call('POST', `/admin/api/streams/${streamId}/status`, { token: opsToken }, { status: 'enabled' });
  const after = await collect(server, items, streamId, 1);
  assert.deepEqual(after.map(typeOf), [`${SSF}stream-updated`]);

  const audit = await server.call('GET', '/admin/api/audit-events?type=stream.status_changed', { token: opsToken });
  assert.ok(audit.body.total >= 3);
  assert.equal((await server.call('DELETE', `/admin/api/streams/${streamId}`, { token: opsToken })).status, 204);
  assert.equal((await server.call('GET', `/admin/api/streams/${streamId}`, { token: opsToken })).status, 404);
});

test('the CLI lists streams with their lag, pauses, resumes and deletes one, and names a stream it cannot find', async (t) => {
  const server = await startAdmin(t);
  const items = await receiver(server);
  const streamId = (await server.call('POST', '/ssf/streams', { token: items.token }, { delivery: { method: POLL } })).body.stream_id;
  const alice = await users.createUser(server.db, { username: 'alice' });
  await users.setUserDisabled(server.db, alice.id, true);
  const env = { GATEHOUSE_DATABASE_URL: server.databaseUrl, GATEHOUSE_SECRET_KEY: testSecretKey(server.databaseUrl) };
  const run = (...args: string[]) => {
    const result = cli(env, [...args, '--json']);
    assert.equal(result.code, 0, `${args.join(' ')}: ${result.stderr}`);
    return result.json;
  };
  const listed = run('streams', 'list');
  assert.equal(listed.total, 1);
  assert.equal(listed.items[0].id, streamId);
  assert.equal(listed.items[0].pending, 2);
  // The lag counts what the receiver asked for, in the CLI as in the admin API: a stream that
  // wants only session-revoked is one event behind, not two.
  const narrow = (await server.call('POST', '/ssf/streams', { token: items.token }, { delivery: { method: POLL }, events_requested: [`${CAEP}session-revoked`] })).body.stream_id;
  await users.setUserDisabled(server.db, alice.id, false);
  await users.setUserDisabled(server.db, alice.id, true);
  const ops = await server.machine('ops', ['admin:streams:read']);
  const apiList = (await server.call('GET', '/admin/api/streams', { token: await server.clientToken(ops, ['admin:streams:read']) })).body.items;
  const pendingOf = (list: { id: string; pending: number }[]) => Object.fromEntries(list.map((stream) => [stream.id, stream.pending]));
  assert.deepEqual(pendingOf(run('streams', 'list').items), { [streamId]: 5, [narrow]: 1 });
  assert.deepEqual(pendingOf(apiList), pendingOf(run('streams', 'list').items));
  assert.equal(run('streams', 'show', narrow).stream.pending, 1);
  run('streams', 'delete', narrow);
  assert.equal(run('streams', 'pause', streamId, '--reason', 'maintenance').stream.status, 'paused');
  assert.deepEqual(await poll(server, items, streamId), { sets: {}, moreAvailable: false });
  assert.equal(run('streams', 'show', streamId).stream.status, 'paused');
  assert.equal(run('streams', 'resume', streamId).stream.status, 'enabled');
  const events = await collect(server, items, streamId, 7);
  assert.deepEqual(events.slice(5).map((event) => event.events[`${SSF}stream-updated`]), [{ status: 'paused', reason: 'maintenance' }, { status: 'enabled' }]);
  assert.deepEqual(run('streams', 'delete', streamId), { deleted: streamId });
  const missing = cli(env, ['streams', 'show', streamId]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, new RegExp(`no stream ${streamId}`));
  assert.doesNotMatch(missing.stderr, /\n\s+at /, 'no stack trace');
});
