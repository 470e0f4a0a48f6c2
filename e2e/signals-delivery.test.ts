// Shared Signals delivery across instances (issue 16, docs/adr/0016-shared-signals.md): two
// server processes on one PostgreSQL database, one push stream to an API using @gatehouse/sdk.
// The instance pushing is killed in the middle of a push; the other takes the stream over once
// the lease lapses, and pushes what is left, in order. The API applies every event exactly once
// (by jti), though one was pushed twice after the API had applied it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import Fastify from 'fastify';
import { createAuthenticator } from '@gatehouse/sdk';
import { gatehouse } from '@gatehouse/sdk/fastify';
import { openStorage } from '@gatehouse/server/internal/storage/database';
import { createUser, setUserDisabled } from '@gatehouse/server/internal/storage/users';
import { cli, startProcess } from '@gatehouse/test-support/gatehouse';
import { withFreePort } from '@gatehouse/test-support/ports';
import { tempPostgres } from '@gatehouse/test-support/postgres';
import { waitFor } from '@gatehouse/test-support/wait';

const EVENTS = 12;
const HANG_AT = 4;

test('an instance killed mid-push: the other instance delivers every event, in order, and the API applies each once', async (t) => {
  const databaseUrl = await tempPostgres(t);
  const env = { GATEHOUSE_DATABASE_URL: databaseUrl, GATEHOUSE_SSF_PUSH_TIMEOUT: '2' };
  const a = await startProcess(t, env);
  // One public URL for both, as behind a load balancer: A's.
  const b = await startProcess(t, { ...env, GATEHOUSE_PUBLIC_URL: a.issuer });
  const created = cli(env, ['clients', 'create', '--id', 'items-api', '--name', 'Items API', '--grants', 'client_credentials', '--api', `${a.issuer}/admin/api`, '--scopes', 'admin:streams:write', '--json']);
  assert.equal(created.code, 0, created.stderr);

  // The API: its push route hangs on the HANG_AT-th push, as a receiver that stops answering would.
  const pushes: string[] = [];
  let release: (() => void) | undefined;
  const { authenticator } = await withFreePort(async (port) => {
    const authenticator = createAuthenticator({
      issuer: a.issuer,
      audience: 'https://items.example',
      algorithms: ['ES256'],
      signals: { clientId: 'items-api', clientSecret: created.json.clientSecret, delivery: { push: `http://127.0.0.1:${port}/events` } },
    });
    const api = Fastify({ forceCloseConnections: true });
    api.addHook('preHandler', async (request) => {
      if (request.url === '/events') pushes.push(String(request.body));
    });
    // The answer to the HANG_AT-th push never leaves: the API has applied that event, the
    // transmitter never hears so, and the event is pushed again (the API must not apply it twice).
    api.addHook('onSend', async (request, _reply, payload) => {
      if (request.url === '/events' && pushes.length === HANG_AT && release === undefined) await new Promise<void>((resolve) => (release = resolve));
      return payload;
    });
    await api.register(gatehouse, { authenticator });
    await api.listen({ port, host: '127.0.0.1' });
    t.after(async () => {
      release?.();
      await api.close();
    });
    return { authenticator };
  });
  await waitFor(() => authenticator.status().signals.state === 'connected', { message: 'the push stream made' });

  // Events recorded in the database, as the CLI or either instance would.
  const storage = openStorage(databaseUrl);
  t.after(() => storage.close());
  const users = [];
  for (let i = 0; i < EVENTS / 2; i++) users.push(await createUser(storage.db, { username: `user${i}` }));
  for (const user of users) await setUserDisabled(storage.db, user.id, true); // account-disabled + session-revoked each
  await waitFor(() => pushes.length >= HANG_AT && release !== undefined, { message: 'a push in progress' });

  // The instance holding the lease is pushing now and will never hear back: kill it, mid-push.
  const owner = await waitFor(async () => (await storage.db.selectFrom('ssf_streams').select('lease_owner').executeTakeFirst())?.lease_owner, { message: 'a lease' });
  const pid = Number(owner.split(':')[0]);
  const killed = [a, b].find((instance) => instance.child.pid === pid);
  assert.ok(killed, `the lease names one of the two instances (${owner})`);
  await killed.stop('SIGKILL');

  await waitFor(() => authenticator.status().signals.events >= EVENTS, { message: 'every event applied', timeout: 30_000 });
  const jtis = pushes.map((set) => JSON.parse(Buffer.from(set.split('.')[1]!, 'base64url').toString()).jti as string);
  const firstSeen = [...new Set(jtis)];
  assert.equal(firstSeen.length, EVENTS, 'every event pushed');
  // The interrupted push was never acknowledged: the other instance pushed that event again, then went on.
  assert.equal(jtis.length, EVENTS + 1, `the interrupted one twice, the others once: ${jtis.length} pushes`);
  assert.equal(jtis[HANG_AT], jtis[HANG_AT - 1]);
  // In order: the events' own order (seq) is the order of first delivery.
  const order = await storage.db.selectFrom('security_events').select(['jti', 'seq']).orderBy('seq').execute();
  assert.deepEqual(firstSeen, order.map((row) => row.jti).filter((jti) => firstSeen.includes(jti)));
  assert.equal(authenticator.status().signals.events, EVENTS, 'each applied once');
});

