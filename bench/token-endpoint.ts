// Token endpoint throughput on one core. Client credentials, next to oidc-provider alone on the
// same core (the engine's own ceiling); the password grant, next to the raw argon2id
// verification rate of the same core (the grant cannot beat it: every request verifies one
// password). Targets (issue #2): client credentials >= 2,000 tokens/s; password grant >= 90% of
// raw argon2id verifications/s. Each measure is the median of interleaved rounds.
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { migrate, openStorage } from '@gatehouse/server';
import { ITEMS_API, seedDemo, type DemoSeed } from '@gatehouse/test-support/gatehouse';
import { freePort } from '@gatehouse/test-support/ports';
import { SERVER_CORE, compare, fixed, median, pinned, startPinnedServer, table, type BenchServer, type LoadSpec } from './support.ts';

const DURATION = Number(process.env.BENCH_DURATION ?? 10);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const PASSWORD_CONCURRENCY = 4;

const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

/** oidc-provider alone (bench/engine-baseline.ts), pinned to the server core. */
async function startEngineBaseline(): Promise<{ url: string; stop(): Promise<void> }> {
  const port = await freePort();
  const child = pinned(SERVER_CORE, [process.execPath, new URL('./engine-baseline.ts', import.meta.url).pathname, String(port)]);
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (c: Buffer) => c.toString().includes('listening') && resolve());
    child.once('exit', (code) => reject(new Error(`engine baseline exited with ${code}`)));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}

/** Raw argon2id verifications per second on the server core, same concurrency as the grant's load. */
async function argon2Rate(): Promise<number> {
  const child = pinned(SERVER_CORE, [process.execPath, new URL('./argon2-verify.ts', import.meta.url).pathname, String(DURATION), String(PASSWORD_CONCURRENCY)]);
  let out = '';
  child.stdout!.on('data', (c) => (out += c));
  await once(child, 'exit');
  return (JSON.parse(out) as { verificationsPerSecond: number }).verificationsPerSecond;
}


/** The Gatehouse server measured: the demo data in a fresh SQLite file, pinned to the server core. */
export async function startTokenServer(): Promise<{ server: BenchServer; seed: DemoSeed; close(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-'));
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
  return {
    server,
    seed,
    async close() {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The two token requests measured, as the load generator sends them. */
export function tokenRequests(serverUrl: string, seed: DemoSeed, duration: number): Record<'clientCredentials' | 'password', LoadSpec> {
  return {
    clientCredentials: {
      url: `${serverUrl}/token`,
      method: 'POST',
      headers: { ...FORM, authorization: basic(seed.service.clientId, seed.service.clientSecret) },
      body: 'grant_type=client_credentials',
      connections: 32,
      duration,
    },
    password: {
      url: `${serverUrl}/token`,
      method: 'POST',
      headers: { ...FORM, authorization: basic(seed.passwordClient.clientId, seed.passwordClient.clientSecret) },
      body: 'grant_type=password&username=johndoe&password=correct%20horse&scope=items',
      connections: PASSWORD_CONCURRENCY,
      duration,
    },
  };
}

export async function tokenEndpointBenchmark(): Promise<{ markdown: string; results: Record<string, number> }> {
  const { server, seed, close } = await startTokenServer();
  const requests = tokenRequests(server.url, seed, DURATION);
  const engine = await startEngineBaseline();
  try {
    const clientCredentials = requests.clientCredentials;
    const tokens = await compare(
      {
        gatehouse: clientCredentials,
        engine: { ...clientCredentials, url: `${engine.url}/token`, headers: { ...FORM, authorization: basic('svc', 'baseline-secret-baseline-secret-32') } },
      },
      ROUNDS,
    );
    await engine.stop();

    const passwordRuns: number[] = [];
    const argon2Runs: number[] = [];
    let passwordLatency = '';
    for (let round = 0; round < ROUNDS; round++) {
      const { median: { password } } = await compare(
        { password: requests.password },
        1,
      );
      passwordRuns.push(password!.requestsPerSecond);
      passwordLatency = `${fixed(password!.latencyP50, 1)} / ${fixed(password!.latencyP99, 1)}`;
      argon2Runs.push(await argon2Rate());
    }
    const cc = tokens.median.gatehouse!;
    const ceiling = tokens.median.engine!.requestsPerSecond;
    const ccToEngine = tokens.ratio('gatehouse', 'engine');
    const passwordRate = median(passwordRuns);
    const argon2 = median(argon2Runs);
    // The ratio is taken per round (password run, then argon2 run right after) and its median kept.
    const ratio = median(passwordRuns.map((p, i) => p / argon2Runs[i]!));
    return {
      markdown: table([
        { measure: 'client credentials (tokens/s)', value: fixed(cc.requestsPerSecond), 'p50 / p99 ms': `${fixed(cc.latencyP50, 1)} / ${fixed(cc.latencyP99, 1)}`, target: '>= 2,000', met: cc.requestsPerSecond >= 2000 ? 'yes' : 'NO' },
        { measure: 'oidc-provider alone, same core (tokens/s, ceiling)', value: fixed(ceiling), 'p50 / p99 ms': `${fixed(tokens.median.engine!.latencyP50, 1)} / ${fixed(tokens.median.engine!.latencyP99, 1)}`, target: '-', met: '-' },
        { measure: 'client credentials / oidc-provider alone', value: fixed(ccToEngine, 2), 'p50 / p99 ms': '-', target: '-', met: '-' },
        { measure: 'raw argon2id verify (per s, baseline)', value: fixed(argon2, 1), 'p50 / p99 ms': '-', target: '-', met: '-' },
        { measure: 'password grant (tokens/s)', value: fixed(passwordRate, 1), 'p50 / p99 ms': passwordLatency, target: '-', met: '-' },
        { measure: 'password grant / raw argon2id', value: fixed(ratio, 3), 'p50 / p99 ms': '-', target: '>= 0.90', met: ratio >= 0.9 ? 'yes' : 'NO' },
      ]),
      results: {
        clientCredentialsPerSecond: cc.requestsPerSecond,
        engineAlonePerSecond: ceiling,
        clientCredentialsToEngineRatio: ccToEngine,
        passwordGrantPerSecond: passwordRate,
        argon2VerifyPerSecond: argon2,
        passwordToArgon2Ratio: ratio,
      },
    };
  } finally {
    await engine.stop().catch(() => {});
    await close();
  }
}
