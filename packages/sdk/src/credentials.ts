/**
 * Finding the credential in a request.
 *
 * Sources (each opt-in except the Authorization header), read in this fixed order:
 *   1. `Authorization: Bearer <token>`             (RFC 6750 §2.1)   source 'bearer'
 *   2. token cookie (name configured)                                  source 'cookie'
 *   3. token query parameter (`access_token`)       (RFC 6750 §2.3)   source 'query'
 *   4. API key header (`X-API-Key`), 5. API key cookie, 6. API key query parameter  source 'apiKey'
 * There is no silent precedence: a route reads only the sources it accepts, and when more than
 * one of them carries a credential the request is refused with 400 `invalid_request`
 * (RFC 6750 §3.1: "uses more than one method"). A repeated cookie or parameter is refused the same
 * way (two cookies of one name is how cookie tossing from a sibling domain shows up).
 * A credential header sent more than once is refused too (400): Node keeps the first of two
 * `Authorization` headers, a proxy may read the last, and the two would judge different tokens.
 * A value outside RFC 6750's b64token grammar, or longer than the cap, is a malformed *token*
 * (401 `invalid_token`); "Bearer" with no token at all is a malformed *request* (400).
 */
import { AuthError, type ChallengeScheme } from './errors.ts';

export type SourceName = 'bearer' | 'cookie' | 'query' | 'apiKey';
export const SOURCE_NAMES: readonly SourceName[] = ['bearer', 'cookie', 'query', 'apiKey'];

/** Where each enabled source reads from (resolved configuration). */
export interface CredentialLocations {
  readonly bearer: boolean;
  readonly cookie: string | undefined;
  readonly query: string | undefined;
  readonly apiKey: { readonly header?: string; readonly query?: string; readonly cookie?: string } | undefined;
}

/** The request as the core sees it: a Web `Request` fits, and so do Node's headers. */
export interface AuthRequest {
  readonly method: string;
  /** Absolute URL (adapters build it) or path with query. */
  readonly url: string;
  readonly headers: Headers | Readonly<Record<string, string | readonly string[] | undefined>>;
  /**
   * The client's address as the framework sees it (behind a proxy, as its proxy settings say).
   * Only used to throttle failed introspections (`introspection.failureLimit`); without it a
   * request is never throttled.
   */
  readonly clientIp?: string | undefined;
  /**
   * Node's `rawHeaders` (name, value, name, value, …), so a header sent twice can be told from
   * one sent once: Node's parsed headers keep only the first `Authorization`. Without it, a Web
   * `Headers` object joins repeated fields with ", ", which is recognised instead.
   */
  readonly rawHeaders?: readonly string[] | undefined;
}

export interface Credential {
  readonly value: string;
  readonly source: SourceName;
  readonly location: 'header' | 'cookie' | 'query';
}

/** RFC 6750 §2.1 b64token; required of every credential, whichever source it came from. */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

/** RFC 6750 §3.1: a credential outside the b64token grammar is a malformed token (401 invalid_token). */
export function assertWellFormed(credential: Credential): void {
  if (!B64TOKEN.test(credential.value)) {
    throw new AuthError('invalid_token', 'The credential is malformed', { scheme: schemeOf(credential.source) });
  }
}

export function schemeOf(source: SourceName): ChallengeScheme {
  return source === 'apiKey' ? 'ApiKey' : 'Bearer';
}

export function readHeader(headers: AuthRequest['headers'], name: string): string | undefined {
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined;
  const value = (headers as Readonly<Record<string, string | readonly string[] | undefined>>)[name];
  if (value === undefined) return undefined;
  return typeof value === 'string' ? value : value.join(', ');
}

function badRequest(description: string, scheme: ChallengeScheme): AuthError {
  return new AuthError('invalid_request', description, { scheme });
}

/** The single credential among the accepted sources, or undefined when there is none. */
export function extractCredential(
  request: AuthRequest,
  locations: CredentialLocations,
  accepted: ReadonlySet<SourceName>,
  maxLength: number,
): Credential | undefined {
  const found: Credential[] = [];
  const add = (value: string | undefined, source: SourceName, location: Credential['location']): void => {
    // An empty value (a cleared cookie, `X-API-Key:`) is no credential at all.
    if (value === undefined || value === '') return;
    // Cap before any pattern matching: a 1 MB credential is refused at once, and as a bad
    // credential (401), not as a malformed request.
    if (value.length > maxLength) {
      throw new AuthError('invalid_token', 'The credential is too large', { scheme: schemeOf(source) });
    }
    // The b64token syntax (RFC 6750 §2.1) is checked by assertWellFormed on a cache miss only: a
    // cached credential is the very string that passed it before.
    found.push({ value, source, location });
  };

  let cookies: Map<string, string[]> | undefined;
  const cookie = (name: string, source: SourceName): string | undefined => {
    cookies ??= parseCookies(readHeader(request.headers, 'cookie'));
    const values = cookies.get(name) ?? [];
    if (values.length > 1) throw badRequest('A credential cookie was sent more than once', schemeOf(source));
    return values[0];
  };
  let params: URLSearchParams | undefined;
  const query = (name: string, source: SourceName): string | undefined => {
    params ??= new URL(request.url, 'http://localhost').searchParams;
    const values = params.getAll(name);
    if (values.length > 1) throw badRequest('A credential parameter was sent more than once', schemeOf(source));
    return values[0];
  };

  if (accepted.has('bearer') && locations.bearer) {
    refuseRepeatedHeader(request, 'authorization', 'Bearer');
    add(bearerToken(request), 'bearer', 'header');
  }
  if (accepted.has('cookie') && locations.cookie !== undefined) add(cookie(locations.cookie, 'cookie'), 'cookie', 'cookie');
  if (accepted.has('query') && locations.query !== undefined) add(query(locations.query, 'query'), 'query', 'query');
  const apiKey = locations.apiKey;
  if (accepted.has('apiKey') && apiKey !== undefined) {
    if (apiKey.header !== undefined) {
      refuseRepeatedHeader(request, apiKey.header.toLowerCase(), 'ApiKey');
      add(readHeader(request.headers, apiKey.header.toLowerCase()), 'apiKey', 'header');
    }
    if (apiKey.cookie !== undefined) add(cookie(apiKey.cookie, 'apiKey'), 'apiKey', 'cookie');
    if (apiKey.query !== undefined) add(query(apiKey.query, 'apiKey'), 'apiKey', 'query');
  }

  if (found.length > 1) {
    const scheme = found.some((credential) => credential.source !== 'apiKey') ? 'Bearer' : 'ApiKey';
    throw badRequest('Credentials were sent by more than one method', scheme);
  }
  return found[0];
}

/**
 * A credential header present more than once is a malformed request (RFC 9110 §5.3: these fields
 * are not lists). `name` is lower case.
 */
function refuseRepeatedHeader(request: AuthRequest, name: string, scheme: ChallengeScheme): void {
  const raw = request.rawHeaders;
  if (raw !== undefined) {
    let count = 0;
    for (let index = 0; index < raw.length; index += 2) {
      if (raw[index]?.length === name.length && raw[index]?.toLowerCase() === name) count += 1;
    }
    if (count > 1) throw badRequest(`The ${headerLabel(name)} header was sent more than once`, scheme);
    return;
  }
  // A Web `Headers` joins repeated fields with ", ". No API key or Bearer credential has a comma
  // (b64token), so a comma beside one is a second header (other schemes, like Digest, have commas).
  if (typeof (request.headers as Headers).get !== 'function') return;
  const value = readHeader(request.headers, name);
  if (value === undefined || !value.includes(',')) return;
  if (name !== 'authorization' || /(^|,)\s*bearer(\s|,|$)/i.test(value)) {
    throw badRequest(`The ${headerLabel(name)} header was sent more than once`, scheme);
  }
}

function headerLabel(name: string): string {
  return name === 'authorization' ? 'Authorization' : name;
}

/**
 * The token of an `Authorization: Bearer` header. Another scheme (Basic, …) is not a bearer
 * credential and is ignored; "Bearer" without a well-formed token is a malformed request.
 */
function bearerToken(request: AuthRequest): string | undefined {
  const header = readHeader(request.headers, 'authorization');
  if (header === undefined) return undefined;
  const match = /^([A-Za-z0-9!#$%&'*+.^_`|~-]+)(?: +(.*))?$/.exec(header);
  // RFC 9110 §11.1: the scheme is case-insensitive.
  if (match === null || match[1]?.toLowerCase() !== 'bearer') {
    if (/^bearer(\s|$)/i.test(header)) throw badRequest('The Authorization header is malformed', 'Bearer');
    return undefined;
  }
  const token = match[2];
  if (token === undefined || token === '') throw badRequest('The Authorization header is malformed', 'Bearer');
  return token;
}

/** RFC 6265 §5.4 Cookie header: `name=value; name2=value2`; values may be DQUOTE-wrapped. */
export function parseCookies(header: string | undefined): Map<string, string[]> {
  const cookies = new Map<string, string[]>();
  if (header === undefined) return cookies;
  for (const pair of header.split(';')) {
    const index = pair.indexOf('=');
    if (index === -1) continue;
    const name = pair.slice(0, index).trim();
    let value = pair.slice(index + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    const values = cookies.get(name);
    if (values === undefined) cookies.set(name, [value]);
    else values.push(value);
  }
  return cookies;
}
