// Issue 11.5: an API whose issuer goes down must not answer a false 401. A token signed with a key
// the API has not fetched yet (a rotation it has not seen) may be perfectly good: while the issuer
// cannot be reached, every answer is 503 with Retry-After — also after the failed refetch, across
// several JWKS cooldowns — and once the issuer is back the token is accepted. Real processes: a
// `gatehouse serve` that is stopped and started again on the same port, and a Fastify API on a
// real socket. Every phase waits for what it needs (a condition), never a fixed time.
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
/** Seconds between two JWKS fetches the SDK may start (default 30; scaled down). */
const COOLDOWN = 1;

test('a token with a kid the API has not seen: 503 with Retry-After while the issuer is down (never 401), 200 once it is back', async (t) => {
  const env = {
    GATEHOUSE_DATABASE_URL: `sqlite:${join(tempDir(t), 'gatehouse.db')}`,
    GATEHOUSE_DEFAULT_API: API,
    // The server picks up a rotated key within a second.
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
  const first = await startProcess(t, env);
  const issuer = first.issuer;
  const accessToken = async () => (await tokenRequest(issuer, { grant_type: 'client_credentials' }, auth)).body.access_token as string;

  // The API, never restarted; its calls to the JWKS are counted (the network itself is real).
  const jwksCalls: number[] = [];
  const authenticator = createAuthenticator({
    issuer,
    audience: API,
    algorithms: ['ES256'],
    jwksCooldown: COOLDOWN,
    timeout: 2,
    fetch: (input, init) => {
      if (String(input).endsWith('/jwks')) jwksCalls.push(Date.now());
      return fetch(input, init);
    },
  });
  const api = Fastify();
  await api.register(gatehouse, { authenticator });
  api.get('/accounts/alice', { auth: { scopes: ['accounts:read'] } }, async () => ({ username: 'alice' }));
  const apiUrl = await api.listen({ port: 0, host: '127.0.0.1' });
  t.after(() => api.close());
  const call = async (token: string) => {
    const response = await fetch(`${apiUrl}/accounts/alice`, { headers: { authorization: `Bearer ${token}` } });
    return { status: response.status, retryAfter: response.headers.get('retry-after'), body: await response.text() };
  };

  // 1. The API has the issuer's keys.
  const oldToken = await accessToken();
  assert.equal((await call(oldToken)).status, 200);
  const oldKid = decodeProtectedHeader(oldToken).kid;

  // 2. A rotation the API does not see: a token signed with the new key, not shown to the API.
  run('keys', 'rotate', '--alg', 'ES256', '--activate-in', '0s');
  const fresh = await waitFor(
    async () => {
      const token = await accessToken();
      return decodeProtectedHeader(token).kid !== oldKid ? token : undefined;
    },
    { message: 'a token signed with the rotated key' },
  );

  // 3. The issuer goes down. Past the cooldown of the API's last fetch, the fresh token makes it
  //    refetch, which fails: the key may exist, so 503 — and still 503 after further cooldowns
  //    (a failed fetch never starts an "unknown key" period), each answer saying when to retry.
  assert.equal(await first.stop(), 0);
  const lastGoodFetch = jwksCalls.at(-1)!;
  await waitFor(() => Date.now() - lastGoodFetch > COOLDOWN * 1000, { message: 'the cooldown after the last good fetch' });
  const whileDown: { status: number; retryAfter: string | null; body: string }[] = [];
  const callsBefore = jwksCalls.length;
  await waitFor(
    async () => {
      whileDown.push(await call(fresh));
      // Three failed refetches: the outage lasted at least two whole cooldowns.
      return jwksCalls.length - callsBefore >= 3;
    },
    { interval: 100, timeout: 30_000, message: 'three failed JWKS refetches' },
  );
  for (const answer of whileDown) {
    assert.equal(answer.status, 503, `while the issuer is down: ${answer.body}`);
    assert.ok(Number(answer.retryAfter) >= 1 && Number(answer.retryAfter) <= COOLDOWN, `Retry-After ${answer.retryAfter}`);
    assert.equal(JSON.parse(answer.body).error, 'temporarily_unavailable');
  }
  assert.equal((await call(oldToken)).status, 200, 'a token signed with a known key verifies locally meanwhile');

  // 4. The issuer is back on the same address: the next allowed fetch finds the key.
  await startProcess(t, env, first.port);
  const recovering: number[] = [];
  await waitFor(
    async () => {
      const { status } = await call(fresh);
      recovering.push(status);
      return status === 200;
    },
    { interval: 100, message: 'the fresh token accepted once the issuer is back' },
  );
  assert.deepEqual(
    recovering.filter((status) => status !== 200 && status !== 503),
    [],
    'never anything but 503 until the key was fetched',
  );
});
