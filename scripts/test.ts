// Runs every test file with node's built-in test runner.
// `npm run test:unit -- <files…>` runs only the given files.
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';

const DEFAULT_GLOBS = [
  'packages/*/test/**/*.test.ts',
  'examples/*/test/**/*.test.ts',
  'e2e/**/*.test.ts',
  'scripts/**/*.test.ts',
];

const files = process.argv.slice(2);
// Most tests wait on sockets, child processes and argon2 (which runs on libuv's pool),
// so a little more concurrency than cores keeps two cores busy without starving them.
const concurrency = Math.max(2, availableParallelism() + 1);

const args = [
  '--test',
  `--test-concurrency=${concurrency}`,
  // A hung test must fail the run, never stall CI.
  '--test-timeout=240000',
  '--test-reporter=spec',
  ...(files.length > 0 ? files : DEFAULT_GLOBS),
];

const result = spawnSync(process.execPath, args, { stdio: 'inherit' });
process.exit(result.status ?? 1);
