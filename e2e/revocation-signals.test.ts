// Revocation that reaches an API at once (issue 16, docs/adr/0016-shared-signals.md): a Gatehouse
// server process and a resource server (Fastify + @gatehouse/sdk with the `signals` option, in
// this process) that has every credential cached for five minutes. Each change made with the CLI
// or the admin API — a user disabled, an API key revoked, a user's sessions ended, a client
// revoked — reaches the API as a security event, and the next request with the cached credential
// is refused, without waiting for a TTL. By polling and by push.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import Fastify from 'fastify';
import { generateKeyPair, SignJWT } from 'jose';
import { createAuthenticator, type Authenticator } from '@gatehouse/sdk';
import { gatehouse } from '@gatehouse/sdk/fastify';
import { tempDir } from '@gatehouse/test-support/files';
import { openStorage } from '@gatehouse/server';
import * as apiKeys from '@gatehouse/server/internal/storage/api-keys';
import * as apis from '@gatehouse/server/internal/storage/apis';
import * as clients from '@gatehouse/server/internal/storage/clients';
import * as roles from '@gatehouse/server/internal/storage/roles';
import * as users from '@gatehouse/server/internal/storage/users';
import { withPasswordHash } from '@gatehouse/server/internal/passwords/user-passwords';
import { cli, startProcess, tokenRequest, type Env } from '@gatehouse/test-support/gatehouse';
import { withFreePort } from '@gatehouse/test-support/ports';
import { secondPassed, waitFor } from '@gatehouse/test-support/wait';

const API = 'https://items.example';

async function setup(t: test.TestContext, delivery: 'poll' | 'push') {
  const env: Env = { GATEHOUSE_DATABASE_URL: `sqlite:${join(tempDir(t), 'gatehouse.db')}`, GATEHOUSE_DEFAULT_API: API };
  const run = (...args: string[]) => {
    const result = cli(env, [...args, '--json']);
    assert.equal(result.code, 0, `${args.join(' ')}: ${result.stderr}`);
    return result.json;
  };
  const server = await startProcess(t, env);
  // What the CLI would make, made through the same storage calls (spawning the CLI nine times
  // takes longer than the whole test); the revocations below go through the CLI itself.
  const storage = openStorage(env.GATEHOUSE_DATABASE_URL!);
  t.after(() => storage.close());
  const { db } = storage;
  await apis.createApi(db, { identifier: API, name: 'Items', scopes: 'items:read' });
  await roles.createRole(db, { name: 'reader', scopes: 'items:read' });
  const alice = await users.createUser(db, await withPasswordHash({ username: 'alice', password: 'correct horse battery staple', roles: ['reader'] }));
  const bob = await users.createUser(db, await withPasswordHash({ username: 'bob', password: 'another fine passphrase', roles: ['reader'] }));
  const app = await clients.createClient(db, { clientId: 'app', name: 'App', grantTypes: 'password', apis: [API], scopes: 'items:read' });
  const worker = await clients.createClient(db, { clientId: 'worker', name: 'Worker', grantTypes: 'client_credentials', apis: [API], scopes: 'items:read' });
  // The API's own client: introspection, and a stream of security events (admin:streams:write).
  const receiver = await clients.createClient(db, { clientId: 'items-api', name: 'Items API', grantTypes: 'client_credentials', apis: [`${server.issuer}/admin/api`], scopes: 'admin:streams:write' });
  const key = await apiKeys.createApiKey(db, { owner: { kind: 'user', id: alice.id }, api: API, scopes: 'items:read' });

  // The resource server, caching every answer for five minutes. Its calls to the token endpoint
  // are counted: the stream's token is fetched once and reused, not asked for at every poll.
  let tokenRequests = 0;
  // And the polls it sends (RFC 8936 §2.4): each asks the transmitter to hold it until events come.
  const polls: { returnImmediately?: unknown }[] = [];
  // And the push secret it gives the transmitter when it makes its stream (RFC 8935 §2.1's
  // Authorization header), so the test can push to it as the transmitter would.
  let pushAuthorization: string | undefined;
  // What the API reports to its onError (an outage, a bug): closing it is neither.
  const reported: Error[] = [];
  const counting: typeof fetch = (input, init) => {
    const { pathname } = new URL(input instanceof Request ? input.url : String(input));
    if (pathname === '/token') tokenRequests++;
    if (pathname.startsWith('/ssf/poll/') && typeof init?.body === 'string') polls.push(JSON.parse(init.body));
    if (pathname === '/ssf/streams' && typeof init?.body === 'string') pushAuthorization = JSON.parse(init.body).delivery?.authorization_header ?? pushAuthorization;
    return fetch(input, init);
  };
  const { port, authenticator } = await withFreePort(async (port) => {
    const authenticator: Authenticator = createAuthenticator({
      issuer: server.issuer,
      audience: API,
      algorithms: ['ES256'],
      credentials: { apiKey: true },
      introspection: { clientId: 'items-api', clientSecret: receiver.clientSecret!, cacheTtl: 300 },
      signals: delivery === 'poll' ? true : { delivery: { push: `http://127.0.0.1:${port}/security-events` } },
      fetch: counting,
      onError: (error) => reported.push(error),
    });
    const resource = Fastify();
    await resource.register(gatehouse, { authenticator });
    resource.get('/items', { auth: { scopes: ['items:read'], sources: ['bearer', 'apiKey'] } }, async (request) => ({ caller: request.auth!.subject }));
    try {
      await resource.listen({ port, host: '127.0.0.1' });
    } catch (error) {
      await resource.close();
      throw error;
    }
    t.after(() => resource.close());
    return { port, authenticator };
  });
  await waitFor(() => authenticator.status().signals.state === 'connected', { message: `the ${delivery} stream connected` });

  const password = async (username: string, secret: string) =>
    (await tokenRequest(server.issuer, { grant_type: 'password', username, password: secret, resource: API, scope: 'items:read' }, { clientId: 'app', clientSecret: app.clientSecret! })).body.access_token as string;
  const call = async (headers: Record<string, string>) => (await fetch(`http://127.0.0.1:${port}/items`, { headers })).status;
  return { server, run, db, alice, bob, worker, key, authenticator, password, call, tokenRequests: () => tokenRequests, polls, reported, port, receiverSecret: receiver.clientSecret!, pushAuthorization: () => pushAuthorization };
}

/** The credential works (and is now cached); after `revoke`, it is refused within the deadline. */
async function refusedAfter(call: () => Promise<number>, revoke: () => unknown, what: string): Promise<number> {
  assert.equal(await call(), 200, `${what}: works before`);
  assert.equal(await call(), 200, `${what}: works from the cache`);
  const started = performance.now();
  await revoke();
  await waitFor(async () => (await call()) === 401, { message: `${what}: refused`, timeout: 10_000 });
  return performance.now() - started;
}

for (const delivery of ['poll', 'push'] as const) {
  test(`${delivery}: a disabled user, a revoked API key, ended sessions, a revoked client, a rotated secret, changed roles and a new password are each refused at once despite the cache`, async (t) => {
    const { server, run, db, alice, bob, worker, key, authenticator, password, call, tokenRequests, polls, port, receiverSecret, pushAuthorization } = await setup(t, delivery);

    // `gatehouse users disable` (the CLI, another process): the user's cached JWT is refused.
    const aliceToken = await password('alice', 'correct horse battery staple');
    await refusedAfter(() => call({ authorization: `Bearer ${aliceToken}` }), () => run('users', 'disable', 'alice'), 'disabled user');
    run('users', 'enable', 'alice');

    // An API key revoked: its cached introspection answer goes.
    const keyHeader = { 'x-api-key': key.key as string };
    await refusedAfter(() => call(keyHeader), () => run('api-keys', 'revoke', key.apiKey.id), 'revoked API key');

    // An operator ends bob's sessions through the admin API.
    const ops = await clients.createClient(db, { clientId: 'ops', name: 'Ops', grantTypes: 'client_credentials', apis: [`${server.issuer}/admin/api`], scopes: 'admin:users:write' });
    const opsToken = (await tokenRequest(server.issuer, { grant_type: 'client_credentials', resource: `${server.issuer}/admin/api`, scope: 'admin:users:write' }, { clientId: 'ops', clientSecret: ops.clientSecret! })).body.access_token;
    const bobToken = await password('bob', 'another fine passphrase');
    await refusedAfter(
      () => call({ authorization: `Bearer ${bobToken}` }),
      async () => assert.equal((await fetch(`${server.issuer}/admin/api/users/${bob.id}/sessions`, { method: 'DELETE', headers: { authorization: `Bearer ${opsToken}` } })).status, 200),
      'ended sessions',
    );
    // A token issued after the event is accepted: the revocation is of what came before.
    const fresh = await waitFor(async () => {
      const token = await password('bob', 'another fine passphrase');
      return (await call({ authorization: `Bearer ${token}` })) === 200 ? token : undefined;
    }, { message: 'a new token for bob works' });
    assert.ok(fresh);

    // A client revoked: its client-credentials token is refused.
    const workerToken = (await tokenRequest(server.issuer, { grant_type: 'client_credentials', resource: API, scope: 'items:read' }, { clientId: 'worker', clientSecret: worker.clientSecret! })).body.access_token as string;
    await refusedAfter(() => call({ authorization: `Bearer ${workerToken}` }), () => run('clients', 'revoke', 'worker'), 'revoked client');

    // A client's secret rotated (CAEP credential-change of the client): what it obtained before goes.
    const rotating = await clients.createClient(db, { clientId: 'rotating', name: 'Rotating', grantTypes: 'client_credentials', apis: [API], scopes: 'items:read' });
    const rotatingToken = (await tokenRequest(server.issuer, { grant_type: 'client_credentials', resource: API, scope: 'items:read' }, { clientId: 'rotating', clientSecret: rotating.clientSecret! })).body.access_token as string;
    await refusedAfter(() => call({ authorization: `Bearer ${rotatingToken}` }), () => run('clients', 'rotate-secret', 'rotating'), 'rotated client secret');

    // A user's roles changed (CAEP token-claims-change, no session ended): the token that carried the old ones goes.
    await secondPassed(Math.floor(Date.now() / 1000));
    const aliceAgain = await password('alice', 'correct horse battery staple');
    const rolesChanged = await waitFor(async () => ((await call({ authorization: `Bearer ${aliceAgain}` })) === 200 ? true : undefined), { message: 'alice\'s new token works' });
    assert.ok(rolesChanged);
    await refusedAfter(
      () => call({ authorization: `Bearer ${aliceAgain}` }),
      async () => assert.equal((await fetch(`${server.issuer}/admin/api/users/${alice.id}`, { method: 'PATCH', headers: { authorization: `Bearer ${opsToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ roles: [] }) })).status, 200),
      'roles changed',
    );

    // A password set (CAEP credential-change and session-revoked): bob's token from before goes.
    await secondPassed(Math.floor(Date.now() / 1000));
    const bobAgain = await password('bob', 'another fine passphrase');
    await refusedAfter(() => call({ authorization: `Bearer ${bobAgain}` }), () => run('users', 'set-password', 'bob', '--password', 'a brand new passphrase 9'), 'password set');

    const status = authenticator.status().signals;
    assert.equal(status.state, 'connected');
    assert.equal(status.delivery, delivery);
    assert.ok(status.events >= 7, JSON.stringify(status));
    assert.equal(tokenRequests(), 1, 'one token for the stream, reused throughout');
    assert.ok(status.lastEventAt instanceof Date, 'when the last event came');
    if (delivery === 'poll') {
      assert.ok(polls.length >= 7, `${polls.length} polls`);
      assert.ok(polls.every((poll) => poll.returnImmediately === false), 'every poll is a held one: no busy polling while nothing happens');
    }

    if (delivery === 'push') {
      // A push with the stream's own secret but a SET the issuer did not sign (an attacker who
      // learned the secret, or a broken transmitter) is answered 400 with the RFC 8935 error, not
      // acknowledged, and changes nothing: bob's token from before it still works.
      const secret = pushAuthorization();
      assert.match(secret ?? '', /^Bearer \S{32,}$/, 'the push secret the API gave its stream');
      const bobNow = await waitFor(async () => {
        const token = await password('bob', 'a brand new passphrase 9');
        return (await call({ authorization: `Bearer ${token}` })) === 200 ? token : undefined;
      }, { message: 'a token for bob after the password was set works' });
      const attacker = await generateKeyPair('ES256');
      const forged = await new SignJWT({ events: { 'https://schemas.openid.net/secevent/caep/event-type/session-revoked': { subject: { format: 'iss_sub', iss: server.issuer, sub: bob.id }, event_timestamp: Math.floor(Date.now() / 1000) } } })
        .setProtectedHeader({ alg: 'ES256', typ: 'secevent+jwt', kid: 'forged' })
        .setIssuer(server.issuer).setAudience('items-api').setIssuedAt().setJti('forged-1')
        .sign(attacker.privateKey);
      for (const [what, body] of [['a SET signed by another key', forged], ['not a JWT', 'a.b.c']] as const) {
        const pushed = await fetch(`http://127.0.0.1:${port}/security-events`, { method: 'POST', headers: { 'content-type': 'application/secevent+jwt', authorization: secret! }, body });
        assert.equal(pushed.status, 400, what);
        const answer = (await pushed.json()) as { err: string; description: string };
        assert.match(answer.err, /^(invalid_key|invalid_request)$/, what);
        assert.equal(typeof answer.description, 'string', what);
      }
      assert.equal(await call({ authorization: `Bearer ${bobNow}` }), 200, 'the forged session-revoked revoked nothing');

      // The same API started again (same push URL): it takes its stream back, it does not add one.
      const restarted = createAuthenticator({
        issuer: server.issuer,
        audience: API,
        algorithms: ['ES256'],
        introspection: { clientId: 'items-api', clientSecret: receiverSecret },
        signals: { delivery: { push: `http://127.0.0.1:${port}/security-events` } },
      });
      // Beside it, another stream of the same client (a poll receiver): not the one to take.
      const receiverToken = (await tokenRequest(server.issuer, { grant_type: 'client_credentials', resource: `${server.issuer}/admin/api`, scope: 'admin:streams:write' }, { clientId: 'items-api', clientSecret: receiverSecret })).body.access_token;
      const other = await fetch(`${server.issuer}/ssf/streams`, { method: 'POST', headers: { authorization: `Bearer ${receiverToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ delivery: { method: 'urn:ietf:rfc:8936' } }) });
      assert.equal(other.status, 201);
      // Listed first (streams are listed oldest first): the API must pick its own by URL, not the first.
      await db.updateTable('ssf_streams').set({ created_at: 0 }).where('id', '=', ((await other.json()) as { stream_id: string }).stream_id).execute();
      const { id: pushStream, authorization_header: oldHeader } = await db.selectFrom('ssf_streams').select(['id', 'authorization_header']).where('delivery_method', '=', 'push').executeTakeFirstOrThrow();
      await restarted.start();
      t.after(() => restarted.close());
      const streams = await db.selectFrom('ssf_streams').select(['id', 'endpoint_url']).execute();
      assert.equal(streams.length, 2, JSON.stringify(streams));
      assert.equal(restarted.status().signals.streamId, pushStream, 'its own push stream, found by its URL');
      // Taken back with the restarted API's own push secret (the old one died with the old API).
      const { authorization_header: newHeader } = await db.selectFrom('ssf_streams').select('authorization_header').where('id', '=', pushStream).executeTakeFirstOrThrow();
      assert.notEqual(newHeader, oldHeader, 'the stream now pushes with the new secret');
    }
    assert.ok(alice.id);
  });
}

test('the stream is the API\'s own: closing the API deletes it; a stream that cannot be made says why in status(), and polling makes it once it can', async (t) => {
  const { server, db, authenticator, reported } = await setup(t, 'poll');
  const auditor = await clients.createClient(db, { clientId: 'auditor', name: 'Auditor', grantTypes: 'client_credentials', apis: [`${server.issuer}/admin/api`], scopes: 'admin:streams:read' });
  const listed = async () => {
    const token = (await tokenRequest(server.issuer, { grant_type: 'client_credentials', resource: `${server.issuer}/admin/api`, scope: 'admin:streams:read' }, { clientId: 'auditor', clientSecret: auditor.clientSecret! })).body.access_token;
    return ((await (await fetch(`${server.issuer}/admin/api/streams`, { headers: { authorization: `Bearer ${token}` } })).json()) as { total: number }).total;
  };
  assert.equal(await listed(), 1);
  const before = reported.length;
  await authenticator.close();
  assert.deepEqual(reported.slice(before).map(String), [], 'closing the API (its held poll aborted) is no error');
  assert.equal(await listed(), 0);
  assert.equal(authenticator.status().signals.state, 'down');

  // A client without the streams scope: down, saying so; requests still work by the caches' TTLs.
  const plain = await clients.createClient(db, { clientId: 'plain', name: 'Plain', grantTypes: 'client_credentials', apis: [API], scopes: 'items:read' });
  const errors: Error[] = [];
  const other = createAuthenticator({
    issuer: server.issuer,
    audience: API,
    algorithms: ['ES256'],
    signals: { clientId: 'plain', clientSecret: plain.clientSecret! },
    onError: (error) => errors.push(error),
  });
  await assert.rejects(other.start(), /admin:streams:write/);
  t.after(() => other.close());
  const down = other.status().signals;
  assert.equal(down.state, 'down');
  assert.match(down.error!, /admin:streams:write/);
  assert.ok(errors.length >= 1);
  // Polling keeps trying, with a backoff that starts short (0.5 s, 1 s, …, at most 30 s): two more
  // attempts come within seconds, not after the longest pause.
  await waitFor(() => errors.length >= 3, { timeout: 12_000, message: 'tried again twice within seconds' });
  // Given the scope, the stream is made and events come.
  await clients.updateClient(db, 'plain', { apis: [API, `${server.issuer}/admin/api`], scopes: ['items:read', 'admin:streams:write'] });
  await waitFor(() => other.status().signals.state === 'connected', { timeout: 45_000, message: 'the stream made once the client may' });
  // Tried again with a pause that doubles, never in a loop: a few attempts, not hundreds.
  assert.ok(errors.length < 30, `${errors.length} attempts`);
});
