// scratch: does a fixed piece of main-thread work cost more right after an argon2id verification
// (19 MiB touched on a pool thread of the same core) than after an idle wait of the same length?
import { readFileSync } from 'node:fs';
import { SignJWT, generateKeyPair } from 'jose';
import { hashPassword, verifyPassword } from '../packages/server/src/passwords/hash.ts';
const mainTicks = () => { const t = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8'); const f = t.slice(t.lastIndexOf(')') + 2).split(' '); return Number(f[11]) + Number(f[12]); };
const { privateKey } = await generateKeyPair('ES256');
const payload = { sub: 'user', scope: 'items me', aud: 'https://api.example', client_id: 'c', roles: Array.from({ length: 20 }, (_, i) => `role-${i}`) };
async function work() {
  // ~1 ms: what a grant's main thread does after the verify, roughly: JSON, a signature, strings.
  for (let i = 0; i < 3; i++) await new SignJWT(payload).setProtectedHeader({ alg: 'ES256' }).setIssuedAt().setExpirationTime('1h').sign(privateKey);
  for (let i = 0; i < 200; i++) JSON.parse(JSON.stringify({ ...payload, i }));
}
const hash = await hashPassword('correct horse');
const N = 300;
for (let i = 0; i < 30; i++) { await verifyPassword(hash, 'correct horse'); await work(); }
for (let round = 0; round < 3; round++) {
  for (const before of ['verify', 'idle'] as const) {
    let ticks = 0;
    for (let i = 0; i < N; i++) {
      if (before === 'verify') await verifyPassword(hash, 'correct horse');
      else await new Promise((r) => setTimeout(r, 12));
      const a = mainTicks();
      await work();
      ticks += mainTicks() - a;
    }
    console.log(round, `work after ${before}: main thread ${((ticks * 10) / N).toFixed(2)} ms`);
  }
}
