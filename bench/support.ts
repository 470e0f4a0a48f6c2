// Benchmark plumbing: pin processes to cores, start a Gatehouse server, drive load, report
// ratios. Load and server run on separate cores (core 0 and core 1) so the load generator does
// not steal the server's CPU. The load generator is wrk when installed (C, several times more
// requests per core than autocannon, so the server, not the generator, is the bottleneck), and
// autocannon otherwise.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { GATEHOUSE_BIN, testSecretKey } from '@gatehouse/test-support/gatehouse';
import { freePort } from '@gatehouse/test-support/ports';
import { cpuSeconds, mainThreadCpuSeconds, machineDuring, NOISE_LIMIT, sampleCpu, type MachineDuring } from './machine.ts';

export const LOAD_CORE = 0;
// os.cpus() counts the machine's cores; availableParallelism() would count only those this
// process may use, which is 1 once the runner has pinned itself to the load core.
export const SERVER_CORE = cpus().length > 1 ? 1 : 0;

/** Runs a command pinned to one core with taskset. */
export function pinned(core: number, args: string[], env: Record<string, string | undefined> = {}): ChildProcess {
  // BENCH_PROFILE_DIR: every Node process under test writes a CPU profile there (bench/profile.ts reads them).
  const profile = process.env.BENCH_PROFILE_DIR;
  const command = profile && args[0] === process.execPath ? [args[0], '--cpu-prof', `--cpu-prof-dir=${profile}`, ...args.slice(1)] : args;
  return spawn('taskset', ['-c', String(core), ...command], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
}

export interface BenchServer {
  readonly url: string;
  /** The server process (taskset execs it, so this is node's own pid: its CPU time is in /proc). */
  readonly pid: number;
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
    // Every process on one database shares its key (as the tests do).
    GATEHOUSE_SECRET_KEY: testSecretKey(env.GATEHOUSE_DATABASE_URL),
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
    pid: child.pid!,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}

export interface LoadSpec {
  readonly url: string;
  readonly method?: 'GET' | 'POST';
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
  readonly connections: number;
  readonly duration: number;
  /** A different value of this header on each request, cycling through `values`. */
  readonly vary?: { readonly header: string; readonly values: readonly string[] };
  /** The server's pid: its CPU time (all threads, from /proc) per request is then reported. */
  readonly cpuOf?: number;
}

export interface LoadResult {
  readonly name: string;
  /** The load and the other processes' CPU during the measured run (machine.ts). */
  readonly machine?: MachineDuring;
  readonly requestsPerSecond: number;
  readonly latencyP50: number;
  readonly latencyP99: number;
  readonly non2xx: number;
  readonly errors: number;
  /** Milliseconds of the `cpuOf` process's CPU (user + system, every thread) per request. */
  readonly cpuMsPerRequest?: number;
  /** The same, of its main thread only (the event loop). */
  readonly mainThreadCpuMsPerRequest?: number;
}

let wrkAvailable: boolean | undefined;
export function loadGenerator(): 'wrk' | 'autocannon' {
  if (wrkAvailable === undefined) {
    try {
      execFileSync('wrk', ['--version'], { stdio: 'ignore' });
      wrkAvailable = true;
    } catch (error) {
      // wrk prints its version and exits 1.
      wrkAvailable = (error as { status?: number }).status === 1;
    }
  }
  return process.env.BENCH_LOADER === 'autocannon' || !wrkAvailable ? 'autocannon' : 'wrk';
}

const luaString = (value: string) => `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

async function runWrk(spec: LoadSpec, duration: number): Promise<Omit<LoadResult, 'name'>> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-wrk-'));
  try {
    const lines = [`wrk.method = ${luaString(spec.method ?? 'GET')}`];
    if (spec.body !== undefined) lines.push(`wrk.body = ${luaString(spec.body)}`);
    for (const [name, value] of Object.entries(spec.headers ?? {})) lines.push(`wrk.headers[${luaString(name)}] = ${luaString(value)}`);
    if (spec.vary) {
      writeFileSync(join(dir, 'values.txt'), `${spec.vary.values.join('\n')}\n`);
      lines.push(
        'local values = {}',
        `for line in io.lines(${luaString(join(dir, 'values.txt'))}) do values[#values + 1] = line end`,
        'local i = 0',
        'request = function()',
        '  i = i + 1',
        `  wrk.headers[${luaString(spec.vary.header)}] = values[(i % #values) + 1]`,
        '  return wrk.format()',
        'end',
      );
    }
    lines.push(
      'done = function(summary, latency, requests)',
      '  local codes = 0',
      '  io.write(string.format("RESULT %d %d %d %d %d %d\\n", summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))',
      'end',
    );
    writeFileSync(join(dir, 'script.lua'), `${lines.join('\n')}\n`);
    const child = pinned(LOAD_CORE, ['wrk', '-t1', `-c${spec.connections}`, `-d${duration}s`, '-s', join(dir, 'script.lua'), spec.url]);
    let output = '';
    child.stdout!.on('data', (c) => (output += c));
    child.stderr!.on('data', (c) => (output += c));
    await once(child, 'exit');
    const match = /RESULT (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)/.exec(output);
    if (!match) throw new Error(`wrk failed:\n${output}`);
    const [requests, durationUs, p50Us, p99Us, non2xx, errors] = match.slice(1).map(Number) as [number, number, number, number, number, number];
    return { requestsPerSecond: requests / (durationUs / 1e6), latencyP50: p50Us / 1000, latencyP99: p99Us / 1000, non2xx, errors };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function runAutocannon(spec: LoadSpec, duration: number): Promise<Omit<LoadResult, 'name'>> {
  let next = 0;
  const options: autocannon.Options = {
    url: spec.url,
    method: spec.method ?? 'GET',
    headers: { ...spec.headers },
    ...(spec.body === undefined ? {} : { body: spec.body }),
    connections: spec.connections,
    duration,
    ...(spec.vary
      ? {
          requests: [
            {
              setupRequest: (request) => ({ ...request, headers: { ...request.headers, [spec.vary!.header]: spec.vary!.values[next++ % spec.vary!.values.length]! } }),
            },
          ],
        }
      : {}),
  };
  const result = await autocannon(options);
  return {
    requestsPerSecond: result.requests.average,
    latencyP50: result.latency.p50,
    latencyP99: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors,
  };
}

/** Measured runs: each with the machine's load beside it, for the report (takeMachineLog). */
const machineLog: { name: string; attempts: number; machine: MachineDuring }[] = [];

/** Records a run measured by a benchmark's own load loop (bench/storage.ts), for machineReport. */
export function recordMachine(name: string, machine: MachineDuring): void {
  machineLog.push({ name, attempts: 1, machine });
}

/** The runs measured since the last call, and what the machine did during each. */
export function takeMachineLog(): { name: string; attempts: number; machine: MachineDuring }[] {
  return machineLog.splice(0);
}

/** CPU seconds of a server under test so far, all threads and the main one; undefined without one. */
function serverCpu(pid: number | undefined): { all: number; main: number } | undefined {
  if (pid === undefined) return undefined;
  return { all: cpuSeconds(pid) ?? 0, main: mainThreadCpuSeconds(pid) ?? 0 };
}

/** Attempts at a run before it is kept and reported as noisy. */
const ATTEMPTS = 3;

/**
 * A short warm-up (JIT, caches, connections), then the measured run, with what other processes
 * used of the machine meanwhile; a run during which they used more than NOISE_LIMIT percent of a
 * core is measured again (up to ATTEMPTS), and then kept, marked noisy.
 */
export async function load(name: string, spec: LoadSpec): Promise<LoadResult> {
  const run = loadGenerator() === 'wrk' ? runWrk : runAutocannon;
  await run(spec, 2);
  for (let attempt = 1; ; attempt++) {
    const before = sampleCpu();
    const serverBefore = serverCpu(spec.cpuOf);
    const result = await run(spec, spec.duration);
    const serverAfter = serverCpu(spec.cpuOf);
    const machine = machineDuring(before, sampleCpu());
    if (!machine.noisy || attempt >= ATTEMPTS) {
      machineLog.push({ name, attempts: attempt, machine });
      // /proc counts in 10 ms ticks: over a 10 s run of hundreds of requests, an error under 1%.
      const perMs = 1000 / (result.requestsPerSecond * spec.duration);
      const perRequest =
        serverBefore && serverAfter
          ? { cpuMsPerRequest: (serverAfter.all - serverBefore.all) * perMs, mainThreadCpuMsPerRequest: (serverAfter.main - serverBefore.main) * perMs }
          : {};
      return { name, machine, ...result, ...perRequest };
    }
  }
}

/** The machine during the runs since the last call, as Markdown, to print beside the ratios. */
export function machineReport(): string {
  const log = takeMachineLog();
  if (log.length === 0) return '';
  const foreign = log.map((entry) => entry.machine.foreignCorePercent);
  const loads = log.map((entry) => entry.machine.load1);
  const noisy = log.filter((entry) => entry.machine.noisy);
  const retried = log.filter((entry) => entry.attempts > 1).length;
  return [
    `Machine during the ${log.length} measured runs: load average ${fixed(Math.min(...loads), 2)}–${fixed(Math.max(...loads), 2)};`,
    `other processes used ${fixed(median(foreign), 1)}% of a core (median; max ${fixed(Math.max(...foreign), 1)}%).`,
    `${retried} run(s) measured again because others used more than ${NOISE_LIMIT}% of a core;`,
    noisy.length === 0
      ? 'none stayed noisy.'
      : `**${noisy.length} stayed noisy after ${ATTEMPTS} attempts (${noisy.map((entry) => entry.name).join(', ')}): these ratios are not a quiet machine's.**`,
  ].join(' ');
}

export interface Comparison {
  /** Each spec's median run. */
  readonly median: Record<string, LoadResult>;
  /** Every run, by spec, in round order. */
  readonly rounds: Record<string, LoadResult[]>;
  /** The median over rounds of `name`'s throughput divided by `baseline`'s in the same round. */
  ratio(name: string, baseline: string): number;
}

export const median = (values: readonly number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/**
 * Runs each spec `rounds` times, interleaved (a b c, a b c, …). Ratios are taken within a round
 * and their median kept: a slower minute of the machine then affects both sides of a ratio
 * instead of one of them.
 */
export async function compare(specs: Record<string, LoadSpec>, rounds = Number(process.env.BENCH_ROUNDS ?? 3)): Promise<Comparison> {
  const runs: Record<string, LoadResult[]> = {};
  for (let round = 0; round < rounds; round++) {
    for (const [name, spec] of Object.entries(specs)) {
      const result = await load(name, spec);
      if (process.env.BENCH_DEBUG) process.stderr.write(`  round ${round + 1} ${name}: ${result.requestsPerSecond.toFixed(0)}/s\n`);
      if (result.non2xx > 0 || result.errors > 0) throw new Error(`${name}: ${result.non2xx} non-2xx and ${result.errors} errors`);
      (runs[name] ??= []).push(result);
    }
  }
  return {
    rounds: runs,
    median: Object.fromEntries(
      Object.entries(runs).map(([name, results]) => {
        const sorted = [...results].sort((a, b) => a.requestsPerSecond - b.requestsPerSecond);
        return [name, sorted[Math.floor(sorted.length / 2)]!];
      }),
    ),
    ratio: (name, baseline) => median(runs[name]!.map((run, i) => run.requestsPerSecond / runs[baseline]![i]!.requestsPerSecond)),
  };
}

export function table(rows: Record<string, string | number>[]): string {
  const columns = Object.keys(rows[0] ?? {});
  const line = (cells: (string | number)[]) => `| ${cells.join(' | ')} |`;
  return [line(columns), line(columns.map(() => '---')), ...rows.map((r) => line(columns.map((c) => r[c]!)))].join('\n');
}

export const fixed = (n: number, digits = 0) => n.toFixed(digits);
