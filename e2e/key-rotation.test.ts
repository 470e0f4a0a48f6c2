// Signing-key rotation under load (issue #4): an API keeps verifying tokens through a rotation
// started from the CLI, with zero failed verifications and no restart. The contract that makes
// it work: a new key is published (state `next`) before it signs anything, for longer than
// verifiers keep the JWKS; here both are scaled down (API refreshes every 1 s, key activates 3 s
// after publication) — in production 10 min and 1 h. Every phase waits for what it needs (traffic
// seen, the key published, traffic signed by it), never for a fixed time.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import Fastify from 'fastify';
import { decodeProtectedHeader } from 'jose';
import { createAuthenticator } from '@gatehouse/sdk';
import { gatehouse } from '@gatehouse/sdk/fastify';
import { tempDir } from '@gatehouse/test-support/files';
import { cli, startProcess, tokenRequest } from '@gatehouse/test-support/gatehouse';
import { waitFor } from '@gatehouse/test-support/wait';

const API = 'https://items.example';

test('an API under steady traffic sees zero failed verifications through a key rotation', async (t) => {
  const env = {
    GATEHOUSE_DATABASE_URL: `sqlite:${join(tempDir(t), 'gatehouse.db')}`,
    GATEHOUSE_DEFAULT_API: API,
    GATEHOUSE_KEY_CHECK_INTERVAL: '1',
  };
  const run = (...args: string[]) => {
    const result = cli(env, [...args, '--json']);
    assert.equal(result.code, 0, result.stderr);
    return result.json;
  };
  run('apis', 'create', '--identifier', API, '--name', 'Items', '--scopes', 'accounts:read');
  const service = run('clients', 'create', '--api', API, '--name', 'Service', '--grants', 'client_credentials', '--scopes', 'accounts:read');
  const auth = { clientId: service.client.clientId, clientSecret: service.clientSecret };
  const server = await startProcess(t, env);

  // The API: started once, never restarted.
  const authenticator = createAuthenticator({ issuer: server.issuer, audience: API, algorithms: ['ES256'], jwksMaxAge: 1, jwksCooldown: 1 });
  const api = Fastify();
  await api.register(gatehouse, { authenticator });
  api.get('/accounts/alice', { auth: { scopes: ['accounts:read'] } }, async () => ({ username: 'alice' }));
  const apiUrl = await api.listen({ port: 0, host: '127.0.0.1' });
  t.after(() => api.close());

  const oldToken = (await tokenRequest(server.issuer, { grant_type: 'client_credentials' }, auth)).body.access_token as string;
  const oldKid = decodeProtectedHeader(oldToken).kid!;

  // Steady traffic: one request at a time, a fresh token for each (so every signing key in turn
  // is exercised), used against the API at once. The pause between two requests only keeps the
  // load light; nothing waits on it.
  const TRAFFIC_PAUSE_MS = 50;
  const results: { status: number; kid: string }[] = [];
  const signedBy = (kid: string) => results.filter((r) => r.kid === kid).length;
  let stop = false;
  const traffic = (async () => {
    while (!stop) {
      const token = (await tokenRequest(server.issuer, { grant_type: 'client_credentials' }, auth)).body.access_token as string;
      const response = await fetch(`${apiUrl}/accounts/alice`, { headers: { authorization: `Bearer ${token}` } });
      results.push({ status: response.status, kid: decodeProtectedHeader(token).kid! });
      await response.arrayBuffer();
      await new Promise((resolve) => setTimeout(resolve, TRAFFIC_PAUSE_MS));
    }
  })();
  t.after(async () => {
    stop = true;
    await traffic.catch(() => {});
  });

  await waitFor(() => signedBy(oldKid) >= 10, { message: 'traffic with the old key' });
  const rotation = run('keys', 'rotate', '--alg', 'ES256', '--activate-in', '3s');
  const newKid = rotation.scheduled[0].kid as string;
  // Published (to verify only) as soon as the server sees it, before it signs.
  const published = await waitFor(
    async () => ((await (await fetch(`${server.issuer}/jwks`)).json()) as { keys: { kid: string; key_ops?: string[] }[] }).keys.find((k) => k.kid === newKid),
    { message: 'the new key published' },
  );
  assert.deepEqual(published.key_ops, ['verify'], 'published, not yet signing');
  // Let it activate, and keep the traffic going until the new key has signed a good share of it.
  await waitFor(() => signedBy(newKid) >= 10, { timeout: 30_000, message: 'traffic signed with the new key' });
  stop = true;
  await traffic;

  const failures = results.filter((r) => r.status !== 200);
  assert.deepEqual(failures, [], 'zero failed verifications');
  assert.ok(signedBy(oldKid) >= 10 && signedBy(newKid) >= 10, `traffic before and after the rotation (${signedBy(oldKid)} and ${signedBy(newKid)} requests)`);

  // The old key is retired but still published: a token it signed still works until it expires.
  const afterwards = await fetch(`${apiUrl}/accounts/alice`, { headers: { authorization: `Bearer ${oldToken}` } });
  assert.equal(afterwards.status, 200);
  const keys = run('keys', 'list').keys as { kid: string; state: string }[];
  assert.equal(keys.find((k) => k.kid === oldKid)?.state, 'retired');
  assert.equal(keys.find((k) => k.kid === newKid)?.state, 'active');
});
