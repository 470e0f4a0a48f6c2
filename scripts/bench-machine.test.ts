// The benchmarks' record of the machine (bench/machine.ts): CPU used by processes that are not the
// benchmark's counts as foreign, the benchmark's own children do not. Counted in CPU ticks the
// kernel reports for the hog itself, so the checks hold however busy the machine is otherwise.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { waitFor } from '@gatehouse/test-support/wait';
import { machineDuring, sampleCpu } from '../bench/machine.ts';

const BUSY = 'for (;;) {}';

function ticksOf(pid: number): number {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/** CPU ticks used meanwhile by `pid`, once it has used at least `at least` of them. */
async function measureWhileBusy(pid: number, atLeast = 40) {
  const start = ticksOf(pid);
  const before = sampleCpu();
  await waitFor(() => ticksOf(pid) - start >= atLeast, { timeout: 60_000, message: 'the hog to use some CPU' });
  const after = sampleCpu();
  const used = ticksOf(pid) - start;
  const seconds = Number(after.at - before.at) / 1e9;
  const machine = machineDuring(before, after);
  // Percent of a core over the interval, back to ticks (100 a second).
  const ticks = (percent: number) => (percent / 100) * seconds * 100;
  return { used, foreign: ticks(machine.foreignCorePercent), ours: ticks(machine.oursCorePercent), machine };
}

test('a process that is not the benchmark\'s is foreign CPU, and a busy run is noisy', async (t) => {
  // An orphan: the shell that started it exits, so it is no descendant of this process.
  const started = spawnSync('sh', ['-c', `${JSON.stringify(process.execPath)} -e ${JSON.stringify(BUSY)} >/dev/null 2>&1 & echo $!`], { encoding: 'utf8' });
  const pid = Number(started.stdout.trim());
  assert.ok(pid > 0, started.stderr);
  t.after(() => process.kill(pid, 'SIGKILL'));
  const { used, foreign, machine } = await measureWhileBusy(pid);
  // Ticks are sampled at slightly different moments: allow one tick either side and 10%.
  assert.ok(foreign >= used * 0.9 - 2, `foreign ${foreign.toFixed(1)} ticks, the hog used ${used}`);
  assert.ok(machine.noisy, 'a hog on the machine makes the run noisy');
});

test('the benchmark\'s own children are not foreign', async (t) => {
  const child = spawn(process.execPath, ['-e', BUSY], { stdio: 'ignore' });
  t.after(() => child.kill('SIGKILL'));
  const { used, ours } = await measureWhileBusy(child.pid!);
  assert.ok(ours >= used * 0.9 - 2, `ours ${ours.toFixed(1)} ticks, the child used ${used}`);
});
