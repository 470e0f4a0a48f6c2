// A real https server on loopback with a certificate made for the test (the `selfsigned`
// package: no openssl binary needed), for what must be fetched over https: client metadata
// documents, a client's jwks_uri. Each request is answered by the test's handler.
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { getCACertificates, setDefaultCACertificates } from 'node:tls';
import { generate } from 'selfsigned';
import { tempDir } from './files.ts';

export interface HttpsServer {
  /** `https://127.0.0.1:<port>` */
  readonly origin: string;
  readonly port: number;
  /** The server's certificate (PEM), to trust it. */
  readonly certificate: string;
  /** A file holding it, for NODE_EXTRA_CA_CERTS of a child process. */
  readonly certificateFile: string;
  /** Paths requested, oldest first. */
  readonly requests: string[];
  readonly server: Server;
}

export type Handler = (request: IncomingMessage, response: ServerResponse) => void;

export async function startHttpsServer(t: Pick<TestContext, 'after'>, handler: Handler): Promise<HttpsServer> {
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }, { type: 7, ip: '::1' }] },
    ],
  });
  const requests: string[] = [];
  const server = createServer({ key: pems.private, cert: pems.cert }, (request, response) => {
    requests.push(request.url ?? '/');
    handler(request, response);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  const { port } = server.address() as { port: number };
  const certificateFile = join(tempDir(t), 'https-server.pem');
  writeFileSync(certificateFile, pems.cert);
  return { origin: `https://127.0.0.1:${port}`, port, certificate: pems.cert, certificateFile, requests, server };
}

/**
 * Makes this process's TLS clients (fetch included) trust the certificate, as NODE_EXTRA_CA_CERTS
 * would at start, and forget it after the test.
 */
export function trustInThisProcess(t: Pick<TestContext, 'after'>, certificate: string): void {
  const before = getCACertificates('default');
  setDefaultCACertificates([...before, certificate]);
  t.after(() => setDefaultCACertificates(before));
}
