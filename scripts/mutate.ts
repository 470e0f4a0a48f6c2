// Mutation testing: `npm run mutate -- [--budget=<minutes>] [--seed=<n>] [--report=<file.json>] [--only=<id>…] <files or folders…>`.
// Each mutant (mutation/mutants.ts) is written over its source file, the file's mapped tests
// (mutation/targets.ts) run one after the other until one fails (killed), and the file is put
// back. Folders mean the .ts files directly in them. Mutants run in a seeded random order until
// the budget is spent, so a short run still samples every file; the score is over those run.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { generateMutants, type Mutant } from './mutation/mutants.ts';
import { TARGETS } from './mutation/targets.ts';

const ROOT = new URL('../', import.meta.url).pathname;

interface Outcome {
  readonly mutant: Mutant;
  readonly status: 'killed' | 'survived' | 'timeout';
  readonly by?: string;
}

function sourceFiles(paths: readonly string[]): string[] {
  return paths.flatMap((path) => {
    const absolute = join(ROOT, path);
    if (!statSync(absolute).isDirectory()) return [relative(ROOT, absolute)];
    return readdirSync(absolute)
      .filter((name) => name.endsWith('.ts') && !name.endsWith('.d.ts'))
      .map((name) => relative(ROOT, join(absolute, name)));
  });
}

/** How long a test file may take unmutated, when a run starts. */
const BASELINE_DEADLINE_MS = 15 * 60_000;
/** The end of a test run's output: enough to say why it failed. */
const OUTPUT_KEPT = 20_000;

/**
 * Runs one test file: 'pass', 'fail', or 'timeout' (a run past the deadline is ended), with the
 * end of its output for a run that did not pass.
 */
function runTest(file: string, timeoutMs: number): Promise<{ result: 'pass' | 'fail' | 'timeout'; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--test', '--test-reporter=spec', '--test-timeout=120000', file], {
      cwd: ROOT,
      env: { ...process.env, NODE_OPTIONS: '--conditions=@gatehouse/source' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let output = '';
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-OUTPUT_KEPT);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    const timer = setTimeout(() => {
      process.kill(-child.pid!, 'SIGKILL');
      resolve({ result: 'timeout', output });
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ result: code === 0 ? 'pass' : 'fail', output });
    });
  });
}

/** A seeded shuffle (mulberry32), so a run can be repeated. */
function shuffle<T>(items: T[], seed: number): T[] {
  let state = seed >>> 0;
  const random = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  for (let index = items.length - 1; index > 0; index -= 1) {
    const other = Math.floor(random() * (index + 1));
    [items[index], items[other]] = [items[other]!, items[index]!];
  }
  return items;
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      budget: { type: 'string', default: '10' },
      seed: { type: 'string', default: '1' },
      report: { type: 'string' },
      // Mutant ids (as printed and reported), to check survivors again after adding tests.
      only: { type: 'string', multiple: true },
    },
  });
  if (positionals.length === 0) throw new Error('usage: npm run mutate -- [--budget=<minutes>] [--seed=<n>] [--report=<file.json>] <files or folders…>');
  const deadline = Date.now() + Number(values.budget) * 60_000;
  const files = sourceFiles(positionals);
  const unmapped = files.filter((file) => !TARGETS[file]);
  for (const file of unmapped) console.log(`no tests mapped in scripts/mutation/targets.ts, skipped: ${file}`);

  const originals = new Map(files.map((file) => [file, readFileSync(join(ROOT, file), 'utf8')]));
  const only = values.only && new Set(values.only);
  const mutants = shuffle(
    files.filter((f) => TARGETS[f]).flatMap((file) => generateMutants(file, originals.get(file)!)).filter((m) => !only || only.has(m.id)),
    Number(values.seed),
  );
  // The tests of the mutated files must pass unmutated; their time sets the deadline of a mutant's run.
  const timeouts = new Map<string, number>();
  for (const test of new Set(mutants.flatMap((m) => TARGETS[m.file]!))) {
    // A re-check of given mutants follows a full run, which proved the tests green: a fixed deadline.
    if (only) {
      timeouts.set(test, 180_000);
      continue;
    }
    const started = Date.now();
    // Generous: on a busy machine a file of CLI tests takes minutes (ssf-streams.test.ts took
    // 225 s beside a suite run), and a slow file is not a failing one.
    const { result, output } = await runTest(test, BASELINE_DEADLINE_MS);
    if (result !== 'pass') throw new Error(`${test} fails without a mutant (${result}): fix it first. Its output ended:\n${output}`);
    timeouts.set(test, Math.max(30_000, 3 * (Date.now() - started)));
  }

  let current: string | undefined;
  const restore = () => {
    if (current) writeFileSync(join(ROOT, current), originals.get(current)!);
    current = undefined;
  };
  const outcomes: Outcome[] = [];
  // Stopped early (Ctrl-C, a kill): the source is put back and what ran is reported as if the
  // budget had run out, so a long run can be ended at any time without losing it.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      restore();
      summarize(outcomes, mutants.length, values.report);
      process.exit(130);
    });
  }

  for (const mutant of mutants) {
    if (Date.now() > deadline) break;
    current = mutant.file;
    writeFileSync(join(ROOT, mutant.file), mutant.apply(originals.get(mutant.file)!));
    let outcome: Outcome = { mutant, status: 'survived' };
    try {
      for (const test of TARGETS[mutant.file]!) {
        const { result } = await runTest(test, timeouts.get(test)!);
        if (result !== 'pass') {
          outcome = { mutant, status: result === 'fail' ? 'killed' : 'timeout', by: test };
          break;
        }
      }
    } finally {
      restore();
    }
    outcomes.push(outcome);
    const mark = outcome.status === 'survived' ? 'SURVIVED' : outcome.status;
    console.log(`${mark.padEnd(8)} ${mutant.file}:${mutant.line} [${mutant.operator}] ${mutant.original}  →  ${mutant.mutated}`);
  }

  summarize(outcomes, mutants.length, values.report);
}

/** The score over the mutants run, each survivor's id (for `--only`), and the JSON report. */
function summarize(outcomes: readonly Outcome[], generated: number, report: string | undefined): void {
  const detected = outcomes.filter((o) => o.status !== 'survived').length;
  console.log(`\n${outcomes.length} of ${generated} mutants run; ${detected} detected (killed or timed out); score ${((100 * detected) / Math.max(1, outcomes.length)).toFixed(1)}%`);
  const survivors = outcomes.filter((o) => o.status === 'survived');
  for (const { mutant } of survivors) console.log(`survivor: ${mutant.id}  ${mutant.original}  →  ${mutant.mutated}`);
  if (report) {
    const rows = outcomes.map(({ mutant, status, by }) => ({ id: mutant.id, status, by, original: mutant.original, mutated: mutant.mutated }));
    writeFileSync(report, `${JSON.stringify({ generated, run: outcomes.length, detected, outcomes: rows }, null, 2)}\n`);
  }
}

await main();
