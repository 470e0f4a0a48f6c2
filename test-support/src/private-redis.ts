// A Redis server of its own for a test, on a free port, so the test can kill it, freeze it
// (SIGSTOP: connections stay open, nothing answers), resume it and start it again on the same
// port. The shared Redis on 6379 is never touched.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import type { TestContext } from 'node:test';
import { freePort } from './ports.ts';

export interface PrivateRedis {
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** Ends the server (SIGKILL by default: no goodbye to clients); resolves once it is gone. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same port (empty: nothing is saved); resolves once it accepts connections. */
  start(): Promise<void>;
  freeze(): void;
  resume(): void;
}

export async function startPrivateRedis(t: Pick<TestContext, 'after'>, port?: number): Promise<PrivateRedis> {
  const listen = port ?? (await freePort());
  let child: ChildProcess | undefined;
  let frozen = false;

  const start = async () => {
    const server = spawn('redis-server', ['--port', String(listen), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = server;
    let output = '';
    server.stdout!.on('data', (chunk) => (output += chunk));
    server.stderr!.on('data', (chunk) => (output += chunk));
    // Ready once it answers PING on its port.
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (server.exitCode !== null) throw new Error(`redis-server exited with ${server.exitCode}:\n${output}`);
      if (await ping(listen)) return;
      if (Date.now() > deadline) throw new Error(`redis-server did not start:\n${output}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  };
  const stop = async (signal: NodeJS.Signals = 'SIGKILL') => {
    const server = child;
    if (!server || server.exitCode !== null || server.signalCode !== null) return;
    if (frozen) {
      server.kill('SIGCONT');
      frozen = false;
    }
    const exited = once(server, 'exit');
    server.kill(signal);
    await exited;
  };

  t.after(() => stop());
  await start();
  return {
    url: `redis://127.0.0.1:${listen}`,
    port: listen,
    stop,
    start,
    freeze() {
      child?.kill('SIGSTOP');
      frozen = true;
    },
    resume() {
      child?.kill('SIGCONT');
      frozen = false;
    },
  };
}

/** One PING over a fresh connection: true on +PONG. */
async function ping(port: number): Promise<boolean> {
  const { connect } = await import('node:net');
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.on('error', () => done(false));
    socket.on('data', (chunk) => done(chunk.toString().startsWith('+PONG')));
    socket.on('connect', () => socket.write('PING\r\n'));
  });
}
