// A round-robin HTTP load balancer for tests: the public URL several Gatehouse instances share.
// Each request goes to the next backend; a backend that refuses the connection is skipped (as a
// load balancer with health checks would), so killing an instance leaves the service up.
import { request as httpRequest, createServer } from 'node:http';
import type { TestContext } from 'node:test';

export interface Balancer {
  readonly url: string;
  /** Which backend served each request, in order (for assertions). */
  readonly served: string[];
}

export async function startBalancer(t: Pick<TestContext, 'after'>, backends: () => readonly string[], port = 0): Promise<Balancer> {
  let next = 0;
  const served: string[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const list = backends();
      const attempt = (tries: number): void => {
        if (tries >= list.length) {
          res.writeHead(502).end('no backend');
          return;
        }
        const backend = list[next++ % list.length]!;
        const target = new URL(req.url ?? '/', backend);
        const upstream = httpRequest(
          target,
          { method: req.method, headers: { ...req.headers, host: target.host, 'x-forwarded-for': req.socket.remoteAddress ?? '' } },
          (response) => {
            served.push(backend);
            res.writeHead(response.statusCode ?? 502, response.headers);
            response.pipe(res);
          },
        );
        upstream.on('error', (error: NodeJS.ErrnoException) => {
          if (!res.headersSent && (error.code === 'ECONNREFUSED' || error.code === 'ECONNRESET')) attempt(tries + 1);
          else res.destroy();
        });
        upstream.end(body);
      };
      attempt(0);
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const { port: bound } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${bound}`, served };
}
