/**
 * Test helpers: a fetch that wraps the real one to count outbound requests (the network itself
 * is real: the test issuer listens on 127.0.0.1), a settable clock, request builders, and a stub
 * server for the answers the test issuer cannot give.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AuthRequest, FetchLike } from '@gatehouse/sdk';

export interface CountingFetch {
  readonly fetch: FetchLike;
  /** URLs requested, in order. */
  readonly urls: string[];
  count(predicate?: (url: string) => boolean): number;
}

export function countingFetch(): CountingFetch {
  const urls: string[] = [];
  return {
    urls,
    fetch: (input, init) => {
      urls.push(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
      return fetch(input, init);
    },
    count: (predicate) => (predicate === undefined ? urls.length : urls.filter(predicate).length),
  };
}

/** A clock tests move by hand (milliseconds). */
export function manualClock(start = Date.now()): { now: () => number; advance: (seconds: number) => void } {
  let current = start;
  return { now: () => current, advance: (seconds) => void (current += seconds * 1000) };
}

export function bearer(token: string, extra: Record<string, string> = {}): Record<string, string> {
  return { authorization: `Bearer ${token}`, ...extra };
}

export function request(headers: Record<string, string> = {}, options: { method?: string; url?: string } = {}): AuthRequest {
  return { method: options.method ?? 'GET', url: options.url ?? 'https://api.example.test/items', headers };
}

/** One answer of a stub server: a status and a body sent as is (strings) or as JSON. */
export interface StubAnswer {
  readonly status?: number;
  readonly body: unknown;
}

export interface StubServer {
  /** `http://127.0.0.1:<port>`, also the issuer identifier its documents name. */
  readonly url: string;
  /** Paths requested, in order. */
  readonly paths: string[];
  close(): Promise<void>;
}

/**
 * A real HTTP server answering each path as `answer` says (404 when it returns undefined): an
 * issuer that misbehaves in exactly one way the test issuer does not offer.
 */
export async function stubServer(answer: (path: string, url: string) => StubAnswer | undefined): Promise<StubServer> {
  const paths: string[] = [];
  let url = '';
  const server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', url).pathname;
    paths.push(path);
    // The body is read before answering, so the client never sees its request cut short.
    request.resume();
    request.on('end', () => {
      const found = answer(path, url);
      const body = found === undefined ? '{"error":"not_found"}' : typeof found.body === 'string' ? found.body : JSON.stringify(found.body);
      response.writeHead(found?.status ?? (found === undefined ? 404 : 200), { 'content-type': 'application/json' });
      response.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    paths,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error === undefined ? resolve() : reject(error)));
        server.closeAllConnections();
      }),
  };
}
