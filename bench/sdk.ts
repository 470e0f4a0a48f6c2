// What the SDK costs an API, on one core: the same route bare, with one reused bearer token
// (verified once, then cached), with a distinct token on every request (an ES256 signature
// check each time), and with an API key resolved through introspection (cache hit). Targets
// (issue #3), as ratios to the bare route in the same run: reused >= 0.85, distinct >= 0.15,
// API key >= 0.8; and (issue 14) a distinct token >= 1.0 of jose's jwtVerify alone on the same route.
// Each measure is the median of interleaved rounds.
import { once } from 'node:events';
import { createTestIssuer, type TestIssuer } from '@gatehouse/sdk/testing';
import { freePort } from '@gatehouse/test-support/ports';
import { SERVER_CORE, compare, fixed, pinned, table, type LoadResult, type LoadSpec } from './support.ts';

const DURATION = Number(process.env.BENCH_DURATION ?? 10);
const DISTINCT_TOKENS = 20_000; // far more than the SDK's verified-token cache (1,000): every request misses

/** The API under test (sdk-server.ts), pinned to the server core, with its issuer. */
export async function startSdkServer(): Promise<{ url: string; issuer: TestIssuer; close(): Promise<void> }> {
  const issuer = await createTestIssuer({ audience: 'https://items.example' });
  const port = await freePort();
  const server = pinned(SERVER_CORE, [process.execPath, new URL('./sdk-server.ts', import.meta.url).pathname], {
    BENCH_ISSUER: issuer.issuer,
    BENCH_AUDIENCE: issuer.audience,
    BENCH_CLIENT_ID: issuer.introspectionClient.clientId,
    BENCH_CLIENT_SECRET: issuer.introspectionClient.clientSecret,
    BENCH_PORT: String(port),
  });
  const close = async () => {
    if (server.exitCode === null && server.signalCode === null) {
      server.kill('SIGTERM');
      await once(server, 'exit');
    }
    await issuer.close();
  };
  try {
    await new Promise<void>((resolve, reject) => {
      server.stdout!.on('data', (c: Buffer) => c.toString().includes('listening') && resolve());
      server.once('exit', (code) => reject(new Error(`sdk server exited with ${code}`)));
    });
  } catch (error) {
    await close();
    throw error;
  }
  return { url: `http://127.0.0.1:${port}`, issuer, close };
}

export type SdkRow = 'bare' | 'reused' | 'distinct' | 'key' | 'jose';

/**
 * Each row's requests. `distinct` and `jose` send a pool of distinct tokens, minted only when one
 * of them is among `rows` (20,000 signatures take a while).
 */
export async function sdkRequests(url: string, issuer: TestIssuer, duration: number, rows: readonly SdkRow[]): Promise<Record<SdkRow, LoadSpec>> {
  // Valid for the whole run: with more rounds (BENCH_ROUNDS) and runs measured again, a run
  // outlasts the test issuer's default five minutes, and expired tokens would be answered 401.
  const expiresIn = 24 * 3600;
  const reused = await issuer.mintAccessToken({ scopes: ['items'], expiresIn });
  const pool: string[] = [];
  if (rows.includes('distinct') || rows.includes('jose')) {
    for (let i = 0; i < DISTINCT_TOKENS; i++) pool.push(await issuer.mintAccessToken({ scopes: ['items'], claims: { n: i }, expiresIn }));
  }
  const bearer = (token: string) => `Bearer ${token}`;
  const common = { connections: 32, duration };
  return {
    // The bare route gets the same request (with its Authorization header, which it ignores):
    // the ratio measures what the SDK costs, not what parsing a 600-byte header costs Node.
    bare: { ...common, url: `${url}/bare`, headers: { authorization: bearer(reused) } },
    reused: { ...common, url: `${url}/bearer`, headers: { authorization: bearer(reused) } },
    distinct: { ...common, url: `${url}/bearer`, vary: { header: 'authorization', values: pool.map(bearer) } },
    key: { ...common, url: `${url}/api-key`, headers: { 'x-api-key': issuer.createApiKey({ scopes: ['items'] }) } },
    // Issue 14's floor for the distinct row: jose's jwtVerify alone on the same route, same tokens.
    jose: { ...common, url: `${url}/jose`, vary: { header: 'authorization', values: pool.map(bearer) } },
  };
}

export async function sdkBenchmark(): Promise<{ markdown: string; results: Record<string, number> }> {
  const { url, issuer, close } = await startSdkServer();
  try {
    const runs = await compare(await sdkRequests(url, issuer, DURATION, ['bare', 'reused', 'distinct', 'key', 'jose']));
    const { bare, reused: reusedRun, distinct, key } = runs.median as Record<'bare' | 'reused' | 'distinct' | 'key', LoadResult>;
    const row = (measure: string, name: string, target?: number, baseline = 'bare') => {
      const run = runs.median[name]!;
      const ratio = runs.ratio(name, baseline);
      return {
        measure,
        'requests/s': fixed(run.requestsPerSecond),
        ratio: `${fixed(ratio, 3)} (to ${baseline})`,
        'p50 / p99 ms': `${fixed(run.latencyP50, 1)} / ${fixed(run.latencyP99, 1)}`,
        target: target === undefined ? '-' : `>= ${target}`,
        met: target === undefined ? '-' : ratio >= target ? 'yes' : 'NO',
      };
    };
    return {
      markdown: table([
        row('bare Fastify route (same request)', 'bare'),
        row('bearer JWT, one reused token (cache hit)', 'reused', 0.85),
        row('bearer JWT, a distinct token per request (ES256 verify)', 'distinct', 0.15),
        row('API key through introspection (cache hit)', 'key', 0.8),
        row('jose jwtVerify alone, a distinct token per request', 'jose'),
        row('SDK, a distinct token per request, against jose alone', 'distinct', 1.0, 'jose'),
      ]),
      results: {
        bare: bare.requestsPerSecond,
        reused: reusedRun.requestsPerSecond,
        distinct: distinct.requestsPerSecond,
        apiKey: key.requestsPerSecond,
        reusedRatio: runs.ratio('reused', 'bare'),
        distinctRatio: runs.ratio('distinct', 'bare'),
        apiKeyRatio: runs.ratio('key', 'bare'),
        jose: runs.median.jose!.requestsPerSecond,
        distinctToJose: runs.ratio('distinct', 'jose'),
        introspectionCalls: issuer.requests.introspection,
      },
    };
  } finally {
    await close();
  }
}
