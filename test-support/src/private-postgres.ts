// A PostgreSQL server of its own for a test, on a free port, so the test can do to it what an
// operator's bad day does: stop it (`pg_ctl stop -m fast`: sessions get 57P01; `-m immediate`:
// connections just drop), freeze it (SIGSTOP on every PostgreSQL process: connections stay open,
// nothing answers), resume and restart it. The shared server on 5432 is never touched.
//
// initdb refuses to run as root: when the tests run as root, the server runs as `postgres`.
import { execFileSync, spawn } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { freePort } from './ports.ts';

export interface PrivatePostgres {
  /** `postgres://postgres@127.0.0.1:<port>/postgres` (trust authentication). */
  readonly url: string;
  readonly port: number;
  /** `pg_ctl stop -m <mode>`; resolves once the server is down. */
  stop(mode?: 'fast' | 'immediate'): Promise<void>;
  /** Starts it again on the same port and data; resolves once it accepts connections. */
  start(): Promise<void>;
  /** SIGSTOP to the postmaster and every backend: sockets stay open, nothing answers. */
  freeze(): void;
  /** SIGCONT to every process frozen. */
  resume(): void;
  /** The server's log, for diagnosis. */
  log(): string;
}

function binDir(): string {
  if (process.env.GATEHOUSE_TEST_PG_BIN) return process.env.GATEHOUSE_TEST_PG_BIN;
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'initdb'))) : [];
  const newest = versions.sort((a, b) => Number(b) - Number(a))[0];
  if (newest === undefined) throw new Error('no PostgreSQL binaries under /usr/lib/postgresql/*/bin (set GATEHOUSE_TEST_PG_BIN)');
  return join(root, newest, 'bin');
}

/** Who runs the server: ourselves, or `postgres` when we are root. */
function owner(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  return { uid, gid };
}

function run(command: string, args: string[], as: { uid: number; gid: number } | undefined): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...(as ?? {}), stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(output) : reject(new Error(`${command} ${args.join(' ')} exited with ${code}:\n${output}`))));
  });
}

/** The process ids of a process and all its descendants (from /proc). */
function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // The parent pid is the 4th field, after the command name in parentheses.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(parent, [...(children.get(parent) ?? []), Number(entry)]);
    } catch {
      // The process ended while we looked.
    }
  }
  const all: number[] = [];
  const visit = (pid: number) => {
    all.push(pid);
    for (const child of children.get(pid) ?? []) visit(child);
  };
  visit(root);
  return all;
}

export async function startPrivatePostgres(t: Pick<TestContext, 'after'>): Promise<PrivatePostgres> {
  const bin = binDir();
  const as = owner();
  // One after-hook, registered first: stop the server (resumed if frozen), then remove its files.
  let cleanup = async () => {};
  t.after(() => cleanup());
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-pg-'));
  cleanup = async () => rmSync(dir, { recursive: true, force: true });
  const data = join(dir, 'data');
  const logFile = join(dir, 'server.log');
  if (as) chownSync(dir, as.uid, as.gid);
  const port = await freePort();
  await run(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync', '--no-instructions'], as);
  writeFileSync(
    join(data, 'postgresql.conf'),
    [
      `port = ${port}`,
      "listen_addresses = '127.0.0.1'",
      `unix_socket_directories = '${dir}'`,
      // A test server: durability is not the point, speed on a busy machine is.
      'fsync = off',
      'full_page_writes = off',
      'max_connections = 60',
      'shared_buffers = 16MB',
      '',
    ].join('\n'),
    { flag: 'a' },
  );
  if (as) chownSync(join(data, 'postgresql.conf'), as.uid, as.gid);

  let frozen: number[] = [];
  let running = false;
  const start = async () => {
    await run(join(bin, 'pg_ctl'), ['-D', data, '-l', logFile, '-w', '-t', '120', 'start'], as);
    running = true;
  };
  const stop = async (mode: 'fast' | 'immediate' = 'fast') => {
    if (!running) return;
    await run(join(bin, 'pg_ctl'), ['-D', data, '-m', mode, '-w', '-t', '120', 'stop'], as);
    running = false;
  };
  const postmaster = () => Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
  const resume = () => {
    for (const pid of frozen) {
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        // Already gone.
      }
    }
    frozen = [];
  };

  await start();
  cleanup = async () => {
    resume();
    await stop('immediate').catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  };
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    stop,
    start,
    freeze() {
      frozen = processTree(postmaster());
      for (const pid of frozen) process.kill(pid, 'SIGSTOP');
    },
    resume,
    log: () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''),
  };
}
