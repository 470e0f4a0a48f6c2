// `npm run bench [-- <name>…]`: runs the benchmarks (all by default), prints Markdown tables and
// writes bench/results/<name>.json. The runner pins itself to core 0 and each server to core 1.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { LOAD_CORE, machineReport } from './support.ts';
import { sdkBenchmark } from './sdk.ts';
import { revocationBenchmark } from './revocation.ts';
import { storageBenchmark } from './storage.ts';
import { tokenEndpointBenchmark } from './token-endpoint.ts';

const BENCHMARKS: Record<string, () => Promise<{ markdown: string; results: Record<string, number> }>> = {
  'token-endpoint': tokenEndpointBenchmark,
  sdk: sdkBenchmark,
  storage: storageBenchmark,
  revocation: revocationBenchmark,
};

if (!process.env.GATEHOUSE_BENCH_PINNED) {
  // Re-run this script pinned to the load core.
  const result = spawnSync('taskset', ['-c', String(LOAD_CORE), process.execPath, ...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, GATEHOUSE_BENCH_PINNED: '1' },
  });
  process.exit(result.status ?? 1);
}

const names = process.argv.slice(2).length > 0 ? process.argv.slice(2) : Object.keys(BENCHMARKS);
mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
for (const name of names) {
  const benchmark = BENCHMARKS[name];
  if (!benchmark) throw new Error(`unknown benchmark ${name}; known: ${Object.keys(BENCHMARKS).join(', ')}`);
  process.stdout.write(`\n## ${name}\n\n`);
  const { markdown, results } = await benchmark();
  const machine = machineReport();
  process.stdout.write(`${markdown}\n\n${machine}\n`);
  writeFileSync(new URL(`./results/${name}.json`, import.meta.url), `${JSON.stringify({ date: new Date().toISOString(), results, machine }, null, 2)}\n`);
}
