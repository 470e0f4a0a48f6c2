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
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { load } from './support.ts';
import { startSdkServer, sdkRequests, type SdkRow } from './sdk.ts';
import { startTokenServer, tokenRequests } from './token-endpoint.ts';

const SDK_ROWS: readonly SdkRow[] = ['bare', 'reused', 'distinct', 'jose', 'key'];
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
if (!SDK_ROWS.includes(route as SdkRow)) throw new Error(`unknown route ${route}; known: ${SDK_ROWS.join(', ')}`);
const dir = mkdtempSync(join(tmpdir(), 'gatehouse-profile-'));
process.env.BENCH_PROFILE_DIR = dir;
const sdk = await startSdkServer();
const requests = await sdkRequests(sdk.url, sdk.issuer, Number(seconds), [route as SdkRow]);
const result = await load(route, requests[route as SdkRow]);
await sdk.close();

const file = readdirSync(dir).find((name) => name.endsWith('.cpuprofile'))!;
process.stdout.write(`\n${route}: ${result.requestsPerSecond.toFixed(0)} requests/s under the profiler\n${summarize(join(dir, file), result.requestsPerSecond * Number(seconds))}`);

/**
 * `npm run bench:profile -- token client_credentials|password [seconds]`: the server of
 * bench/token-endpoint.ts, one grant only, under --cpu-prof.
 */
async function profileTokenEndpoint(grant: 'client_credentials' | 'password', seconds: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-profile-'));
  process.env.BENCH_PROFILE_DIR = dir;
  const { server, seed, close } = await startTokenServer();
  const requests = tokenRequests(server.url, seed, seconds);
  const result = await load(grant, grant === 'client_credentials' ? requests.clientCredentials : requests.password);
  await close();
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
