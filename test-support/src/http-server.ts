// A tiny real HTTP server for tests: a client's redirect URI, a page on another origin, a
// relying party's back-channel logout endpoint (it keeps what was POSTed to it).
import { createServer, type IncomingMessage } from 'node:http';
import type { TestContext } from 'node:test';

export interface TinyServer {
  readonly origin: string;
  /** Requests received, newest last. */
  readonly requests: URL[];
  /** The POST requests received, with their bodies, newest last. */
  readonly posts: { readonly url: URL; readonly contentType: string | undefined; readonly body: string }[];
}

export interface TinyAnswer {
  readonly type?: string;
  readonly body: string;
  /** 200 when not given. */
  readonly status?: number;
}

export async function startTinyServer(t: Pick<TestContext, 'after'>, respond: (request: IncomingMessage) => TinyAnswer = () => ({ body: 'ok' })): Promise<TinyServer> {
  const requests: URL[] = [];
  const posts: TinyServer['posts'][number][] = [];
  const server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', `http://${request.headers.host}`);
    requests.push(url);
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      if (request.method === 'POST') posts.push({ url, contentType: request.headers['content-type'], body: Buffer.concat(chunks).toString('utf8') });
      const { type = 'text/plain', body, status = 200 } = respond(request);
      response.writeHead(status, { 'content-type': type }).end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const { port } = server.address() as { port: number };
  return { origin: `http://127.0.0.1:${port}`, requests, posts };
}
