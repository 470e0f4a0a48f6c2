// Benchmark plumbing: pin processes to cores, start a Gatehouse server, drive load with
// autocannon, report ratios. Load and server run on separate cores (core 0 and core 1) so the
// load generator does not steal the server's CPU.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { availableParallelism } from 'node:os';
import autocannon from 'autocannon';
import { GATEHOUSE_BIN } from '@gatehouse/e2e/support/gatehouse';
import { freePort } from '@gatehouse/e2e/support/ports';

export const LOAD_CORE = 0;
export const SERVER_CORE = availableParallelism() > 1 ? 1 : 0;

/** Runs a command pinned to one core with taskset. */
export function pinned(core: number, args: string[], env: Record<string, string | undefined> = {}): ChildProcess {
  return spawn('taskset', ['-c', String(core), ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
}

export interface BenchServer {
  readonly url: string;
  stop(): Promise<void>;
}

export async function startPinnedServer(env: Record<string, string>): Promise<BenchServer> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = pinned(SERVER_CORE, [process.execPath, GATEHOUSE_BIN, 'serve'], {
    GATEHOUSE_PUBLIC_URL: url,
    GATEHOUSE_PORT: String(port),
    GATEHOUSE_HOST: '127.0.0.1',
    GATEHOUSE_LOG_LEVEL: 'warn',
    ...env,
  });
  let output = '';
  child.stdout!.on('data', (c) => (output += c));
  child.stderr!.on('data', (c) => (output += c));
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`${url}/healthz`)).ok) break;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
    if (child.exitCode !== null) throw new Error(`server exited:\n${output}`);
  }
  return {
    url,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}

export interface LoadResult {
  readonly name: string;
  readonly requestsPerSecond: number;
  readonly latencyP50: number;
  readonly latencyP99: number;
  readonly non2xx: number;
  readonly errors: number;
}

export async function load(name: string, options: autocannon.Options): Promise<LoadResult> {
  // A short warm-up (JIT, caches), then the measured run.
  await autocannon({ ...options, duration: 2 });
  const result = await autocannon(options);
  return {
    name,
    requestsPerSecond: result.requests.average,
    latencyP50: result.latency.p50,
    latencyP99: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors,
  };
}

export function table(rows: Record<string, string | number>[]): string {
  const columns = Object.keys(rows[0] ?? {});
  const line = (cells: (string | number)[]) => `| ${cells.join(' | ')} |`;
  return [line(columns), line(columns.map(() => '---')), ...rows.map((r) => line(columns.map((c) => r[c]!)))].join('\n');
}

export const fixed = (n: number, digits = 0) => n.toFixed(digits);
