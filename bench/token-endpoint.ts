// Token endpoint throughput on one core: client credentials, and the password grant against
// the raw argon2id verification rate of the same core (the grant cannot beat it: every
// request verifies one password). Targets (issue #2): client credentials >= 2,000 tokens/s;
// password grant >= 90% of raw argon2id verifications/s.
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { migrate, openStorage } from '@gatehouse/server';
import { seedDemo, ITEMS_API } from '@gatehouse/e2e/support/gatehouse';
import { SERVER_CORE, fixed, load, pinned, startPinnedServer, table } from './support.ts';

const DURATION = Number(process.env.BENCH_DURATION ?? 10);

export async function tokenEndpointBenchmark(): Promise<{ markdown: string; results: Record<string, number> }> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-'));
  try {
    const databaseUrl = `sqlite:${join(dir, 'bench.db')}`;
    const storage = openStorage(databaseUrl);
    await migrate(storage.db);
    const seed = await seedDemo(storage.db);
    await storage.close();

    const server = await startPinnedServer({
      GATEHOUSE_DATABASE_URL: databaseUrl,
      GATEHOUSE_DEFAULT_API: ITEMS_API,
      // Only failures count toward throttling; keep a bad run from locking the account anyway.
      GATEHOUSE_LOGIN_MAX_FAILURES_PER_ACCOUNT: '1000',
    });
    const basic = (c: { clientId: string; clientSecret: string }) => `Basic ${Buffer.from(`${c.clientId}:${c.clientSecret}`).toString('base64')}`;
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    try {
      const clientCredentials = await load('client_credentials', {
        url: `${server.url}/token`,
        method: 'POST',
        headers: { ...form, authorization: basic(seed.service) },
        body: 'grant_type=client_credentials',
        connections: 32,
        duration: DURATION,
      });
      const concurrency = 4;
      const password = await load('password', {
        url: `${server.url}/token`,
        method: 'POST',
        headers: { ...form, authorization: basic(seed.passwordClient) },
        body: 'grant_type=password&username=johndoe&password=correct%20horse&scope=items',
        connections: concurrency,
        duration: DURATION,
      });
      await server.stop();

      // Raw argon2id on the server's core, same concurrency, measured right after.
      const child = pinned(SERVER_CORE, [process.execPath, new URL('./argon2-verify.ts', import.meta.url).pathname, String(DURATION), String(concurrency)]);
      let out = '';
      child.stdout!.on('data', (c) => (out += c));
      await once(child, 'exit');
      const raw = JSON.parse(out) as { verificationsPerSecond: number };

      for (const run of [clientCredentials, password]) {
        if (run.non2xx > 0 || run.errors > 0) throw new Error(`${run.name}: ${run.non2xx} non-2xx and ${run.errors} errors`);
      }
      const ratio = password.requestsPerSecond / raw.verificationsPerSecond;
      const markdown = table([
        { measure: 'client credentials (tokens/s)', value: fixed(clientCredentials.requestsPerSecond), 'p50 / p99 ms': `${clientCredentials.latencyP50} / ${clientCredentials.latencyP99}`, target: '>= 2,000', met: clientCredentials.requestsPerSecond >= 2000 ? 'yes' : 'NO' },
        { measure: 'raw argon2id verify (per s, baseline)', value: fixed(raw.verificationsPerSecond, 1), 'p50 / p99 ms': '-', target: '-', met: '-' },
        { measure: 'password grant (tokens/s)', value: fixed(password.requestsPerSecond, 1), 'p50 / p99 ms': `${password.latencyP50} / ${password.latencyP99}`, target: '-', met: '-' },
        { measure: 'password grant / raw argon2id', value: fixed(ratio, 3), 'p50 / p99 ms': '-', target: '>= 0.90', met: ratio >= 0.9 ? 'yes' : 'NO' },
      ]);
      return {
        markdown,
        results: {
          clientCredentialsPerSecond: clientCredentials.requestsPerSecond,
          passwordGrantPerSecond: password.requestsPerSecond,
          argon2VerifyPerSecond: raw.verificationsPerSecond,
          passwordToArgon2Ratio: ratio,
        },
      };
    } finally {
      await server.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
