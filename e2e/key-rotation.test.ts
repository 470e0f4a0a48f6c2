// Signing-key rotation under load (issue #4): an API keeps verifying tokens through a rotation
// started from the CLI, with zero failed verifications and no restart. The contract that makes
// it work: a new key is published (state `next`) before it signs anything, for longer than
// verifiers keep the JWKS; here both are scaled down (API refreshes every 1 s, key activates 3 s
// after publication) — in production 10 min and 1 h.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import Fastify from 'fastify';
import { decodeProtectedHeader } from 'jose';
import { createAuthenticator } from '@gatehouse/sdk';
import { gatehouse } from '@gatehouse/sdk/fastify';
import { tempDir } from '@gatehouse/test-support/files';
import { cli, startProcess, tokenRequest } from '@gatehouse/test-support/gatehouse';

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

  // Steady traffic: a fresh token every 50 ms (so every signing key in turn is exercised),
  // each used against the API at once.
  const results: { status: number; kid: string }[] = [];
  let stop = false;
  const traffic = (async () => {
    while (!stop) {
      const token = (await tokenRequest(server.issuer, { grant_type: 'client_credentials' }, auth)).body.access_token as string;
      const response = await fetch(`${apiUrl}/accounts/alice`, { headers: { authorization: `Bearer ${token}` } });
      results.push({ status: response.status, kid: decodeProtectedHeader(token).kid! });
      await response.arrayBuffer();
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();

  await new Promise((resolve) => setTimeout(resolve, 1500));
  const rotation = run('keys', 'rotate', '--alg', 'ES256', '--activate-in', '3s');
  const newKid = rotation.scheduled[0].kid as string;
  // Published at once, before it signs.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const published = (await (await fetch(`${server.issuer}/jwks`)).json()) as { keys: { kid: string; key_ops?: string[] }[] };
  assert.deepEqual(published.keys.find((k) => k.kid === newKid)?.key_ops, ['verify'], 'published, not yet signing');
  // Let it activate, and keep the traffic going a while.
  await new Promise((resolve) => setTimeout(resolve, 5000));
  stop = true;
  await traffic;

  const failures = results.filter((r) => r.status !== 200);
  assert.deepEqual(failures, [], 'zero failed verifications');
  const kids = new Set(results.map((r) => r.kid));
  assert.ok(kids.has(oldKid) && kids.has(newKid), `traffic before and after the rotation (kids: ${[...kids]})`);
  assert.ok(results.length > 40, `steady traffic (${results.length} requests)`);

  // The old key is retired but still published: a token it signed still works until it expires.
  const afterwards = await fetch(`${apiUrl}/accounts/alice`, { headers: { authorization: `Bearer ${oldToken}` } });
  assert.equal(afterwards.status, 200);
  const keys = run('keys', 'list').keys as { kid: string; state: string }[];
  assert.equal(keys.find((k) => k.kid === oldKid)?.state, 'retired');
  assert.equal(keys.find((k) => k.kid === newKid)?.state, 'active');
});
