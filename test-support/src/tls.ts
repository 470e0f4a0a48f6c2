// A real https server for tests: a self-signed certificate for 127.0.0.1 made with the openssl
// CLI, trusted by this test process's TLS clients (global fetch included) until the test ends.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import tls from 'node:tls';
import { tempDir } from './files.ts';

export interface HttpsServer {
  /** `https://127.0.0.1:<port>`. */
  readonly origin: string;
  readonly server: Server;
}

/** A key and a self-signed certificate for IP 127.0.0.1, valid for a day. */
export function selfSignedCertificate(t: Pick<TestContext, 'after'>): { key: string; cert: string } {
  const dir = tempDir(t, 'gatehouse-tls-');
  const [keyFile, certFile] = [join(dir, 'key.pem'), join(dir, 'cert.pem')];
  const made = spawnSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', keyFile, '-out', certFile],
    { encoding: 'utf8' },
  );
  if (made.error !== undefined || made.status !== 0) {
    throw new Error(`openssl could not make a test certificate (install it with "apt-get install openssl"): ${made.error?.message ?? made.stderr}`);
  }
  return { key: readFileSync(keyFile, 'utf8'), cert: readFileSync(certFile, 'utf8') };
}

/**
 * An https server on 127.0.0.1 whose certificate this process trusts (tls.setDefaultCACertificates:
 * node's fetch and https clients that set no `ca` of their own), closed and untrusted after the test.
 */
export async function startHttpsServer(t: Pick<TestContext, 'after'>, handler: (request: IncomingMessage, response: ServerResponse) => void): Promise<HttpsServer> {
  const { key, cert } = selfSignedCertificate(t);
  const previous = tls.getCACertificates('default');
  tls.setDefaultCACertificates([...previous, cert]);
  t.after(() => tls.setDefaultCACertificates(previous));
  const server = createServer({ key, cert }, handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  }));
  const { port } = server.address() as { port: number };
  return { origin: `https://127.0.0.1:${port}`, server };
}
