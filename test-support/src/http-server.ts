// A tiny real HTTP server for tests: a client's redirect URI, a page on another origin.
import { createServer, type IncomingMessage } from 'node:http';
import type { TestContext } from 'node:test';

export interface TinyServer {
  readonly origin: string;
  /** Requests received, newest last. */
  readonly requests: URL[];
}

export async function startTinyServer(t: Pick<TestContext, 'after'>, respond: (request: IncomingMessage) => { type?: string; body: string } = () => ({ body: 'ok' })): Promise<TinyServer> {
  const requests: URL[] = [];
  const server = createServer((request, response) => {
    requests.push(new URL(request.url ?? '/', `http://${request.headers.host}`));
    const { type = 'text/plain', body } = respond(request);
    response.writeHead(200, { 'content-type': type }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const { port } = server.address() as { port: number };
  return { origin: `http://127.0.0.1:${port}`, requests };
}
