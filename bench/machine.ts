// What else the machine was doing during a measured run: the load average, and the CPU that
// processes other than this benchmark (this process, its servers and its load generator) used.
// A ratio measured while another process took a share of a core is not a ratio of Gatehouse's
// work (issue 14: a busy machine once made the cache-hit ratio look like 0.62 instead of 0.90),
// so every run records this and a run above NOISE_LIMIT is measured again, then marked noisy.
import { readdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';

/** Percent of one core that other processes may use during a run before it counts as noisy. */
export const NOISE_LIMIT = 5;
/** Clock ticks per second of /proc's CPU times (USER_HZ, 100 on Linux). */
const TICKS = 100;

export interface CpuSample {
  readonly at: bigint;
  /** Busy ticks of every core (user, nice, system, irq, softirq, steal). */
  readonly busy: number;
  /** Ticks of this process (and its reaped children) and of each live descendant, by pid. */
  readonly self: number;
  readonly descendants: ReadonlyMap<number, number>;
}

export interface MachineDuring {
  /** The 1-minute load average at the end of the run. */
  readonly load1: number;
  /** CPU used by other processes, in percent of one core. */
  readonly foreignCorePercent: number;
  /** CPU used by this benchmark's processes, in percent of one core. */
  readonly oursCorePercent: number;
  readonly noisy: boolean;
}

function busyTicks(): number {
  let busy = 0;
  for (const line of readFileSync('/proc/stat', 'utf8').split('\n')) {
    if (!/^cpu\d+ /.test(line)) continue;
    const [, user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).map(Number);
    busy += user! + nice! + system! + irq! + softirq! + (steal ?? 0);
  }
  return busy;
}

/** Fields of /proc/<pid>/stat after the command name (which may hold spaces and parentheses). */
function statFields(pid: number | 'self', thread?: number): string[] | undefined {
  try {
    const text = readFileSync(thread === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${thread}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined; // gone meanwhile
  }
}

// After the name: state is field 0, ppid 1, utime 11, stime 12, cutime 13, cstime 14.
const ownTicks = (fields: string[]) => Number(fields[11]) + Number(fields[12]);
const reapedTicks = (fields: string[]) => Number(fields[13]) + Number(fields[14]);

/** Live processes descending from `root`, with their own CPU ticks. */
function descendantsOf(root: number): Map<number, number> {
  const parents = new Map<number, { ppid: number; ticks: number }>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const fields = statFields(Number(entry));
    if (fields) parents.set(Number(entry), { ppid: Number(fields[1]), ticks: ownTicks(fields) });
  }
  const found = new Map<number, number>();
  const isOurs = (pid: number): boolean => {
    for (let current = parents.get(pid)?.ppid, depth = 0; current !== undefined && depth < 64; current = parents.get(current)?.ppid, depth++) {
      if (current === root) return true;
    }
    return false;
  };
  for (const [pid, { ticks }] of parents) if (isOurs(pid)) found.set(pid, ticks);
  return found;
}

/** User + system CPU seconds a process has used so far, every thread (undefined once it is gone). */
export function cpuSeconds(pid: number): number | undefined {
  const fields = statFields(pid);
  return fields && ownTicks(fields) / TICKS;
}

/**
 * CPU seconds a process's main thread has used (its thread id is its pid): with `cpuSeconds`, what
 * the event loop did apart from libuv's pool (argon2id) and V8's helper threads (GC, compiling).
 */
export function mainThreadCpuSeconds(pid: number): number | undefined {
  const fields = statFields(pid, pid);
  return fields && ownTicks(fields) / TICKS;
}

export function sampleCpu(): CpuSample {
  const self = statFields('self')!;
  return { at: process.hrtime.bigint(), busy: busyTicks(), self: ownTicks(self) + reapedTicks(self), descendants: descendantsOf(process.pid) };
}

/**
 * Between two samples: what this benchmark's processes used (this process, the children it reaped
 * meanwhile, and every descendant alive at the end, from its tick count at the start or from 0 if
 * it started since), and what the rest of the machine did.
 */
export function machineDuring(before: CpuSample, after: CpuSample, alsoOursSeconds = 0): MachineDuring {
  const seconds = Number(after.at - before.at) / 1e9;
  // `alsoOursSeconds`: CPU of processes that work for the benchmark without descending from it
  // (the PostgreSQL backends serving its database).
  let ours = after.self - before.self + alsoOursSeconds * TICKS;
  for (const [pid, ticks] of after.descendants) ours += ticks - (before.descendants.get(pid) ?? 0);
  const busy = after.busy - before.busy;
  const percent = (ticks: number) => (seconds > 0 ? (ticks / TICKS / seconds) * 100 : 0);
  const foreignCorePercent = Math.max(0, percent(busy - ours));
  return { load1: loadavg()[0]!, foreignCorePercent, oursCorePercent: percent(ours), noisy: foreignCorePercent > NOISE_LIMIT };
}
