// A `fetch` that reaches this very server through `app.inject`, never the network: the SDK that
// protects the admin API reads discovery, the JWKS and introspection from the server it runs in.
// The public URL may not be reachable from inside (a proxy, a container's port mapping), and a
// request that never leaves the process cannot be intercepted or sent anywhere else.
import type { FastifyInstance } from 'fastify';
import type { FetchLike } from '@gatehouse/sdk';

// Statuses whose responses have no body (the Response constructor refuses one).
const NO_BODY = new Set([101, 204, 205, 304]);

export function injectFetch(app: FastifyInstance, publicUrl: string): FetchLike {
  const origin = new URL(publicUrl).origin;
  return async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    // Only this server's own endpoints: anything else would be a request we never meant to make.
    if (url.origin !== origin) throw new TypeError(`injectFetch: ${url.origin} is not this server (${origin})`);
    const headers: Record<string, string> = {};
    new Headers(init?.headers).forEach((value, name) => {
      headers[name] = value;
    });
    const body = init?.body;
    if (body !== undefined && body !== null && typeof body !== 'string' && !(body instanceof URLSearchParams)) {
      throw new TypeError('injectFetch: only string and URLSearchParams bodies are supported');
    }
    const response = await app.inject({
      method: (init?.method ?? 'GET') as 'GET',
      url: `${url.pathname}${url.search}`,
      headers,
      ...(body === undefined || body === null ? {} : { payload: String(body) }),
    });
    const responseHeaders = new Headers();
    for (const [name, value] of Object.entries(response.headers)) {
      if (value === undefined) continue;
      for (const item of Array.isArray(value) ? value : [String(value)]) responseHeaders.append(name, item);
    }
    return new Response(NO_BODY.has(response.statusCode) ? null : new Uint8Array(response.rawPayload), {
      status: response.statusCode,
      headers: responseHeaders,
    });
  };
}
