/**
 * A local issuer for tests: ephemeral keys, a discovery document, a JWKS and an RFC 7662
 * introspection endpoint on a real HTTP server (127.0.0.1, random port), so an API's tests need no
 * running Gatehouse server. Introspection knows the opaque tokens and API keys it created and the
 * access tokens it minted (for `introspection.checkJwts`), until they expire or are revoked.
 * For tests only: keys live in memory and every client is trusted.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';
import type { IssuerMetadata } from '../discovery.ts';
import type { AuthenticatorOptions } from '../options.ts';
import type { JwsAlgorithm } from '../algorithms.ts';
import { signJws } from './sign.ts';

export type TestEndpoint = 'discovery' | 'jwks' | 'introspection';

/**
 * How an endpoint misbehaves: `unavailable` answers 503, `reset` drops the connection, `hang`
 * never answers (exercises timeouts), `garbage` answers 200 with a body that is not JSON.
 */
export type TestFault = 'unavailable' | 'reset' | 'hang' | 'garbage';

export interface TestIssuerOptions {
  /** The API identifier tokens are minted for by default. Default `https://api.example.test`. */
  readonly audience?: string;
  /** Signing algorithm of the ephemeral keys. Default `ES256`. */
  readonly algorithm?: JwsAlgorithm;
  /** Credentials the introspection endpoint requires (client_secret_basic). Default: random. */
  readonly introspectionClient?: { readonly clientId: string; readonly clientSecret: string };
  /** Serve metadata at the OpenID location (default) or only at the RFC 8414 one. */
  readonly discovery?: 'openid' | 'oauth';
  /** `scopes_supported` in the discovery document. */
  readonly scopes?: readonly string[];
}

export interface MintOptions {
  /** `sub`; `null` leaves it out (a client token). Default `user-1`. */
  readonly sub?: string | null;
  /** `client_id`. Default `test-client`. */
  readonly clientId?: string;
  /** Granted scopes (array or space-delimited string). */
  readonly scopes?: readonly string[] | string;
  /** `aud`. Default: the issuer's audience. */
  readonly audience?: string | readonly string[];
  /** `iss`. Default: this issuer. */
  readonly issuer?: string;
  /** Seconds until `exp` (negative for an expired token). Default 300. */
  readonly expiresIn?: number;
  /** Seconds until `nbf`; left out by default. */
  readonly notBefore?: number;
  /** Extra or overriding claims. */
  readonly claims?: Readonly<Record<string, unknown>>;
  /** Extra or overriding header parameters (`typ`, `kid`, `jku`, …). */
  readonly header?: Readonly<Record<string, unknown>>;
}

/** Deliberately bad tokens, each wrong in exactly one way. */
export type BadTokenKind =
  | 'expired'
  | 'not_yet_valid'
  | 'wrong_audience'
  | 'wrong_issuer'
  | 'wrong_typ'
  | 'id_token'
  | 'unknown_kid'
  | 'bad_signature'
  | 'alg_none'
  | 'foreign_key'
  | 'embedded_jwk';

export interface CredentialOptions {
  readonly sub?: string;
  readonly clientId?: string;
  readonly scopes?: readonly string[] | string;
  readonly audience?: string | readonly string[];
  /** Seconds until expiry; none by default. */
  readonly expiresIn?: number;
}

export interface TestIssuer {
  /** The issuer identifier (`http://127.0.0.1:<port>`). */
  readonly issuer: string;
  readonly audience: string;
  readonly algorithm: JwsAlgorithm;
  readonly metadata: IssuerMetadata;
  readonly introspectionClient: { readonly clientId: string; readonly clientSecret: string };
  /** Requests served so far, per endpoint. */
  readonly requests: Readonly<Record<TestEndpoint, number>>;
  /** The current public key set. */
  jwks(): { keys: JWK[] };
  /** Options for `createAuthenticator` pointing at this issuer (introspection enabled). */
  authenticatorOptions(overrides?: Partial<AuthenticatorOptions>): AuthenticatorOptions;
  mintAccessToken(options?: MintOptions): Promise<string>;
  /** A client-credentials token: `sub` = `client_id`, `gty: client_credentials`. */
  mintClientToken(options?: Omit<MintOptions, 'sub'>): Promise<string>;
  mintBadToken(kind: BadTokenKind, options?: MintOptions): Promise<string>;
  /** An opaque access token only introspection knows. */
  createOpaqueToken(options?: CredentialOptions): string;
  /** An API key (introspection answers `token_type: "api_key"`). */
  createApiKey(options?: CredentialOptions): string;
  /** Makes an opaque token, API key or minted access token inactive at introspection. */
  revoke(credential: string): void;
  /** New signing key (new kid); the previous key stays published unless `keepPrevious: false`. */
  rotateKeys(options?: { keepPrevious?: boolean }): Promise<string>;
  /** Makes an endpoint misbehave until called again with `undefined`. */
  fail(endpoint: TestEndpoint, fault: TestFault | undefined): void;
  close(): Promise<void>;
}

interface SigningKey {
  readonly kid: string;
  readonly privateKey: CryptoKey;
  readonly publicJwk: JWK;
}

interface StoredCredential {
  readonly claims: Record<string, unknown>;
}

async function generateSigningKey(alg: JwsAlgorithm): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  return { kid, privateKey, publicJwk: { ...publicJwk, kid, alg, use: 'sig' } };
}

function randomToken(prefix: string): string {
  const bytes = crypto.getRandomValues(new Uint8Array(24));
  return prefix + Buffer.from(bytes).toString('base64url');
}

function scopeString(scopes: readonly string[] | string | undefined): string | undefined {
  if (scopes === undefined) return undefined;
  return typeof scopes === 'string' ? scopes : scopes.join(' ');
}

export async function createTestIssuer(options: TestIssuerOptions = {}): Promise<TestIssuer> {
  const algorithm = options.algorithm ?? 'ES256';
  const audience = options.audience ?? 'https://api.example.test';
  const introspectionClient = options.introspectionClient ?? { clientId: 'test-api', clientSecret: randomToken('secret-') };
  let keys: SigningKey[] = [await generateSigningKey(algorithm)];
  const credentials = new Map<string, StoredCredential>();
  const faults = new Map<TestEndpoint, TestFault>();
  const requests: Record<TestEndpoint, number> = { discovery: 0, jwks: 0, introspection: 0 };

  const server = createServer((request, response) => {
    handle(request, response).catch(() => {
      if (!response.headersSent) response.writeHead(500).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const issuer = `http://127.0.0.1:${port}`;

  const metadata: IssuerMetadata = Object.freeze({
    issuer,
    authorization_endpoint: `${issuer}/authorize`,
    token_endpoint: `${issuer}/token`,
    jwks_uri: `${issuer}/jwks`,
    introspection_endpoint: `${issuer}/introspect`,
    introspection_endpoint_auth_methods_supported: ['client_secret_basic'],
    response_types_supported: ['code'],
    grant_types_supported: ['authorization_code', 'client_credentials', 'refresh_token'],
    code_challenge_methods_supported: ['S256'],
    scopes_supported: [...(options.scopes ?? [])],
  });

  const routes: Record<string, { endpoint: TestEndpoint; method: string; serve: (request: IncomingMessage, response: ServerResponse) => Promise<void> | void }> = {
    [options.discovery === 'oauth' ? '/.well-known/oauth-authorization-server' : '/.well-known/openid-configuration']: {
      endpoint: 'discovery',
      method: 'GET',
      serve: (_request, response) => json(response, 200, metadata),
    },
    '/jwks': {
      endpoint: 'jwks',
      method: 'GET',
      serve: (_request, response) => json(response, 200, { keys: keys.map((key) => key.publicJwk) }),
    },
    '/introspect': { endpoint: 'introspection', method: 'POST', serve: introspect },
  };

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const path = new URL(request.url ?? '/', issuer).pathname;
    const route = routes[path];
    if (route === undefined || request.method !== route.method) {
      json(response, 404, { error: 'not_found' });
      return;
    }
    requests[route.endpoint] += 1;
    const fault = faults.get(route.endpoint);
    if (fault === 'unavailable') return json(response, 503, { error: 'temporarily_unavailable' });
    if (fault === 'reset') return void request.socket.destroy();
    if (fault === 'hang') return;
    if (fault === 'garbage') return void response.writeHead(200, { 'content-type': 'application/json' }).end('<html>');
    await route.serve(request, response);
  }

  async function introspect(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const body = await readBody(request);
    // RFC 7662 §2.1: the endpoint requires client authentication.
    if (!authenticated(request.headers.authorization)) {
      response.setHeader('www-authenticate', 'Basic realm="introspection"');
      return json(response, 401, { error: 'invalid_client' });
    }
    const token = new URLSearchParams(body).get('token');
    if (token === null) return json(response, 400, { error: 'invalid_request' });
    const stored = credentials.get(token);
    const exp = stored?.claims.exp;
    // RFC 7662 §2.2: unknown, revoked and expired are all exactly {"active": false}.
    if (stored === undefined || (typeof exp === 'number' && exp * 1000 <= Date.now())) return json(response, 200, { active: false });
    return json(response, 200, { active: true, ...stored.claims });
  }

  function authenticated(header: string | undefined): boolean {
    const match = /^Basic ([A-Za-z0-9+/=]+)$/i.exec(header ?? '');
    if (match === null) return false;
    const decoded = Buffer.from(match[1] as string, 'base64').toString('utf8');
    const index = decoded.indexOf(':');
    if (index === -1) return false;
    const formDecode = (value: string): string => decodeURIComponent(value.replace(/\+/g, ' '));
    return (
      formDecode(decoded.slice(0, index)) === introspectionClient.clientId &&
      formDecode(decoded.slice(index + 1)) === introspectionClient.clientSecret
    );
  }

  function currentKey(): SigningKey {
    return keys[0] as SigningKey;
  }

  function claimsFor(mint: MintOptions): Record<string, unknown> {
    const now = Math.floor(Date.now() / 1000);
    const claims: Record<string, unknown> = {
      iss: mint.issuer ?? issuer,
      aud: mint.audience ?? audience,
      exp: now + (mint.expiresIn ?? 300),
      iat: now,
      jti: randomToken(''),
      client_id: mint.clientId ?? 'test-client',
    };
    const sub = mint.sub === undefined ? 'user-1' : mint.sub;
    if (sub !== null) claims.sub = sub;
    const scope = scopeString(mint.scopes);
    if (scope !== undefined) claims.scope = scope;
    if (mint.notBefore !== undefined) claims.nbf = now + mint.notBefore;
    return { ...claims, ...mint.claims };
  }

  async function mint(mintOptions: MintOptions = {}, key: SigningKey = currentKey(), known = false): Promise<string> {
    const header = { alg: algorithm, typ: 'at+jwt', kid: key.kid, ...mintOptions.header };
    const claims = claimsFor(mintOptions);
    const token = await signJws(header, claims, key.privateKey);
    // A good access token: introspection answers active for it, as Gatehouse does for its JWTs.
    if (known) credentials.set(token, { claims: { ...claims, token_type: 'Bearer' } });
    return token;
  }

  function store(prefix: string, credential: CredentialOptions, tokenType: string): string {
    const value = randomToken(prefix);
    const now = Math.floor(Date.now() / 1000);
    const claims: Record<string, unknown> = {
      iss: issuer,
      aud: credential.audience ?? audience,
      iat: now,
      token_type: tokenType,
    };
    if (credential.sub !== undefined) claims.sub = credential.sub;
    if (credential.clientId !== undefined) claims.client_id = credential.clientId;
    const scope = scopeString(credential.scopes);
    if (scope !== undefined) claims.scope = scope;
    if (credential.expiresIn !== undefined) claims.exp = now + credential.expiresIn;
    credentials.set(value, { claims });
    return value;
  }

  const testIssuer: TestIssuer = {
    issuer,
    audience,
    algorithm,
    metadata,
    introspectionClient,
    requests,
    jwks: () => ({ keys: keys.map((key) => key.publicJwk) }),
    authenticatorOptions: (overrides = {}) => ({
      issuer,
      audience,
      algorithms: [algorithm],
      introspection: { clientId: introspectionClient.clientId, clientSecret: introspectionClient.clientSecret },
      ...overrides,
    }),
    mintAccessToken: (mintOptions) => mint(mintOptions, currentKey(), true),
    mintClientToken: (mintOptions = {}) => {
      const clientId = mintOptions.clientId ?? 'test-client';
      return mint({ ...mintOptions, clientId, sub: clientId, claims: { gty: 'client_credentials', ...mintOptions.claims } }, currentKey(), true);
    },
    async mintBadToken(kind, mintOptions = {}) {
      switch (kind) {
        case 'expired':
          return mint({ ...mintOptions, expiresIn: -3600 });
        case 'not_yet_valid':
          return mint({ ...mintOptions, notBefore: 3600 });
        case 'wrong_audience':
          return mint({ ...mintOptions, audience: 'https://another-api.example.test' });
        case 'wrong_issuer':
          return mint({ ...mintOptions, issuer: 'https://another-issuer.example.test' });
        case 'wrong_typ':
          return mint({ ...mintOptions, header: { ...mintOptions.header, typ: 'JWT' } });
        case 'id_token':
          // What an OpenID Provider signs as an ID token: typ JWT, aud = the client, a nonce.
          return mint({ ...mintOptions, audience: mintOptions.clientId ?? 'test-client', header: { typ: 'JWT' }, claims: { nonce: 'n-0S6_WzA2Mj', ...mintOptions.claims } });
        case 'unknown_kid':
          return mint({ ...mintOptions, header: { ...mintOptions.header, kid: `unknown-${randomToken('')}` } });
        case 'bad_signature': {
          const token = await mint(mintOptions);
          const signatureStart = token.lastIndexOf('.') + 1;
          // Change a character in the middle of the signature (the last one may only carry padding bits).
          const index = signatureStart + 10;
          const replacement = token[index] === 'A' ? 'B' : 'A';
          return token.slice(0, index) + replacement + token.slice(index + 1);
        }
        case 'alg_none': {
          const token = await mint(mintOptions);
          const [, payload] = token.split('.');
          return `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'at+jwt' })).toString('base64url')}.${payload}.`;
        }
        case 'foreign_key': {
          // Signed by a key the issuer never published, claiming the published key's kid.
          const foreign = await generateSigningKey(algorithm);
          return mint(mintOptions, { ...foreign, kid: currentKey().kid });
        }
        case 'embedded_jwk': {
          // Signed by an attacker key carried in the token's own `jwk` header (RFC 7515 §4.1.3).
          const attacker = await generateSigningKey(algorithm);
          return mint({ ...mintOptions, header: { kid: attacker.kid, jwk: attacker.publicJwk, ...mintOptions.header } }, attacker);
        }
      }
    },
    createOpaqueToken: (credential = {}) => store('at_', { sub: 'user-1', clientId: 'test-client', ...credential }, 'access_token'),
    createApiKey: (credential = {}) => store('ghk_', { sub: 'user-1', ...credential }, 'api_key'),
    revoke: (credential) => {
      credentials.delete(credential);
    },
    async rotateKeys(rotateOptions = {}) {
      const next = await generateSigningKey(algorithm);
      keys = rotateOptions.keepPrevious === false ? [next] : [next, ...keys];
      return next.kid;
    },
    fail: (endpoint, fault) => {
      if (fault === undefined) faults.delete(endpoint);
      else faults.set(endpoint, fault);
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error === undefined ? resolve() : reject(error)));
        server.closeAllConnections();
      }),
  };
  return testIssuer;
}

function json(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  response.end(JSON.stringify(body));
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
