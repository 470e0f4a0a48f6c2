// A free TCP port on loopback. The server needs its public URL (and so its port) before it is
// built, so tests ask for a free port first and listen on it a moment later.
//
// The port comes from below the kernel's ephemeral range (ip_local_port_range). Asking the OS for
// port 0 gives a port from inside that range, which the kernel also hands to outgoing connections:
// between this check and the server's listen, a fetch or a database connection from any test on
// the machine can take it (CI once failed with EADDRINUSE exactly so). Below the range, only
// another listener can collide, and ports are drawn at random and never handed out twice by one
// process.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

const LOWEST = 10_000;
const handedOut = new Set<number>();

function ephemeralLow(): number {
  try {
    const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    return Number.isInteger(low) ? low! : 0;
  } catch {
    return 0;
  }
}

const ABOVE_RANGE = ephemeralLow();

function canListen(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(undefined));
    server.listen(port, '127.0.0.1', () => {
      const { port: bound } = server.address() as { port: number };
      server.close(() => resolve(bound));
    });
  });
}

export async function freePort(): Promise<number> {
  if (ABOVE_RANGE - LOWEST >= 1_000) {
    for (let attempt = 0; attempt < 100; attempt++) {
      const candidate = LOWEST + Math.floor(Math.random() * (ABOVE_RANGE - LOWEST));
      if (handedOut.has(candidate)) continue;
      if ((await canListen(candidate)) !== undefined) {
        handedOut.add(candidate);
        return candidate;
      }
    }
  }
  const port = await canListen(0);
  if (port === undefined) throw new Error('no free port on 127.0.0.1');
  handedOut.add(port);
  return port;
}

/** Runs `start` with a free port, again with another if the port was taken meanwhile. */
export async function withFreePort<T>(start: (port: number) => Promise<T>, attempts = 3): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start(await freePort());
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= attempts) throw error;
    }
  }
}
