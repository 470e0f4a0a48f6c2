// The baseline for the password grant: how many argon2id verifications per second this core
// does, with the same parameters and the same concurrency as the benchmark's load, and the CPU
// each costs (every thread of this process: argon2id runs on libuv's pool).
// Usage: node argon2-verify.ts <seconds> <concurrency>   (prints one JSON line)
import { cpuUsage } from 'node:process';
import { mainThreadCpuSeconds } from './machine.ts';
import { hashPassword, verifyPassword } from '../packages/server/src/passwords/hash.ts';

const seconds = Number(process.argv[2] ?? 10);
const concurrency = Number(process.argv[3] ?? 4);
const hash = await hashPassword('correct horse');
const run = async (until: number) => {
  let count = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < until) {
        if (!(await verifyPassword(hash, 'correct horse'))) throw new Error('verify failed');
        count++;
      }
    }),
  );
  return count;
};
await run(Date.now() + 2000); // warm-up, like the HTTP runs
const started = Date.now();
const cpuBefore = cpuUsage();
const mainBefore = mainThreadCpuSeconds(process.pid)!;
const count = await run(started + seconds * 1000);
const cpu = cpuUsage(cpuBefore);
const main = mainThreadCpuSeconds(process.pid)! - mainBefore;
process.stdout.write(
  `${JSON.stringify({
    verificationsPerSecond: count / ((Date.now() - started) / 1000),
    cpuMsPerVerification: (cpu.user + cpu.system) / 1000 / count,
    mainThreadCpuMsPerVerification: (main * 1000) / count,
  })}\n`,
);
