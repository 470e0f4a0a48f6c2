// The token endpoint on each storage (issue #5): SQLite with one instance (the baseline), and
// PostgreSQL with one and with two instances sharing the database and Redis. Two grants:
// client credentials (no query on a warm request: clients and APIs are cached) and refresh token
// (every request reads, consumes and writes rows, so this is where the storage shows).
//
// Placement: wrk on core 0 (the runner's core), every Gatehouse instance on core 1, the two
// instances of the third setup both on core 1 — the comparison is about storage, not about
// extra CPU. PostgreSQL is a system service and runs unpinned: its backends run on either core
// (on core 0 next to wrk, and on core 1, where they take time from Gatehouse). Each run reports
// the CPU the instances and the PostgreSQL backends of its database used per token, and how busy
// each core was, so that is visible rather than hidden.
//
// Refresh tokens: each is used once (rotation; a reuse past the grace window would revoke the
// grant). Before the measurements, a pool per run is minted through the real password grant, on
// an extra instance in this process whose password check is stubbed (argon2id at ~55/s would take
// longer than the benchmark); each wrk run gets its own slice and sends each token once. A run
// that finds its pool empty (sized from a calibration run, on a machine whose speed varies) is
// redone with a pool twice as large, never measured with reused tokens.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import pg from 'pg';
import { buildServer, loadConfig, migrate, openStorage, type BuildOptions, type GatehouseServer } from '@gatehouse/server';
import { ITEMS_API, seedDemo, testSecretKey, type DemoSeed } from '@gatehouse/test-support/gatehouse';
import { freePort } from '@gatehouse/test-support/ports';
import { cpuSeconds, machineDuring, sampleCpu } from './machine.ts';
import { POSTGRES_ADMIN_URL, tempPostgres } from '@gatehouse/test-support/postgres';
import { LOAD_CORE, SERVER_CORE, fixed, loadGenerator, median, recordMachine, startPinnedServer, table, type BenchServer } from './support.ts';

const DURATION = Number(process.env.BENCH_DURATION ?? 10);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const WARMUP = 2;
const CONNECTIONS = 32;
/** Refresh-token pools hold this many times the calibrated rate × run length (plus a floor). */
const POOL_MARGIN = Number(process.env.BENCH_POOL_MARGIN ?? 2);
const REDIS_URL = process.env.GATEHOUSE_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';

const FORM = 'application/x-www-form-urlencoded';
const debug = (line: string) => void (process.env.BENCH_DEBUG && process.stderr.write(`  ${line}\n`));
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;

type Grant = 'client_credentials' | 'refresh_token';
const GRANTS: readonly Grant[] = ['client_credentials', 'refresh_token'];

interface Setup {
  readonly key: 'sqlite' | 'postgres' | 'postgres2';
  readonly label: string;
  readonly databaseUrl: string;
  /** The database's name in PostgreSQL, to find its backends. */
  readonly pgDatabase: string | undefined;
  readonly publicUrl: string;
  readonly seed: DemoSeed;
  readonly instances: readonly BenchServer[];
}

// ── CPU accounting from /proc ───────────────────────────────────────────────────────────────

/** Busy and total jiffies of each core so far, from /proc/stat (every process on the machine). */
function coreTimes(): { busy: number; total: number }[] {
  return readFileSync('/proc/stat', 'utf8')
    .split('\n')
    .filter((line) => /^cpu\d+ /.test(line))
    .map((line) => {
      const [user, nice, system, idle, iowait, irq, softirq, steal] = line.split(/\s+/).slice(1, 9).map(Number) as number[];
      const idleAll = idle! + iowait!;
      const total = user! + nice! + system! + idleAll + irq! + softirq! + steal!;
      return { busy: total - idleAll, total };
    });
}

let admin: pg.Client | undefined;
async function postgresBackends(database: string): Promise<Map<number, number>> {
  const { rows } = await admin!.query<{ pid: number }>('select pid from pg_stat_activity where datname = $1', [database]);
  const cpu = new Map<number, number>();
  for (const { pid } of rows) {
    const seconds = cpuSeconds(pid);
    if (seconds !== undefined) cpu.set(pid, seconds);
  }
  return cpu;
}

/** CPU seconds used between two samples of the same set of backends (new ones count whole). */
function backendCpu(before: Map<number, number>, after: Map<number, number>): number {
  let total = 0;
  for (const [pid, seconds] of after) total += seconds - (before.get(pid) ?? 0);
  return total;
}

// ── wrk, one thread per instance ────────────────────────────────────────────────────────────

interface RunResult {
  readonly tokensPerSecond: number;
  readonly p50: number;
  readonly p99: number;
  readonly ok: number;
  readonly non2xx: number;
  readonly socketErrors: number;
  /** Requests that found the token pool empty (sent with a bogus token, so also non-2xx). */
  readonly exhausted: number;
  /** 2xx responses per instance. */
  readonly perInstance: readonly number[];
  /** CPU ms per token: the Gatehouse processes (core 1) and this database's PostgreSQL backends. */
  readonly serverCpuMs: number;
  readonly postgresCpuMs: number | undefined;
  /** Share of core 1 the instances used during the run. */
  readonly serverCoreShare: number;
  /** How busy each core was during the run, whoever used it (this is a shared machine). */
  readonly coreBusy: readonly number[];
}

const lua = (value: string) => `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

/**
 * Runs wrk against the instances of a setup: one thread per instance (wrk's `thread.addr`), the
 * connections split evenly, so one wrk process drives both instances and its latency histogram
 * covers every request. For the refresh grant, `tokens` is this run's own pool: thread k of n
 * sends lines k, k+n, k+2n… each once.
 */
async function wrk(setup: Setup, grant: Grant, seconds: number, tokens?: readonly string[]): Promise<Omit<RunResult, 'serverCpuMs' | 'postgresCpuMs' | 'serverCoreShare' | 'coreBusy'>> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-wrk-'));
  try {
    const threads = setup.instances.length;
    const client = grant === 'client_credentials' ? setup.seed.service : setup.seed.passwordClient;
    const lines = [
      'wrk.method = "POST"',
      `wrk.headers["content-type"] = ${lua(FORM)}`,
      `wrk.headers["authorization"] = ${lua(basic(client.clientId, client.clientSecret))}`,
      'wrk.body = "grant_type=client_credentials"',
      `local targets = { ${setup.instances.map((i) => `${lua(new URL(i.url).port)}`).join(', ')} }`,
      'local threads = {}',
      'function setup(thread)',
      '  local n = #threads',
      '  thread.addr = wrk.lookup("127.0.0.1", targets[n + 1])[1]',
      '  thread:set("id", n)',
      '  threads[n + 1] = thread',
      'end',
      'ok = 0',
      'bad = 0',
      'exhausted = 0',
      'function response(status, headers, body)',
      '  if status >= 200 and status < 300 then ok = ok + 1 else bad = bad + 1 end',
      'end',
    ];
    if (tokens) {
      writeFileSync(join(dir, 'tokens.txt'), `${tokens.join('\n')}\n`);
      lines.push(
        'local tokens = {}',
        'local used = 0',
        'function init(args)',
        '  local line_number = 0',
        `  for line in io.lines(${lua(join(dir, 'tokens.txt'))}) do`,
        `    if line_number % ${threads} == id then tokens[#tokens + 1] = line end`,
        '    line_number = line_number + 1',
        '  end',
        'end',
        'function request()',
        '  used = used + 1',
        '  local token = tokens[used]',
        '  if token == nil then',
        '    exhausted = exhausted + 1',
        '    token = "pool-exhausted"',
        '  end',
        '  return wrk.format(nil, nil, nil, "grant_type=refresh_token&refresh_token=" .. token)',
        'end',
      );
    }
    lines.push(
      'function done(summary, latency, requests)',
      '  local o, b, x, per = 0, 0, 0, {}',
      '  for _, thread in ipairs(threads) do',
      '    o = o + thread:get("ok")',
      '    b = b + thread:get("bad")',
      '    x = x + thread:get("exhausted")',
      '    per[#per + 1] = thread:get("ok")',
      '  end',
      '  local e = summary.errors',
      '  io.write(string.format("RESULT %d %d %d %d %d %d %d %s\\n", summary.duration, latency:percentile(50), latency:percentile(99), o, b, x, e.connect + e.read + e.write + e.timeout, table.concat(per, ",")))',
      'end',
    );
    writeFileSync(join(dir, 'script.lua'), `${lines.join('\n')}\n`);
    const child = spawn('taskset', ['-c', String(LOAD_CORE), 'wrk', `-t${threads}`, `-c${CONNECTIONS}`, `-d${seconds}s`, '-s', join(dir, 'script.lua'), `${setup.instances[0]!.url}/token`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (c) => (output += c));
    child.stderr.on('data', (c) => (output += c));
    await once(child, 'exit');
    const match = /RESULT (\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+) ([\d,]+)/.exec(output);
    if (!match) throw new Error(`wrk failed:\n${output}`);
    const [durationUs, p50Us, p99Us, ok, non2xx, exhausted, socketErrors] = match.slice(1, 8).map(Number) as [number, number, number, number, number, number, number];
    return {
      tokensPerSecond: ok / (durationUs / 1e6),
      p50: p50Us / 1000,
      p99: p99Us / 1000,
      ok,
      non2xx,
      exhausted,
      socketErrors,
      perInstance: match[8]!.split(',').map(Number),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface Pools {
  readonly warmup: string[];
  readonly run: string[];
}

class PoolExhausted extends Error {}

/** A warm-up, then the measured run with CPU sampled around it. */
async function measure(setup: Setup, grant: Grant, pools?: Pools): Promise<RunResult> {
  const warm = await wrk(setup, grant, WARMUP, pools?.warmup);
  if (warm.exhausted > 0) throw new PoolExhausted(`${setup.label}, ${grant}: the warm-up pool ran out after ${warm.ok} tokens`);
  const serverBefore = setup.instances.map((i) => cpuSeconds(i.pid) ?? 0);
  const pgBefore = setup.pgDatabase ? await postgresBackends(setup.pgDatabase) : undefined;
  const coresBefore = coreTimes();
  const machineBefore = sampleCpu();
  const result = await wrk(setup, grant, DURATION, pools?.run);
  const machineAfter = sampleCpu();
  const coresAfter = coreTimes();
  const pgAfter = setup.pgDatabase ? await postgresBackends(setup.pgDatabase) : undefined;
  // Its pools are used once, so a noisy run is reported as such rather than measured again.
  recordMachine(`${setup.label}, ${grant}`, machineDuring(machineBefore, machineAfter, pgBefore && pgAfter ? backendCpu(pgBefore, pgAfter) : 0));
  const serverSeconds = setup.instances.reduce((sum, i, index) => sum + ((cpuSeconds(i.pid) ?? 0) - serverBefore[index]!), 0);
  const label = `${setup.label}, ${grant}`;
  if (result.exhausted > 0) throw new PoolExhausted(`${label}: the token pool ran out after ${result.ok} tokens`);
  if (warm.non2xx + warm.socketErrors + result.non2xx + result.socketErrors > 0) {
    process.stderr.write(`  ${label}: ${warm.non2xx + result.non2xx} non-2xx and ${warm.socketErrors + result.socketErrors} socket errors (warm-up included)\n`);
  }
  return {
    ...result,
    // Reported, warm-up included; any makes the run invalid (the table says so).
    non2xx: warm.non2xx + result.non2xx,
    socketErrors: warm.socketErrors + result.socketErrors,
    serverCpuMs: (serverSeconds * 1000) / result.ok,
    postgresCpuMs: pgBefore && pgAfter ? (backendCpu(pgBefore, pgAfter) * 1000) / result.ok : undefined,
    serverCoreShare: serverSeconds / DURATION,
    coreBusy: coresAfter.map((after, core) => (after.busy - coresBefore[core]!.busy) / (after.total - coresBefore[core]!.total)),
  };
}

// ── Databases, instances and the token minter ───────────────────────────────────────────────

/** A Gatehouse instance in this process whose password check always passes: it mints refresh tokens fast. */
const TRUSTING_PASSWORDS: NonNullable<BuildOptions['passwords']> = {
  hashPassword: async () => {
    throw new Error('the bench minter never hashes');
  },
  needsRehash: () => false,
  verifyDummy: async () => false,
  verifyPassword: async () => true,
};

interface Minter {
  mint(count: number): Promise<string[]>;
  close(): Promise<void>;
}

async function startMinter(setup: Setup): Promise<Minter> {
  const port = await freePort();
  const { config } = loadConfig({
    GATEHOUSE_PUBLIC_URL: setup.publicUrl,
    GATEHOUSE_PORT: String(port),
    GATEHOUSE_HOST: '127.0.0.1',
    GATEHOUSE_DATABASE_URL: setup.databaseUrl,
    GATEHOUSE_SECRET_KEY: testSecretKey(setup.databaseUrl),
    GATEHOUSE_DEFAULT_API: ITEMS_API,
    GATEHOUSE_LOG_LEVEL: 'silent',
    // Every attempt is counted before its password is checked (issue 10), so 16 parallel logins
    // of one user would pass the default 5 per account: the minter is allowed its parallelism.
    GATEHOUSE_LOGIN_MAX_FAILURES_PER_ACCOUNT: '1000',
    GATEHOUSE_LOGIN_MAX_FAILURES_PER_IP: '100000',
  });
  const server: GatehouseServer = await buildServer({ config, passwords: TRUSTING_PASSWORDS });
  await server.app.listen({ port, host: '127.0.0.1' });
  const url = `http://127.0.0.1:${port}/token`;
  const headers = { 'content-type': FORM, authorization: basic(setup.seed.passwordClient.clientId, setup.seed.passwordClient.clientSecret) };
  const body = 'grant_type=password&username=johndoe&password=correct%20horse&scope=items';
  return {
    async mint(count) {
      const tokens: string[] = [];
      let next = 0;
      const worker = async () => {
        while (next < count) {
          next++;
          const response = await fetch(url, { method: 'POST', headers, body });
          const json = (await response.json()) as { refresh_token?: string };
          if (response.status !== 200 || !json.refresh_token) throw new Error(`minting a refresh token: ${response.status} ${JSON.stringify(json)}`);
          tokens.push(json.refresh_token);
        }
      };
      await Promise.all(Array.from({ length: 16 }, worker));
      return tokens;
    },
    close: () => server.close(),
  };
}

export async function storageBenchmark(): Promise<{ markdown: string; results: Record<string, number> }> {
  // One wrk process drives both instances of a deployment (a thread each); autocannon cannot.
  if (loadGenerator() !== 'wrk') throw new Error('the storage benchmark needs wrk (apt-get install wrk)');
  const cleanups: (() => Promise<unknown>)[] = [];
  const after = { after: (fn: () => unknown) => void cleanups.unshift(async () => fn()) };
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-storage-'));
  cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
  // The minters stay up until the end: a run whose pool ran out is redone with a fresh one.
  const minters = new Map<Setup, Minter>();
  try {
    admin = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
    admin.on('error', () => {});
    await admin.connect();
    cleanups.unshift(() => admin!.end());

    const prepare = async (databaseUrl: string) => {
      const storage = openStorage(databaseUrl);
      try {
        await migrate(storage.db);
        return await seedDemo(storage.db);
      } finally {
        await storage.close();
      }
    };
    const common = { GATEHOUSE_DEFAULT_API: ITEMS_API, GATEHOUSE_LOGIN_MAX_FAILURES_PER_ACCOUNT: '1000' };
    const start = async (env: Record<string, string>) => {
      const server = await startPinnedServer({ ...common, ...env });
      cleanups.unshift(() => server.stop());
      return server;
    };

    const setups: Setup[] = [];
    {
      const databaseUrl = `sqlite:${join(dir, 'bench.db')}`;
      const seed = await prepare(databaseUrl);
      const server = await start({ GATEHOUSE_DATABASE_URL: databaseUrl });
      setups.push({ key: 'sqlite', label: 'SQLite, 1 instance', databaseUrl, pgDatabase: undefined, publicUrl: server.url, seed, instances: [server] });
    }
    {
      const databaseUrl = await tempPostgres(after);
      const seed = await prepare(databaseUrl);
      const server = await start({ GATEHOUSE_DATABASE_URL: databaseUrl });
      setups.push({ key: 'postgres', label: 'PostgreSQL, 1 instance', databaseUrl, pgDatabase: new URL(databaseUrl).pathname.slice(1), publicUrl: server.url, seed, instances: [server] });
    }
    {
      const databaseUrl = await tempPostgres(after);
      const seed = await prepare(databaseUrl);
      // One deployment: the same public URL (issuer), database and Redis for both instances.
      const env = { GATEHOUSE_DATABASE_URL: databaseUrl, GATEHOUSE_REDIS_URL: REDIS_URL, GATEHOUSE_REDIS_PREFIX: `gh-bench-${randomBytes(6).toString('hex')}` };
      const first = await start(env);
      const second = await start({ ...env, GATEHOUSE_PUBLIC_URL: first.url });
      setups.push({ key: 'postgres2', label: 'PostgreSQL, 2 instances', databaseUrl, pgDatabase: new URL(databaseUrl).pathname.slice(1), publicUrl: first.url, seed, instances: [first, second] });
    }

    // Calibration: the refresh rate of each setup, from two short runs on small pools (the
    // first warms the instances up; the second is the estimate). On a shared machine one setup's
    // estimate can land on a slow second, so every pool is sized from the fastest of them.
    const calibrationPool = Number(process.env.BENCH_CALIBRATION_POOL ?? 4000);
    let rate = 0;
    for (const setup of setups) {
      const minter = await startMinter(setup);
      minters.set(setup, minter);
      for (let i = 0; i < 2; i++) {
        const calibration = await wrk(setup, 'refresh_token', WARMUP, await minter.mint(calibrationPool));
        if (calibration.exhausted > 0 || calibration.non2xx > 0) {
          throw new Error(`${setup.label}: calibration ran out of tokens or failed (${calibration.non2xx} non-2xx); raise BENCH_CALIBRATION_POOL`);
        }
        if (i === 1) debug(`calibration ${setup.label}: ${calibration.tokensPerSecond.toFixed(0)} refreshes/s`);
        if (i === 1) rate = Math.max(rate, calibration.tokensPerSecond);
      }
    }
    const size = (seconds: number, setup: Setup) => Math.ceil(rate * seconds * POOL_MARGIN) + 200 * setup.instances.length;
    const poolSizes = new Map<Setup, { warmup: number; run: number }>(setups.map((setup) => [setup, { warmup: size(WARMUP, setup), run: size(DURATION, setup) }]));
    // Every round's pools, minted before any measurement.
    const pools = new Map<Setup, Pools[]>();
    for (const setup of setups) {
      const sizes = poolSizes.get(setup)!;
      const started = Date.now();
      const all = await minters.get(setup)!.mint(ROUNDS * (sizes.warmup + sizes.run));
      pools.set(setup, Array.from({ length: ROUNDS }, (_, round) => {
        const base = round * (sizes.warmup + sizes.run);
        return { warmup: all.slice(base, base + sizes.warmup), run: all.slice(base + sizes.warmup, base + sizes.warmup + sizes.run) };
      }));
      debug(`minted ${all.length} refresh tokens for ${setup.label} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
    }

    /** A run whose pool ran out (the machine had a faster minute than the calibration) is redone with twice the tokens. */
    const measureWithRetry = async (setup: Setup, grant: Grant, round: number): Promise<RunResult> => {
      if (grant === 'client_credentials') return measure(setup, grant);
      let pool = pools.get(setup)![round]!;
      for (let attempt = 1; ; attempt++) {
        try {
          return await measure(setup, grant, pool);
        } catch (error) {
          if (!(error instanceof PoolExhausted) || attempt >= 3) throw error;
          process.stderr.write(`  ${error.message}: redoing the run with a pool twice as large\n`);
          const minter = minters.get(setup)!;
          pool = { warmup: await minter.mint(pool.warmup.length * 2), run: await minter.mint(pool.run.length * 2) };
        }
      }
    };

    // Let the databases settle after the bulk minting (PostgreSQL's autovacuum would otherwise
    // run during the first measurements), then a pause.
    for (const setup of setups) {
      if (setup.pgDatabase) {
        const client = new pg.Client({ connectionString: setup.databaseUrl });
        await client.connect();
        await client.query('VACUUM ANALYZE');
        await client.end();
      } else {
        const storage = openStorage(setup.databaseUrl);
        await sql`PRAGMA wal_checkpoint(TRUNCATE)`.execute(storage.db);
        await storage.close();
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 3000));

    // Interleaved rounds: every grant on every setup, then again. The setups' order rotates from
    // round to round, so none is always the one measured right after another's heavy writes.
    const runs = new Map<string, RunResult[]>();
    const id = (grant: Grant, setup: Setup) => `${grant}/${setup.key}`;
    for (let round = 0; round < ROUNDS; round++) {
      const order = setups.map((_, i) => setups[(i + round) % setups.length]!);
      for (const grant of GRANTS) {
        for (const setup of order) {
          const result = await measureWithRetry(setup, grant, round);
          debug(`round ${round + 1} ${grant} ${setup.label}: ${result.tokensPerSecond.toFixed(0)}/s (${result.perInstance.join(' + ')} tokens)`);
          const list = runs.get(id(grant, setup)) ?? [];
          list.push(result);
          runs.set(id(grant, setup), list);
        }
      }
    }

    const rows: Record<string, string | number>[] = [];
    const results: Record<string, number> = {};
    const roundLines: string[] = [];
    for (const grant of GRANTS) {
      const baseline = runs.get(id(grant, setups[0]!))!;
      for (const setup of setups) {
        const list = runs.get(id(grant, setup))!;
        const mid = [...list].sort((a, b) => a.tokensPerSecond - b.tokensPerSecond)[Math.floor(list.length / 2)]!;
        const ratio = median(list.map((r, i) => r.tokensPerSecond / baseline[i]!.tokensPerSecond));
        const non2xx = list.reduce((n, r) => n + r.non2xx + r.socketErrors, 0);
        const serverCpu = median(list.map((r) => r.serverCpuMs));
        const pgCpu = setup.pgDatabase ? median(list.map((r) => r.postgresCpuMs ?? 0)) : undefined;
        rows.push({
          grant: grant === 'client_credentials' ? 'client credentials' : 'refresh token',
          setup: setup.label,
          'tokens/s': fixed(mid.tokensPerSecond),
          'p50 / p99 ms': `${fixed(mid.p50, 1)} / ${fixed(mid.p99, 1)}`,
          'ratio to SQLite': fixed(ratio, 2),
          'non-2xx': non2xx,
          'Gatehouse CPU ms/token (core 1)': `${fixed(serverCpu, 2)} (${fixed(median(list.map((r) => r.serverCoreShare)) * 100)}% of core)`,
          'PostgreSQL CPU ms/token (unpinned)': pgCpu === undefined ? '-' : fixed(pgCpu, 2),
          'core 0 / core 1 busy': `${fixed(median(list.map((r) => r.coreBusy[LOAD_CORE] ?? 0)) * 100)}% / ${fixed(median(list.map((r) => r.coreBusy[SERVER_CORE] ?? 0)) * 100)}%`,
        });
        const key = `${grant === 'client_credentials' ? 'clientCredentials' : 'refreshToken'}.${setup.key}`;
        Object.assign(results, {
          [`${key}.tokensPerSecond`]: mid.tokensPerSecond,
          [`${key}.p50Ms`]: mid.p50,
          [`${key}.p99Ms`]: mid.p99,
          [`${key}.ratioToSqlite`]: ratio,
          [`${key}.non2xx`]: non2xx,
          [`${key}.serverCpuMsPerToken`]: serverCpu,
          [`${key}.core0Busy`]: median(list.map((r) => r.coreBusy[LOAD_CORE] ?? 0)),
          [`${key}.core1Busy`]: median(list.map((r) => r.coreBusy[SERVER_CORE] ?? 0)),
          ...(pgCpu === undefined ? {} : { [`${key}.postgresCpuMsPerToken`]: pgCpu }),
        });
        roundLines.push(`- ${grant}, ${setup.label}: ${list.map((r) => `${fixed(r.tokensPerSecond)}${r.perInstance.length > 1 ? ` (${r.perInstance.map((n) => fixed(n / DURATION)).join(' + ')})` : ''}`).join(', ')} tokens/s`);
      }
    }
    const failures = Object.entries(results).filter(([key, value]) => key.endsWith('.non2xx') && value > 0).length;
    results.setupsWithNon2xx = failures;
    return {
      markdown: `${table(rows)}\n\n${failures === 0 ? 'Every response was 2xx (warm-ups included).' : `**${failures} measure(s) had non-2xx responses or socket errors: their figures are not valid.**`}\n\nRounds (${ROUNDS} × ${DURATION} s, interleaved; per instance in brackets):\n${roundLines.join('\n')}\n`,
      results,
    };
  } finally {
    for (const minter of minters.values()) await minter.close().catch(() => {});
    for (const cleanup of cleanups) await cleanup().catch((error: unknown) => process.stderr.write(`cleanup: ${(error as Error).message}\n`));
  }
}
