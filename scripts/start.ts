// `npm start`: the Gatehouse server on http://localhost:8000 with the scenarios' demo data (on
// embedded SQLite in ./data/), the example items API with Swagger UI on http://localhost:8001, and
// the example web app (sign-in with Gatehouse) on http://localhost:8002.
// Each service runs as its own process, as in production. Data goes to ./data of the directory it
// runs in (npm runs it in the repository root).
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadConfig, migrate, openStorage } from '@gatehouse/server';
import { DEVELOPMENT_KEY_FILE, keyProviderFromConfig } from '@gatehouse/server/internal/secret-key/key-provider';
import { DEMO, ensureCorpDemo, ensureDemoData, ensureItemsApiClient, ensureMcpDemo, ensureWebAppClient } from './demo-data.ts';

const root = fileURLToPath(new URL('../', import.meta.url));
const dataDir = `${process.cwd()}/data`;
const env = {
  GATEHOUSE_DATABASE_URL: 'sqlite:./data/gatehouse.db',
  GATEHOUSE_PUBLIC_URL: DEMO.serverUrl,
  GATEHOUSE_PORT: new URL(DEMO.serverUrl).port || '8000',
  GATEHOUSE_DEFAULT_API: DEMO.apiUrl,
  // The demo lets visitors create an account (off by default): the account pages show it.
  GATEHOUSE_REGISTRATION: 'true',
  // ... and gives them the demo's `user` role, so their first sign-in reaches the items API.
  GATEHOUSE_REGISTRATION_ROLES: 'user',
  // The server's output reaches this terminal through a pipe: readable lines when this is a terminal.
  ...(process.stdout.isTTY ? { GATEHOUSE_LOG_FORMAT: 'pretty' } : {}),
  // MCP clients register themselves (RFC 7591) to reach the example MCP server (off by default).
  GATEHOUSE_DYNAMIC_CLIENT_REGISTRATION: 'true',
  ...process.env,
};

const { config } = loadConfig(env);
// The key that encrypts the secrets in the database: GATEHOUSE_SECRET_KEY if set, else a
// development key kept in ./data/secret.key (the server started below uses the same one).
const keys = keyProviderFromConfig(config, { developmentKeyFile: DEVELOPMENT_KEY_FILE });
for (const warning of keys.warnings) process.stderr.write(`warning: ${warning}\n`);
const storage = openStorage(config.databaseUrl, { keys: keys.provider });
await migrate(storage.db);
const created = await ensureDemoData(storage.db);
await ensureMcpDemo(storage.db);
mkdirSync(dataDir, { recursive: true });
// The web app's client secret and cookie secret, kept in data/ (not in git) across restarts, for
// the database they were made for.
const webAppFile = `${dataDir}/demo-web-app.json`;
const savedWebApp = existsSync(webAppFile)
  ? (JSON.parse(readFileSync(webAppFile, 'utf8')) as { databaseUrl?: string; clientSecret?: string; cookieSecret?: string })
  : {};
const webApp = {
  databaseUrl: config.databaseUrl,
  clientId: DEMO.webAppClientId,
  clientSecret: await ensureWebAppClient(storage.db, savedWebApp.databaseUrl === config.databaseUrl ? savedWebApp.clientSecret : undefined),
  cookieSecret: savedWebApp.cookieSecret ?? randomBytes(32).toString('base64url'),
};
writeFileSync(webAppFile, `${JSON.stringify(webApp, null, 2)}\n`, { mode: 0o600 });
// The items API's introspection client (API keys), kept the same way.
const itemsApiFile = `${dataDir}/demo-items-api.json`;
const savedItemsApi = existsSync(itemsApiFile)
  ? (JSON.parse(readFileSync(itemsApiFile, 'utf8')) as { databaseUrl?: string; clientSecret?: string })
  : {};
const itemsApi = {
  databaseUrl: config.databaseUrl,
  clientId: DEMO.itemsApiClientId,
  clientSecret: await ensureItemsApiClient(storage.db, savedItemsApi.databaseUrl === config.databaseUrl ? savedItemsApi.clientSecret : undefined),
};
writeFileSync(itemsApiFile, `${JSON.stringify(itemsApi, null, 2)}\n`, { mode: 0o600 });
// "Corp SSO": a second Gatehouse on its own database, the upstream provider of the login page's
// "Sign in with Corp SSO" (ADR 0017).
const { GATEHOUSE_DEFAULT_API: _api, GATEHOUSE_REGISTRATION_ROLES: _roles, GATEHOUSE_LOG_FORMAT: _format, ...inherited } = env;
const corpEnv: Record<string, string | undefined> = {
  ...inherited,
  GATEHOUSE_DATABASE_URL: 'sqlite:./data/corp.db',
  GATEHOUSE_PUBLIC_URL: DEMO.corpUrl,
  GATEHOUSE_PORT: new URL(DEMO.corpUrl).port || '8004',
  GATEHOUSE_HOST: new URL(DEMO.corpUrl).hostname,
  GATEHOUSE_BRAND_NAME: 'Corp SSO',
  GATEHOUSE_REGISTRATION: 'false',
  GATEHOUSE_DYNAMIC_CLIENT_REGISTRATION: 'false',
  // Its log is the quieter one: warnings only.
  GATEHOUSE_LOG_LEVEL: 'warn',
};
const corpStorage = openStorage(corpEnv.GATEHOUSE_DATABASE_URL!, { keys: keys.provider });
await migrate(corpStorage.db);
await ensureCorpDemo(storage.db, corpStorage.db);
await corpStorage.close();
await storage.close();

if (created) {
  // Shown once, like any client secret; kept in data/ (not in git) for the README's curl session.
  writeFileSync(`${dataDir}/demo-service-client.json`, `${JSON.stringify(created, null, 2)}\n`, { mode: 0o600 });
}

function run(name: string, script: string, args: string[], extraEnv: Record<string, string | undefined> = {}, base: Record<string, string | undefined> = env): ChildProcess {
  const child = spawn(process.execPath, [`${root}${script}`, ...args], { env: { ...base, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
  const prefix = (chunk: Buffer) => chunk.toString().split('\n').filter(Boolean).map((line) => `[${name}] ${line}\n`).join('');
  child.stdout!.on('data', (chunk: Buffer) => process.stdout.write(prefix(chunk)));
  child.stderr!.on('data', (chunk: Buffer) => process.stderr.write(prefix(chunk)));
  child.on('exit', (code, signal) => {
    if (!stopping) {
      process.stderr.write(`[${name}] exited (${signal ?? code}); stopping.\n`);
      stop();
    }
  });
  return child;
}

const children = [run('gatehouse', 'packages/server/bin/gatehouse.js', ['serve'])];
let stopping = false;
// The API reads the server's discovery document at boot (examples/items-api/src/main.ts waits for it).
children.push(
  run('items-api', 'examples/items-api/src/main.ts', [], {
    ITEMS_API_ISSUER: DEMO.serverUrl,
    ITEMS_API_PUBLIC_URL: DEMO.apiUrl,
    ITEMS_API_CLIENT_ID: itemsApi.clientId,
    ITEMS_API_CLIENT_SECRET: itemsApi.clientSecret,
    // The demo asks the server about an API key on every request, so a revoked key is refused at
    // once in the README's session (the default, 30 s, saves the round trip in production).
    ITEMS_API_INTROSPECTION_CACHE_TTL: '0',
    // Revocation as it happens: the API keeps a Shared Signals stream at the server (ADR 0016).
    ITEMS_API_SIGNALS: 'poll',
  }),
);
children.push(
  run('web-app', 'examples/web-app/src/main.ts', [], {
    WEB_APP_ISSUER: DEMO.serverUrl,
    WEB_APP_PUBLIC_URL: DEMO.webAppUrl,
    WEB_APP_API: DEMO.apiUrl,
    WEB_APP_CLIENT_ID: webApp.clientId,
    WEB_APP_CLIENT_SECRET: webApp.clientSecret,
    WEB_APP_SECRET: webApp.cookieSecret,
  }),
);
children.push(run('mcp-server', 'examples/mcp-server/src/main.ts', [], { MCP_SERVER_ISSUER: DEMO.serverUrl, MCP_SERVER_PUBLIC_URL: DEMO.mcpServerUrl }));
children.push(run('corp-sso', 'packages/server/bin/gatehouse.js', ['serve'], {}, corpEnv));
function stop(): void {
  stopping = true;
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);

process.stdout.write(`
Gatehouse is starting:
  server     ${DEMO.serverUrl}   (discovery: ${DEMO.serverUrl}/.well-known/openid-configuration)
  items API  ${DEMO.apiUrl}   (Swagger UI: ${DEMO.apiUrl}/docs, click Authorize; API keys: X-API-Key)
  web app    ${DEMO.webAppUrl}   (server-rendered, signs in with Gatehouse)
  MCP server ${DEMO.mcpEndpoint}   (connect an MCP client: it registers itself and sends you to the login page)
  console    ${DEMO.serverUrl}/admin   (the admin console: sign in as ${DEMO.adminUsername} / ${DEMO.adminPassword})
  corp SSO   ${DEMO.corpUrl}   (another identity provider: "Sign in with Corp SSO" on the login page, as ${DEMO.corpUser.username} / ${DEMO.corpUser.password})
  account    ${DEMO.serverUrl}/account   (password, two-factor; sign-up at ${DEMO.serverUrl}/register, emails go to this log)
  data       ./data/gatehouse.db (SQLite)${keys.warnings.length > 0 ? `, its secrets encrypted with the development key ./${DEVELOPMENT_KEY_FILE}` : ''}
  logins     johndoe / secret    (alice / secret2 is disabled)
  service    client_id ${DEMO.serviceClientId}, secret in data/demo-service-client.json
On for the demo, off by default (development only):
  registration     ${env.GATEHOUSE_REGISTRATION === 'false' ? 'off' : 'on: anyone can create an account'} (GATEHOUSE_REGISTRATION)
  dynamic clients  ${env.GATEHOUSE_DYNAMIC_CLIENT_REGISTRATION === 'false' ? 'off' : 'on: MCP clients register themselves'} (GATEHOUSE_DYNAMIC_CLIENT_REGISTRATION)
  password grant   the ${DEMO.docsClientId} client (Swagger UI's password flow, RFC 9700 advises against it)
  settings         http issuer, email written to the log (see the server's warnings)
Press Ctrl+C to stop.

`);
