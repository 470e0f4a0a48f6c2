// The test suite's free ports (test-support/src/ports.ts): chosen where outgoing connections are
// never given a port, and chosen again when another listener took one first.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { test } from 'node:test';
import { freePort, withFreePort } from '@gatehouse/test-support/ports';

function listen(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

test('free ports come from below the ephemeral range, which outgoing connections draw from', async () => {
  const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
  const ports = await Promise.all(Array.from({ length: 20 }, () => freePort()));
  for (const port of ports) assert.ok(port >= 10_000 && port < low!, `${port} is below ${low}`);
  assert.equal(new Set(ports).size, ports.length, 'never the same port twice');
});

test('a port taken between the choice and the listen is chosen again', async (t) => {
  const tried: number[] = [];
  const server = await withFreePort(async (port) => {
    tried.push(port);
    if (tried.length === 1) {
      const thief = await listen(port);
      t.after(() => thief.close());
    }
    return listen(port);
  });
  t.after(() => server.close());
  assert.equal(tried.length, 2);
  assert.equal((server.address() as { port: number }).port, tried[1]);
  await assert.rejects(
    withFreePort(async () => {
      throw Object.assign(new Error('boom'), { code: 'EACCES' });
    }),
    /boom/,
    'other errors are not retried',
  );
});
