/**
 * Framework-agnostic assertions for authentication answers. They take what any HTTP client
 * gives back — fastify.inject's response, a supertest response, or `await snapshot(fetchResponse)`
 * — and check status, `WWW-Authenticate` (parsed, not string-matched) and the JSON body.
 * Synchronous on purpose: a forgotten `await` cannot turn a failing assertion into a pass.
 */
import { AssertionError } from 'node:assert';

/** status (fetch, supertest) or statusCode (inject); body as text or parsed; headers as record or Headers. */
export interface ResponseLike {
  readonly status?: number;
  readonly statusCode?: number;
  readonly headers: Headers | Readonly<Record<string, unknown>>;
  readonly body?: unknown;
  readonly text?: string;
  readonly payload?: string;
}

export interface ResponseSnapshot {
  readonly status: number;
  readonly headers: Headers;
  readonly body: string;
}

/** Reads a fetch `Response` once so it can be asserted synchronously. */
export async function snapshot(response: Response): Promise<ResponseSnapshot> {
  return { status: response.status, headers: response.headers, body: await response.text() };
}

export interface Challenge {
  /** Auth scheme as sent (compare case-insensitively). */
  readonly scheme: string;
  /** Parameters by lower-cased name. */
  readonly params: Readonly<Record<string, string>>;
}

/**
 * Parses a WWW-Authenticate value into challenges (RFC 9110 §11.6.1):
 * `Bearer realm="api", error="invalid_token", ApiKey realm="api", header="X-API-Key"`.
 */
export function parseChallenges(header: string): Challenge[] {
  const challenges: { scheme: string; params: Record<string, string> }[] = [];
  let rest = header;
  const token = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+/;
  const skip = (pattern: RegExp): void => {
    rest = rest.replace(pattern, '');
  };
  skip(/^[\s,]+/);
  while (rest.length > 0) {
    const scheme = token.exec(rest)?.[0];
    if (scheme === undefined) throw new SyntaxError(`malformed WWW-Authenticate near ${JSON.stringify(rest.slice(0, 20))}`);
    rest = rest.slice(scheme.length);
    const challenge = { scheme, params: {} as Record<string, string> };
    challenges.push(challenge);
    skip(/^ +/);
    // auth-params: name = token / quoted-string, comma separated; a bare token starts the next challenge.
    for (;;) {
      const param = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+)\s*=\s*/.exec(rest);
      if (param === null) break;
      rest = rest.slice(param[0].length);
      let value: string;
      if (rest.startsWith('"')) {
        const quoted = /^"((?:[^"\\]|\\.)*)"/.exec(rest);
        if (quoted === null) throw new SyntaxError('unterminated quoted-string in WWW-Authenticate');
        value = (quoted[1] as string).replace(/\\(.)/g, '$1');
        rest = rest.slice(quoted[0].length);
      } else {
        value = token.exec(rest)?.[0] ?? '';
        rest = rest.slice(value.length);
      }
      challenge.params[(param[1] as string).toLowerCase()] = value;
      skip(/^\s*,\s*/);
    }
    skip(/^[\s,]+/);
  }
  return challenges;
}

function statusOf(response: ResponseLike): number {
  const status = response.status ?? response.statusCode;
  if (typeof status !== 'number') throw new TypeError('response has neither status nor statusCode');
  return status;
}

export function headerOf(response: ResponseLike, name: string): string | undefined {
  const headers = response.headers;
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined;
  const value = (headers as Record<string, unknown>)[name.toLowerCase()];
  if (value === undefined) return undefined;
  return Array.isArray(value) ? value.join(', ') : String(value);
}

function bodyOf(response: ResponseLike): Record<string, unknown> | undefined {
  const raw = response.text ?? response.payload ?? response.body;
  if (raw === undefined || raw === '') return undefined;
  if (typeof raw === 'object') return raw as Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(String(raw));
    return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function fail(message: string, actual: unknown, expected: unknown): never {
  throw new AssertionError({ message, actual, expected, operator: 'authAssertion' });
}

function challengeFor(response: ResponseLike, scheme: string): Challenge {
  const header = headerOf(response, 'www-authenticate');
  if (header === undefined) fail(`expected a WWW-Authenticate header with a ${scheme} challenge`, undefined, scheme);
  const challenge = parseChallenges(header).find((candidate) => candidate.scheme.toLowerCase() === scheme.toLowerCase());
  if (challenge === undefined) fail(`expected a ${scheme} challenge in WWW-Authenticate`, header, scheme);
  return challenge;
}

export interface ChallengeExpectation {
  /** Expected realm, if it matters to the test. */
  readonly realm?: string;
  /** Challenge scheme carrying the error. Default `Bearer`. */
  readonly scheme?: string;
}

/** 401 with a challenge that has a realm and NO error (RFC 6750 §3.1: no credentials sent). */
export function assertMissingCredentials(response: ResponseLike, expected: ChallengeExpectation = {}): void {
  expectStatus(response, 401);
  const challenge = challengeFor(response, expected.scheme ?? 'Bearer');
  if (challenge.params.realm === undefined) fail('expected a realm in the challenge', challenge.params, 'realm');
  if (expected.realm !== undefined && challenge.params.realm !== expected.realm) fail('unexpected realm', challenge.params.realm, expected.realm);
  for (const candidate of parseChallenges(headerOf(response, 'www-authenticate') ?? '')) {
    if (candidate.params.error !== undefined) fail('a response to a request without credentials must not carry an error code', candidate.params, 'no error');
  }
  const body = bodyOf(response);
  if (body?.error !== undefined) fail('no error code expected in the body', body, 'no error');
}

/** 401 `invalid_token` on the expected scheme's challenge and in the body. */
export function assertInvalidToken(response: ResponseLike, expected: ChallengeExpectation = {}): void {
  expectError(response, 401, 'invalid_token', expected);
}

/** 400 `invalid_request` (malformed request, or credentials sent by more than one method). */
export function assertInvalidRequest(response: ResponseLike, expected: ChallengeExpectation = {}): void {
  expectError(response, 400, 'invalid_request', expected);
}

/** 403 `insufficient_scope` with `scope="…"` listing exactly `expected.scopes` (any order). */
export function assertInsufficientScope(response: ResponseLike, expected: ChallengeExpectation & { readonly scopes?: readonly string[] } = {}): void {
  const challenge = expectError(response, 403, 'insufficient_scope', expected);
  if (expected.scopes !== undefined) {
    const actual = (challenge.params.scope ?? '').split(' ').filter((scope) => scope !== '').sort();
    const wanted = [...expected.scopes].sort();
    if (actual.join(' ') !== wanted.join(' ')) fail('unexpected scope attribute', actual, wanted);
  }
}

/** 503: the issuer was unreachable; not an authentication failure, so no challenge error. */
export function assertUnavailable(response: ResponseLike): void {
  expectStatus(response, 503);
  const body = bodyOf(response);
  if (body?.error !== 'temporarily_unavailable') fail('expected error temporarily_unavailable in the body', body, 'temporarily_unavailable');
}

function expectStatus(response: ResponseLike, status: number): void {
  const actual = statusOf(response);
  if (actual !== status) fail(`expected status ${status}, got ${actual}`, actual, status);
}

function expectError(response: ResponseLike, status: number, error: string, expected: ChallengeExpectation): Challenge {
  expectStatus(response, status);
  const challenge = challengeFor(response, expected.scheme ?? 'Bearer');
  if (challenge.params.error !== error) fail(`expected error="${error}" in the challenge`, challenge.params.error, error);
  if (expected.realm !== undefined && challenge.params.realm !== expected.realm) fail('unexpected realm', challenge.params.realm, expected.realm);
  const body = bodyOf(response);
  if (body?.error !== error) fail(`expected "error": "${error}" in the body`, body, error);
  return challenge;
}
