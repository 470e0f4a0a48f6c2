// What every request is held to before any route sees it:
//   - time: headers within GATEHOUSE_HEADERS_TIMEOUT, the whole request within
//     GATEHOUSE_REQUEST_TIMEOUT (Node answers 408 and closes the connection);
//   - one Host header: RFC 9112 §3.2, a request with more than one is answered 400;
//   - size: a body declared larger than its route accepts is answered 413 — after reading and
//     discarding it, so the answer reaches a client that is still sending (answering first and
//     closing would reset the connection under it, and it would never see the 413).
import type { IncomingMessage } from 'node:http';
import type { FastifyReply, FastifyRequest, FastifyServerOptions } from 'fastify';
import type { Config } from '../config/schema.ts';

/** Bodies are read (and thrown away) up to this size to deliver a 413; beyond it the connection is cut. */
export const MAX_DRAIN_BYTES = 16 * 1024 * 1024;

export function serverTimeouts(config: Pick<Config, 'requestTimeout' | 'headersTimeout'>): Partial<FastifyServerOptions> {
  const headersMs = config.headersTimeout * 1000;
  return {
    requestTimeout: config.requestTimeout * 1000,
    http: {
      headersTimeout: headersMs,
      // Node checks the deadlines on a timer (30 s by default, which would let a 10 s deadline
      // run to 40 s): check often enough to keep them.
      connectionsCheckingInterval: Math.min(5000, Math.max(250, headersMs / 4)),
    },
  } as Partial<FastifyServerOptions>;
}

/** An error whose status the error handlers answer with (413 or 400), in their own format. */
export class RequestRefused extends Error {
  readonly statusCode: number;
  constructor(statusCode: 400 | 413, message: string) {
    super(message);
    this.name = 'RequestRefused';
    this.statusCode = statusCode;
  }
}

/** Reads and discards what is left of a request body, up to MAX_DRAIN_BYTES: true if it all came. */
export function drainBody(req: IncomingMessage): Promise<boolean> {
  if (req.readableEnded) return Promise.resolve(true);
  return new Promise((resolve) => {
    let received = 0;
    const finish = () => {
      req.off('data', count);
      req.off('end', finish);
      req.off('error', finish);
      req.off('close', finish);
      resolve(req.readableEnded);
    };
    const count = (chunk: Buffer) => {
      received += chunk.length;
      if (received > MAX_DRAIN_BYTES) {
        req.pause();
        finish();
      }
    };
    req.on('data', count);
    req.once('end', finish);
    req.once('error', finish);
    req.once('close', finish);
  });
}

/** The onRequest hook that applies the Host and size rules (the timeouts are the server's). */
export async function requestLimits(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const raw = request.raw.rawHeaders;
  let hosts = 0;
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() === 'host') hosts++;
  if (hosts > 1) {
    reply.header('connection', 'close');
    throw new RequestRefused(400, 'more than one Host header');
  }

  const declared = Number(request.headers['content-length']);
  const limit = request.routeOptions.bodyLimit;
  if (Number.isFinite(declared) && limit !== undefined && declared > limit) {
    // Cut short: close the connection with the answer rather than read on.
    if (!(await drainBody(request.raw))) reply.header('connection', 'close');
    throw new RequestRefused(413, `the request body is larger than ${limit} bytes`);
  }
}
