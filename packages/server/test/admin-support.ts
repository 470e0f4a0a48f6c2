// Shared by the admin API tests: a real server, real admin principals (a machine client with
// client credentials, a user with an admin role through the password grant, API keys made through
// the admin API itself) and an HTTP helper that records every response, so tests can check that
// no secret hash ever left the server.
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import * as clients from '../src/storage/clients.ts';
import * as roles from '../src/storage/roles.ts';
import { withPasswordHash } from '../src/passwords/user-passwords.ts';
import * as users from '../src/storage/users.ts';
import { startInProcess, tokenRequest, type Env, type InProcessServer } from '@gatehouse/test-support/gatehouse';
import { ADMIN_SCOPES } from '../src/admin/scopes.ts';

export const ALL_ADMIN_SCOPES = Object.keys(ADMIN_SCOPES);

export interface Credential {
  readonly token?: string;
  readonly apiKey?: string;
}

export interface Answer {
  readonly status: number;
  readonly body: any;
  readonly text: string;
  readonly headers: Headers;
}

export interface AdminServer extends InProcessServer {
  /** The admin API's identifier (the `resource` of admin tokens). */
  readonly adminApi: string;
  /** Every response body the tests received, to search for leaks. */
  readonly seen: string[];
  call(method: string, path: string, credential?: Credential, body?: unknown): Promise<Answer>;
  /** A confidential client with client_credentials, allowed the given scopes at the given APIs (the admin API by default). */
  machine(clientId: string, scopes: readonly string[], apis?: readonly string[]): Promise<{ clientId: string; clientSecret: string }>;
  /** An access token for the admin API (client credentials), with exactly these scopes. */
  clientToken(client: { clientId: string; clientSecret: string }, scopes: readonly string[]): Promise<string>;
}

export async function startAdmin(t: Pick<TestContext, 'after'>, env: Env = {}, options: Parameters<typeof startInProcess>[2] = {}): Promise<AdminServer> {
  const gh = await startInProcess(t, env, options);
  const adminApi = `${gh.issuer}/admin/api`;
  const seen: string[] = [];

  async function call(method: string, path: string, credential: Credential = {}, body?: unknown): Promise<Answer> {
    const headers: Record<string, string> = {};
    if (credential.token !== undefined) headers.authorization = `Bearer ${credential.token}`;
    if (credential.apiKey !== undefined) headers['x-api-key'] = credential.apiKey;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(`${gh.issuer}${path}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    const text = await response.text();
    seen.push(text);
    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    return { status: response.status, body: parsed, text, headers: response.headers };
  }

  async function machine(clientId: string, scopes: readonly string[], apis: readonly string[] = [adminApi]) {
    const created = await clients.createClient(gh.db, { clientId, name: clientId, grantTypes: 'client_credentials', scopes: [...scopes], apis: [...apis] });
    return { clientId, clientSecret: created.clientSecret! };
  }

  async function clientToken(client: { clientId: string; clientSecret: string }, scopes: readonly string[]) {
    const answer = await tokenRequest(gh.issuer, { grant_type: 'client_credentials', resource: adminApi, scope: scopes.join(' ') }, client);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.deepEqual(String(answer.body.scope ?? '').split(' ').filter(Boolean).sort(), [...scopes].sort());
    return answer.body.access_token as string;
  }

  return { ...gh, adminApi, seen, call, machine, clientToken };
}

/**
 * A person with an admin role, and a confidential client allowed the password grant for the admin
 * API: their user token comes from the password grant (RFC 6749 §4.3).
 */
export async function adminUser(
  server: AdminServer,
  options: { username: string; password: string; role: string; scopes: readonly string[]; clientId?: string },
): Promise<{ id: string; token: string }> {
  await roles.createRole(server.db, { name: options.role, scopes: [...options.scopes] });
  const user = await users.createUser(server.db, await withPasswordHash({ username: options.username, password: options.password, roles: [options.role] }));
  const clientId = options.clientId ?? `${options.username}-console`;
  const client = await clients.createClient(server.db, { clientId, name: clientId, grantTypes: 'password', scopes: ALL_ADMIN_SCOPES, apis: [server.adminApi] });
  const answer = await tokenRequest(
    server.issuer,
    { grant_type: 'password', username: options.username, password: options.password, resource: server.adminApi, scope: options.scopes.join(' ') },
    { clientId, clientSecret: client.clientSecret! },
  );
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return { id: user.id, token: answer.body.access_token };
}

/** The shapes a leaked secret would take in a response. */
export const LEAK_PATTERNS = [/\$argon2id\$/, /\$2[aby]\$/, /sha256:/, /password_hash/i, /secret_hash/i, /private_jwk/i, /"d"\s*:/];

export function assertNoLeaks(server: AdminServer): void {
  for (const text of server.seen) {
    for (const pattern of LEAK_PATTERNS) assert.doesNotMatch(text, pattern, `a response matched ${pattern}: ${text.slice(0, 300)}`);
  }
}
