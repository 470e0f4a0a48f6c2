/**
 * Calls to the issuer (discovery, JWKS, introspection): one timeout, one size cap, one error
 * type. An `UpstreamError` means "the issuer could not answer", which the pipeline turns into a
 * 503 (the credential may be fine) rather than a 401.
 */

export type FetchLike = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

/** The issuer could not be reached or answered with something unusable. */
export class UpstreamError extends Error {
  override readonly name = 'UpstreamError';
  /** Which call failed. */
  readonly endpoint: 'discovery' | 'jwks' | 'introspection' | 'signals';
  /** Milliseconds until the SDK will ask the issuer again, when it waits on purpose (a cooldown). */
  readonly retryAfterMs: number | undefined;

  constructor(endpoint: UpstreamError['endpoint'], message: string, cause?: unknown, retryAfterMs?: number) {
    super(message, cause === undefined ? undefined : { cause });
    this.endpoint = endpoint;
    this.retryAfterMs = retryAfterMs;
  }
}

/** Metadata and key sets are small; a larger answer is refused instead of buffered. */
const MAX_RESPONSE_BYTES = 512 * 1024;

export interface UpstreamRequest {
  endpoint: UpstreamError['endpoint'];
  url: string;
  init?: RequestInit;
  fetch: FetchLike;
  timeoutMs: number;
}

/** Fetches `url` and parses a JSON body; returns the status alongside so callers decide. */
export async function fetchJson(request: UpstreamRequest): Promise<{ status: number; body: unknown }> {
  let response: Response;
  try {
    response = await request.fetch(request.url, {
      ...request.init,
      // A redirect is an answer we did not ask for: metadata and keys come from the exact URL.
      redirect: 'manual',
      // The caller's own signal (a receiver closing) as well as the timeout.
      signal: request.init?.signal ? AbortSignal.any([request.init.signal, AbortSignal.timeout(request.timeoutMs)]) : AbortSignal.timeout(request.timeoutMs),
      headers: { accept: 'application/json', ...(request.init?.headers as Record<string, string> | undefined) },
    });
  } catch (error) {
    throw new UpstreamError(request.endpoint, `${request.endpoint} request failed`, error);
  }
  let text: string;
  try {
    text = await readLimited(response, MAX_RESPONSE_BYTES);
  } catch (error) {
    throw new UpstreamError(request.endpoint, `${request.endpoint} response could not be read`, error);
  }
  if (response.status >= 500) {
    throw new UpstreamError(request.endpoint, `${request.endpoint} answered ${response.status}`);
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: response.status, body };
}

async function readLimited(response: Response, limit: number): Promise<string> {
  if (response.body === null) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      throw new Error(`response larger than ${limit} bytes`);
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return new TextDecoder().decode(bytes);
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
