// Where a request's time goes, from V8 CPU profiles (issue 14).
//
// `npm run bench:profile -- sdk <route> [seconds]`: starts the SDK benchmark's API (sdk-server.ts)
// under `--cpu-prof`, loads one route with the load generator for a while (the requests of
// bench/sdk.ts: `bare`, `reused`, `distinct`, `jose`, `key`), and summarizes the profile.
// `npm run bench:profile -- <file.cpuprofile>…`: summarizes profiles written by any benchmark run
// with BENCH_PROFILE_DIR set (every server under test is then started with --cpu-prof), e.g.
// `BENCH_PROFILE_DIR=/tmp/profiles BENCH_ROUNDS=1 npm run bench -- token-endpoint`.
// The summary: each part's share of the busy CPU (Node, Fastify, oidc-provider, the SDK, …) and the
// functions with the most self time; per request when the request count is known.
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestIssuer } from '@gatehouse/sdk/testing';
import { freePort } from '@gatehouse/test-support/ports';
import { migrate, openStorage } from '@gatehouse/server';
import { ITEMS_API, seedDemo } from '@gatehouse/test-support/gatehouse';
import { SERVER_CORE, load, pinned, startPinnedServer } from './support.ts';

const args = process.argv.slice(2);
if (args[0] === 'token') {
  await profileTokenEndpoint(args[1] === 'password' ? 'password' : 'client_credentials', Number(args[2] ?? 10));
  process.exit(0);
}
if (args[0] !== 'sdk') {
  for (const file of args) process.stdout.write(`\n## ${file}\n${summarize(file)}`);
  process.exit(0);
}
const [, route = 'reused', seconds = '10'] = args;
const issuer = await createTestIssuer({ audience: 'https://items.example' });
const port = await freePort();
const dir = mkdtempSync(join(tmpdir(), 'gatehouse-profile-'));
const server = pinned(SERVER_CORE, [process.execPath, '--cpu-prof', `--cpu-prof-dir=${dir}`, new URL('./sdk-server.ts', import.meta.url).pathname], {
  BENCH_ISSUER: issuer.issuer,
  BENCH_AUDIENCE: issuer.audience,
  BENCH_CLIENT_ID: issuer.introspectionClient.clientId,
  BENCH_CLIENT_SECRET: issuer.introspectionClient.clientSecret,
  BENCH_PORT: String(port),
});
await new Promise<void>((resolve) => server.stdout!.on('data', (chunk: Buffer) => chunk.toString().includes('listening') && resolve()));
const url = `http://127.0.0.1:${port}`;
const bearer = (token: string) => `Bearer ${token}`;
const reused = await issuer.mintAccessToken({ scopes: ['items'] });
const pool: string[] = [];
if (route === 'distinct' || route === 'jose') for (let i = 0; i < 20_000; i++) pool.push(await issuer.mintAccessToken({ scopes: ['items'], claims: { n: i } }));
const common = { connections: 32, duration: Number(seconds) };
const specs = {
  bare: { ...common, url: `${url}/bare`, headers: { authorization: bearer(reused) } },
  reused: { ...common, url: `${url}/bearer`, headers: { authorization: bearer(reused) } },
  distinct: { ...common, url: `${url}/bearer`, vary: { header: 'authorization', values: pool.map(bearer) } },
  jose: { ...common, url: `${url}/jose`, vary: { header: 'authorization', values: pool.map(bearer) } },
  key: { ...common, url: `${url}/api-key`, headers: { 'x-api-key': issuer.createApiKey({ scopes: ['items'] }) } },
} as const;
const spec = specs[route as keyof typeof specs];
if (!spec) throw new Error(`unknown route ${route}; known: ${Object.keys(specs).join(', ')}`);
const result = await load(route, spec);
server.kill('SIGTERM');
await once(server, 'exit');
await issuer.close();

const file = readdirSync(dir).find((name) => name.endsWith('.cpuprofile'))!;
process.stdout.write(`\n${route}: ${result.requestsPerSecond.toFixed(0)} requests/s under the profiler\n${summarize(join(dir, file), result.requestsPerSecond * Number(seconds))}`);

/**
 * `npm run bench:profile -- token client_credentials|password [seconds]`: the server of
 * bench/token-endpoint.ts, one grant only, under --cpu-prof.
 */
async function profileTokenEndpoint(grant: 'client_credentials' | 'password', seconds: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-profile-'));
  const databaseUrl = `sqlite:${join(dir, 'bench.db')}`;
  const storage = openStorage(databaseUrl);
  await migrate(storage.db);
  const seed = await seedDemo(storage.db);
  await storage.close();
  process.env.BENCH_PROFILE_DIR = dir;
  const server = await startPinnedServer({
    GATEHOUSE_DATABASE_URL: databaseUrl,
    GATEHOUSE_DEFAULT_API: ITEMS_API,
    GATEHOUSE_LOGIN_MAX_FAILURES_PER_ACCOUNT: '1000',
  });
  const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
  const form = { 'content-type': 'application/x-www-form-urlencoded' };
  const result =
    grant === 'client_credentials'
      ? await load(grant, {
          url: `${server.url}/token`,
          method: 'POST',
          headers: { ...form, authorization: basic(seed.service.clientId, seed.service.clientSecret) },
          body: 'grant_type=client_credentials',
          connections: 32,
          duration: seconds,
        })
      : await load(grant, {
          url: `${server.url}/token`,
          method: 'POST',
          headers: { ...form, authorization: basic(seed.passwordClient.clientId, seed.passwordClient.clientSecret) },
          body: 'grant_type=password&username=johndoe&password=correct%20horse&scope=items',
          connections: 4,
          duration: seconds,
        });
  await server.stop();
  const file = readdirSync(dir).find((name) => name.endsWith('.cpuprofile'))!;
  process.stdout.write(`\n${grant}: ${result.requestsPerSecond.toFixed(0)} tokens/s under the profiler\n${summarize(join(dir, file), result.requestsPerSecond * seconds)}`);
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

/** Markdown tables: each part's and each function's share of the busy (non-idle) CPU. */
function summarize(path: string, requests?: number): string {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] };
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map<number, number>();
  profile.samples.forEach((id, index) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[index] ?? 0)));
  const functions = new Map<string, number>();
  const parts = new Map<string, number>();
  let total = 0;
  for (const [id, micros] of self) {
    const { callFrame } = byId.get(id)!;
    if (callFrame.functionName === '(idle)') continue;
    total += micros;
    const name = `${callFrame.functionName || '(anonymous)'} ${callFrame.url.replace(/^.*\/(node_modules|packages)\//, '')}:${callFrame.lineNumber + 1}`;
    functions.set(name, (functions.get(name) ?? 0) + micros);
    parts.set(partOf(callFrame.url), (parts.get(partOf(callFrame.url)) ?? 0) + micros);
  }
  const columns = requests === undefined ? '| share of busy CPU |' : '| share of busy CPU | per request |';
  const cells = (micros: number) =>
    `| ${((micros / total) * 100).toFixed(1)}% |${requests === undefined ? '' : ` ${(micros / requests).toFixed(2)} µs |`}`;
  const lines = [`busy CPU ${(total / 1e6).toFixed(1)} s`, '', `| part ${columns}`, `| --- | --- |${requests === undefined ? '' : ' --- |'}`];
  for (const [name, micros] of [...parts].sort((a, b) => b[1] - a[1]).slice(0, 12)) lines.push(`| ${name} ${cells(micros)}`);
  lines.push('', `| function (self time) ${columns}`, `| --- | --- |${requests === undefined ? '' : ' --- |'}`);
  for (const [name, micros] of [...functions].sort((a, b) => b[1] - a[1]).slice(0, 25)) lines.push(`| ${name} ${cells(micros)}`);
  return `${lines.join('\n')}\n\nprofile: ${path}\n`;
}

function partOf(url: string): string {
  if (url === '') return 'V8/native (GC, program, syscalls)';
  if (url.startsWith('node:')) return 'Node (http, net, streams)';
  const module = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)?.[1];
  if (module) return module;
  const workspace = /\/packages\/([^/]+)\/src\/([^/]+\/)?/.exec(url);
  if (workspace) return `@gatehouse/${workspace[1]} ${workspace[2] ?? ''}`.trim();
  return url.replace(/^.*\/work\/[^/]+\//, '');
}
