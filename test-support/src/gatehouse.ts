// Starting Gatehouse for tests: in this process (fast, with direct storage access) or as a
// separate process through the CLI, exactly as an operator runs it.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { buildServer, loadConfig, type BuildOptions, type Db, type GatehouseServer } from '@gatehouse/server';
import * as apis from '@gatehouse/server/internal/storage/apis';
import * as clients from '@gatehouse/server/internal/storage/clients';
import * as roles from '@gatehouse/server/internal/storage/roles';
import { withPasswordHash } from '@gatehouse/server/internal/passwords/user-passwords';
import * as users from '@gatehouse/server/internal/storage/users';
import { decodeSecretKey, Keyring } from '@gatehouse/server/internal/keyring';
import { tempDir } from './files.ts';
import { withFreePort } from './ports.ts';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const GATEHOUSE_BIN = join(REPO_ROOT, 'packages/server/bin/gatehouse.js');

export type Env = Record<string, string | undefined>;

/**
 * The secret key (GATEHOUSE_SECRET_KEY) of a test database: derived from its URL, which is unique
 * to the test (a temp file, a random PostgreSQL database), so every process a test starts on one
 * database (servers, the CLI) shares it without passing it around, and no test writes the
 * development key file in the working directory.
 */
export function testSecretKey(databaseUrl: string | undefined): string {
  return createHash('sha256').update(`gatehouse test secret key\n${databaseUrl ?? ''}`).digest('base64url');
}

/** The keyring for `openStorage(url, { keys })` in tests that read or write secrets. */
export function testKeys(databaseUrl: string): Keyring {
  return new Keyring(decodeSecretKey(testSecretKey(databaseUrl)));
}

/** The env with the test database's secret key, unless the test chose a key (or none: ''). */
function withTestKey(env: Env): Env {
  if ('GATEHOUSE_SECRET_KEY' in env || 'GATEHOUSE_SECRET_KEY_FILE' in env) return env;
  return { GATEHOUSE_SECRET_KEY: testSecretKey(env.GATEHOUSE_DATABASE_URL), ...env };
}

export interface InProcessServer {
  readonly issuer: string;
  readonly server: GatehouseServer;
  readonly db: Db;
  readonly databaseUrl: string;
  close(): Promise<void>;
}

export type InProcessOptions = Omit<BuildOptions, 'config'> & {
  /**
   * The public URL's host (127.0.0.1 by default). `localhost` for passkeys: browsers refuse an IP
   * address as a WebAuthn RP ID, and the RP ID is the public URL's hostname.
   */
  readonly publicHost?: string;
};

/** A server in this process on a free port, with its own SQLite file (or the given database). */
export async function startInProcess(t: Pick<TestContext, 'after'>, env: Env = {}, { publicHost = '127.0.0.1', ...options }: InProcessOptions = {}): Promise<InProcessServer> {
  const databaseUrl = env.GATEHOUSE_DATABASE_URL ?? `sqlite:${join(tempDir(t), 'gatehouse.db')}`;
  const { port, server } = await withFreePort(async (port) => {
    const { config } = loadConfig(
      withTestKey({
        GATEHOUSE_PUBLIC_URL: `http://${publicHost}:${port}`,
        GATEHOUSE_PORT: String(port),
        GATEHOUSE_HOST: '127.0.0.1',
        GATEHOUSE_LOG_LEVEL: process.env.GATEHOUSE_TEST_LOG_LEVEL ?? 'silent',
        ...env,
        GATEHOUSE_DATABASE_URL: databaseUrl,
      }),
    );
    const server = await buildServer({ ...options, config });
    try {
      await server.app.listen({ port, host: '127.0.0.1' });
    } catch (error) {
      await server.close();
      throw error;
    }
    return { port, server };
  });
  const issuer = `http://${publicHost}:${port}`;
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await server.close();
  };
  t.after(close);
  return { issuer, server, db: server.storage.db, databaseUrl, close };
}

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout parsed as JSON, when it is JSON. */
  readonly json: any;
}

/** Runs the `gatehouse` CLI as a separate process. */
export function cli(env: Env, args: string[], input?: string): CliResult {
  const result = spawnSync(process.execPath, [GATEHOUSE_BIN, ...args], {
    env: { ...process.env, GATEHOUSE_LOG_LEVEL: 'warn', ...withTestKey(env) },
    encoding: 'utf8',
    input,
  });
  let json: unknown;
  try {
    json = JSON.parse(result.stdout);
  } catch {
    json = undefined;
  }
  return { code: result.status ?? 1, stdout: result.stdout, stderr: result.stderr, json };
}

/**
 * The same, without blocking this process (for commands that call servers running in it). With
 * `timeoutMs`, a command still running then is killed and reported `timedOut` (a hang is a failure
 * to report, not a test that never ends).
 */
export async function cliAsync(env: Env, args: string[], options: { timeoutMs?: number } = {}): Promise<CliResult & { timedOut: boolean }> {
  const child = spawn(process.execPath, [GATEHOUSE_BIN, ...args], {
    env: { ...process.env, GATEHOUSE_LOG_LEVEL: 'warn', ...withTestKey(env) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let timedOut = false;
  child.stdout!.on('data', (chunk) => (stdout += chunk));
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  const timer =
    options.timeoutMs === undefined
      ? undefined
      : setTimeout(() => {
          timedOut = true;
          child.kill('SIGKILL');
        }, options.timeoutMs);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  let json: unknown;
  try {
    json = JSON.parse(stdout);
  } catch {
    json = undefined;
  }
  return { code: code ?? 1, stdout, stderr, json, timedOut };
}

export interface ServerProcess {
  readonly issuer: string;
  readonly port: number;
  readonly child: ChildProcess;
  /** Everything the process printed, for diagnosis and for checking that no secret was logged. */
  output(): string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** `gatehouse serve` as a separate process, resolved once it listens. */
export function startProcess(t: Pick<TestContext, 'after'>, env: Env, port?: number): Promise<ServerProcess> {
  // With a port of its own choosing, a port taken between the choice and the listen is chosen again.
  return port === undefined ? withFreePort((free) => launch(t, env, free)) : launch(t, env, port);
}

async function launch(t: Pick<TestContext, 'after'>, env: Env, listenPort: number): Promise<ServerProcess> {
  const issuer = `http://127.0.0.1:${listenPort}`;
  const child = spawn(process.execPath, [GATEHOUSE_BIN, 'serve'], {
    env: {
      ...process.env,
      GATEHOUSE_PUBLIC_URL: issuer,
      GATEHOUSE_PORT: String(listenPort),
      GATEHOUSE_HOST: '127.0.0.1',
      GATEHOUSE_LOG_LEVEL: 'info',
      ...withTestKey(env),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
    child.kill(signal);
    const [code] = (await once(child, 'exit')) as [number | null];
    return code;
  };
  t.after(() => stop('SIGKILL'));
  await new Promise<void>((resolve, reject) => {
    // A deadline, not a wait: generous, because a start on a loaded 2-core machine (a full test run
    // beside other CPU-heavy work) took longer than 30 s.
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${output}`)), 90_000);
    const check = () => {
      if (output.includes('Gatehouse is listening')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      const error: NodeJS.ErrnoException = new Error(`server exited with ${code}:\n${output}`);
      if (output.includes('EADDRINUSE')) error.code = 'EADDRINUSE';
      reject(error);
    });
  });
  return { issuer, port: listenPort, child, output: () => output, stop };
}

export const ITEMS_API = 'http://localhost:8001';

export interface DemoSeed {
  readonly service: { clientId: string; clientSecret: string };
  readonly passwordClient: { clientId: string; clientSecret: string };
  readonly webRedirectUri: string;
}

/**
 * The scenarios' data: an API with `me items accounts:read`, a role granting `me items`,
 * johndoe (with it) and disabled alice, a public first-party PKCE client, a confidential service
 * client and a confidential client allowed the password grant; all three are granted the API.
 */
export async function seedDemo(db: Db): Promise<DemoSeed> {
  await apis.createApi(db, {
    identifier: ITEMS_API,
    name: 'Items API',
    scopes: [
      { name: 'me', description: 'Read your profile' },
      { name: 'items', description: 'Read your items' },
      { name: 'accounts:read', description: 'Read any account' },
    ],
  });
  await roles.createRole(db, { name: 'user', scopes: 'me items' });
  await users.createUser(db, await withPasswordHash({ username: 'johndoe', email: 'johndoe@example.com', password: 'correct horse', roles: ['user'] }));
  await users.createUser(db, await withPasswordHash({ username: 'alice', email: 'alice@example.com', password: 'alice password', roles: ['user'], disabled: true }));
  const webRedirectUri = 'http://127.0.0.1:8999/callback';
  await clients.createClient(db, {
    clientId: 'web',
    name: 'Web app',
    public: true,
    grantTypes: 'authorization_code refresh_token',
    redirectUris: [webRedirectUri],
    postLogoutRedirectUris: ['http://127.0.0.1:8999/'],
    scopes: 'me items accounts:read',
    apis: [ITEMS_API],
    firstParty: true,
  });
  const service = await clients.createClient(db, { clientId: 'service', name: 'Service', grantTypes: 'client_credentials', scopes: 'accounts:read', apis: [ITEMS_API] });
  const password = await clients.createClient(db, {
    clientId: 'cli',
    name: 'CLI',
    grantTypes: 'password refresh_token',
    scopes: 'me items accounts:read',
    apis: [ITEMS_API],
  });
  return {
    service: { clientId: 'service', clientSecret: service.clientSecret! },
    passwordClient: { clientId: 'cli', clientSecret: password.clientSecret! },
    webRedirectUri,
  };
}

/** openid-client configuration for a client of a test server (http allowed on loopback). */
export async function discoverClient(
  issuer: string,
  clientId: string,
  clientSecret?: string,
): Promise<import('openid-client').Configuration> {
  const client = await import('openid-client');
  return client.discovery(
    new URL(issuer),
    clientId,
    undefined,
    clientSecret === undefined ? client.None() : client.ClientSecretBasic(clientSecret),
    { execute: [client.allowInsecureRequests] },
  );
}

/** POSTs a form to the token endpoint (for the requests a certified client refuses to send). */
export async function tokenRequest(
  issuer: string,
  form: Record<string, string>,
  auth?: { clientId: string; clientSecret: string },
): Promise<{ status: number; body: any; headers: Headers }> {
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
  if (auth) headers.authorization = `Basic ${Buffer.from(`${encodeURIComponent(auth.clientId)}:${encodeURIComponent(auth.clientSecret)}`).toString('base64')}`;
  const response = await fetch(`${issuer}/token`, { method: 'POST', headers, body: new URLSearchParams(form).toString() });
  return { status: response.status, body: await response.json(), headers: response.headers };
}
