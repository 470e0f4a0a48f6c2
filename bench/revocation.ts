// Revocation latency (issue 16, docs/adr/0016-shared-signals.md): the time from a change at the
// server to the first request an API refuses, for a credential the API had verified and cached.
//
// A `gatehouse serve` pinned to core 1 (SQLite); in this process (core 0), an API using
// @gatehouse/sdk with `signals`, by poll and by push, every cache at five minutes. Three changes,
// `BENCH_TRIALS` times each (100 by default), interleaved:
// - a user disabled, as `gatehouse users disable` does it (the same storage call, on the same
//   database, from this process: the CLI's two seconds of Node start-up are not the system's latency);
// - a user's sessions ended by an operator through the admin API (DELETE /admin/api/users/{id}/sessions);
// - an API key revoked through the admin API.
// Each trial: a fresh token (password grant) or key, used twice at the API (verified, then cached),
// then the clock starts, the change is made, and the API is asked every millisecond until it
// answers 401. Reported: median, p90, p99 and max per delivery and change, with the machine's load.
import { join } from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import Fastify, { type FastifyInstance } from 'fastify';
import { createAuthenticator, type Authenticator } from '@gatehouse/sdk';
import { gatehouse } from '@gatehouse/sdk/fastify';
import { migrate, openStorage } from '@gatehouse/server';
import { ensureAdminApi } from '@gatehouse/server/internal/admin/bootstrap';
import * as apiKeys from '@gatehouse/server/internal/storage/api-keys';
import * as apis from '@gatehouse/server/internal/storage/apis';
import * as clients from '@gatehouse/server/internal/storage/clients';
import * as roles from '@gatehouse/server/internal/storage/roles';
import * as users from '@gatehouse/server/internal/storage/users';
import { withPasswordHash } from '@gatehouse/server/internal/passwords/user-passwords';
import { useKeys } from '@gatehouse/server/internal/storage/sealing';
import { testKeys } from '@gatehouse/test-support/gatehouse';
import { freePort } from '@gatehouse/test-support/ports';
import { secondPassed } from '@gatehouse/test-support/wait';
import { machineDuring, sampleCpu } from './machine.ts';
import { fixed, recordMachine, startPinnedServer, table } from './support.ts';

const TRIALS = Number(process.env.BENCH_TRIALS ?? 100);
const API = 'https://items.example';
const PASSWORD = 'correct horse battery staple';
type Change = 'user disabled' | 'sessions ended (admin API)' | 'API key revoked (admin API)';
const CHANGES: readonly Change[] = ['user disabled', 'sessions ended (admin API)', 'API key revoked (admin API)'];

export async function revocationBenchmark(): Promise<{ markdown: string; results: Record<string, number> }> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-revocation-'));
  const databaseUrl = `sqlite:${join(dir, 'gatehouse.db')}`;
  const server = await startPinnedServer({ GATEHOUSE_DATABASE_URL: databaseUrl, GATEHOUSE_ADMIN_CONSOLE: 'false' });
  const storage = openStorage(databaseUrl);
  useKeys(storage.db, testKeys(databaseUrl));
  const { db } = storage;
  await migrate(db);
  const adminApi = await ensureAdminApi(db, server.url);
  await apis.createApi(db, { identifier: API, name: 'Items', scopes: 'items:read' });
  await roles.createRole(db, { name: 'reader', scopes: 'items:read' });
  const user = await users.createUser(db, await withPasswordHash({ username: 'alice', password: PASSWORD, roles: ['reader'] }));
  const app = await clients.createClient(db, { clientId: 'app', name: 'App', grantTypes: 'password', apis: [API], scopes: ['items:read'] });
  const ops = await clients.createClient(db, { clientId: 'ops', name: 'Ops', grantTypes: 'client_credentials', apis: [adminApi.identifier], scopes: ['admin:users:write', 'admin:api-keys:write'] });
  const receiver = await clients.createClient(db, { clientId: 'items-api', name: 'Items API', grantTypes: 'client_credentials', apis: [adminApi.identifier], scopes: ['admin:streams:write'] });

  const form = async (body: Record<string, string>, client: { clientId: string; clientSecret?: string | undefined }) => {
    const response = await fetch(`${server.url}/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${client.clientId}:${client.clientSecret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(body),
    });
    const json = (await response.json()) as { access_token?: string };
    if (!json.access_token) throw new Error(`token refused: ${JSON.stringify(json)}`);
    return json.access_token;
  };
  const opsToken = await form({ grant_type: 'client_credentials', resource: adminApi.identifier, scope: 'admin:users:write admin:api-keys:write' }, { clientId: 'ops', clientSecret: ops.clientSecret });

  const samples: Record<string, number[]> = {};
  const before = sampleCpu();
  try {
    for (const delivery of ['poll', 'push'] as const) {
      const resource = await resourceServer(server.url, receiver.clientSecret!, delivery);
      try {
        for (let trial = 0; trial < TRIALS; trial++) {
          for (const change of CHANGES) {
            await users.setUserDisabled(db, user.id, false);
            let headers: Record<string, string>;
            let revoke: () => Promise<unknown>;
            if (change === 'API key revoked (admin API)') {
              const { apiKey, key } = await apiKeys.createApiKey(db, { owner: { kind: 'user', id: user.id }, api: API, scopes: ['items:read'] });
              headers = { 'x-api-key': key };
              revoke = () => fetch(`${server.url}/admin/api/api-keys/${apiKey.id}/revoke`, { method: 'POST', headers: { authorization: `Bearer ${opsToken}` } });
            } else {
              const token = await form({ grant_type: 'password', username: 'alice', password: PASSWORD, resource: API, scope: 'items:read' }, { clientId: 'app', clientSecret: app.clientSecret });
              headers = { authorization: `Bearer ${token}` };
              revoke =
                change === 'user disabled'
                  ? () => users.setUserDisabled(db, user.id, true)
                  : () => fetch(`${server.url}/admin/api/users/${user.id}/sessions`, { method: 'DELETE', headers: { authorization: `Bearer ${opsToken}` } });
            }
            // Verified, then served from the cache.
            for (let i = 0; i < 2; i++) {
              const status = await resource.call(headers);
              if (status !== 200) throw new Error(`${delivery}, ${change}, trial ${trial}: ${status} before the change`);
            }
            const started = performance.now();
            const at = Date.now();
            await revoke();
            while ((await resource.call(headers)) !== 401) {
              if (performance.now() - started > 30_000) throw new Error(`${delivery}, ${change}: not refused within 30 s`);
              await new Promise((resolve) => setTimeout(resolve, 1));
            }
            (samples[`${delivery}|${change}`] ??= []).push(performance.now() - started);
            // A token issued in the second of a revocation is refused too (iat has whole seconds):
            // the next trial's token comes from a later second.
            await secondPassed(Math.floor(at / 1000));
          }
        }
      } finally {
        await resource.close();
      }
    }
  } finally {
    recordMachine('revocation', machineDuring(before, sampleCpu()));
    await storage.close();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }

  const results: Record<string, number> = {};
  const rows = Object.entries(samples).map(([key, values]) => {
    const [delivery, change] = key.split('|') as [string, string];
    const sorted = [...values].sort((a, b) => a - b);
    const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
    results[`${delivery} ${change} p50 ms`] = at(0.5);
    results[`${delivery} ${change} p99 ms`] = at(0.99);
    return { delivery, change, trials: values.length, 'median ms': fixed(at(0.5)), 'p90 ms': fixed(at(0.9)), 'p99 ms': fixed(at(0.99)), 'max ms': fixed(sorted.at(-1)!) };
  });
  return { markdown: table(rows), results };
}

interface ResourceServer {
  call(headers: Record<string, string>): Promise<number>;
  close(): Promise<void>;
}

async function resourceServer(issuer: string, clientSecret: string, delivery: 'poll' | 'push'): Promise<ResourceServer> {
  const port = await freePort();
  const authenticator: Authenticator = createAuthenticator({
    issuer,
    audience: API,
    algorithms: ['ES256'],
    credentials: { apiKey: true },
    // No failure limit: every trial ends in refused requests from this one address, which it would count.
    introspection: { clientId: 'items-api', clientSecret, cacheTtl: 300, failureLimit: false },
    tokenCacheSize: 10_000,
    signals: delivery === 'poll' ? true : { delivery: { push: `http://127.0.0.1:${port}/security-events` } },
  });
  const app: FastifyInstance = Fastify();
  await app.register(gatehouse, { authenticator });
  app.get('/items', { auth: { scopes: ['items:read'], sources: ['bearer', 'apiKey'] } }, async () => ({ ok: true }));
  await app.listen({ port, host: '127.0.0.1' });
  await authenticator.start();
  for (let i = 0; authenticator.status().signals.state !== 'connected'; i++) {
    if (i > 1000) throw new Error(`the ${delivery} stream did not connect: ${JSON.stringify(authenticator.status())}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return {
    async call(headers) {
      const response = await fetch(`http://127.0.0.1:${port}/items`, { headers });
      await response.arrayBuffer();
      return response.status;
    },
    close: () => app.close(),
  };
}
