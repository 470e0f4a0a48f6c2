// The scenarios' demo data (shared/SCENARIOS.md), created on first start: the FastAPI tutorial's
// users (their bcrypt hashes imported as-is and upgraded to argon2id at first login), the items
// API and its scopes, a role, an administrator for the admin console, a public `docs` client for Swagger UI and a confidential service client.
import type { Db } from '@gatehouse/server';
import * as apis from '@gatehouse/server/internal/storage/apis';
import * as clients from '@gatehouse/server/internal/storage/clients';
import { hashPassword } from '@gatehouse/server/internal/passwords/hash';
import { withPasswordHashes } from '@gatehouse/server/internal/passwords/user-passwords';
import * as roles from '@gatehouse/server/internal/storage/roles';
import * as users from '@gatehouse/server/internal/storage/users';
import { ensureAdminApi } from '@gatehouse/server/internal/admin/bootstrap';
import * as upstream from '@gatehouse/server/internal/storage/upstream';

// The demo's URLs: the README's, unless the environment moves them (the test that runs the
// README starts the demo on free ports: scripts/readme.test.ts).
const env = process.env;
export const DEMO = {
  serverUrl: env.GATEHOUSE_PUBLIC_URL ?? 'http://localhost:8000',
  apiUrl: env.ITEMS_API_PUBLIC_URL ?? 'http://localhost:8001',
  docsClientId: 'docs',
  serviceClientId: 'items-service',
  /** The items API's own client: it introspects API keys (X-API-Key on /accounts/{username}). */
  itemsApiClientId: 'items-api',
  webAppUrl: env.WEB_APP_PUBLIC_URL ?? 'http://localhost:8002',
  webAppClientId: 'web-app',
  /** The web app's back-channel logout endpoint (@gatehouse/sdk/webapp's default path). */
  webAppBackchannelLogoutUri: `${env.WEB_APP_PUBLIC_URL ?? 'http://localhost:8002'}/auth/backchannel-logout`,
  mcpServerUrl: env.MCP_SERVER_PUBLIC_URL ?? 'http://localhost:8003',
  // A second Gatehouse, "Corp SSO", as the upstream identity provider users may sign in with
  // (ADR 0017). On 127.0.0.1, not localhost: another host, so the two servers' cookies stay apart.
  corpUrl: env.DEMO_CORP_URL ?? 'http://127.0.0.1:8004',
  corpProviderId: 'corp',
  corpUser: { username: 'jane', email: 'jane@corp.example', password: 'corp-passphrase' },
  mcpEndpoint: `${env.MCP_SERVER_PUBLIC_URL ?? 'http://localhost:8003'}/mcp`,
  // The admin console's first administrator (role gatehouse-admin, made by migration 006).
  adminUsername: 'admin',
  adminPassword: 'gatehouse-demo-admin',
} as const;

// johndoe's bcrypt hash from FastAPI's "OAuth2 with scopes" tutorial (password "secret"),
// imported as-is: it becomes argon2id at his first login. The tutorials' passwords are shorter
// than the policy allows for new passwords, which is why these users are imported, not created.
const JOHNDOE_BCRYPT = '$2b$12$EixZaYVK1fsbw1ZfbX3OXePaWxn96p36WQoeG6Lruj3vjPGga31lW';

export interface DemoCredentials {
  readonly serviceClientId: string;
  readonly serviceClientSecret: string;
}

/** Creates the demo data unless it exists; returns the service client's secret when created now. */
export async function ensureDemoData(db: Db): Promise<DemoCredentials | undefined> {
  if (await apis.findApi(db, DEMO.apiUrl)) return undefined;
  await apis.createApi(db, {
    identifier: DEMO.apiUrl,
    name: 'Items API',
    scopes: [
      { name: 'me', description: 'Read information about the current user.' },
      { name: 'items', description: 'Read items.' },
      { name: 'accounts:read', description: 'Read any account.' },
    ],
  });
  await roles.createRole(db, { name: 'user', scopes: 'me items', description: 'Regular users: their profile and items.' });
  await roles.createRole(db, { name: 'support', scopes: 'me items accounts:read', description: 'Support staff: any account.' });
  await users.importUsers(
    db,
    await withPasswordHashes([
      { username: 'johndoe', email: 'johndoe@example.com', passwordHash: JOHNDOE_BCRYPT, roles: ['user'], emailVerified: true },
      // The first tutorial's alice / "secret2" (shorter than the policy allows now), disabled ("Inactive user").
      { username: 'alice', email: 'alice@example.com', passwordHash: await hashPassword('secret2'), roles: ['user'], disabled: true },
      { username: DEMO.adminUsername, email: 'admin@example.com', passwordHash: await hashPassword(DEMO.adminPassword), roles: ['gatehouse-admin'], emailVerified: true },
    ]),
  );
  await clients.createClient(db, {
    clientId: DEMO.docsClientId,
    name: 'Items API docs (Swagger UI)',
    public: true,
    // Authorization code + PKCE for the Authorize button; the password flow for local development only.
    grantTypes: 'authorization_code refresh_token password',
    // Where @fastify/swagger-ui serves its OAuth redirect page (docsRedirectUrl in @gatehouse/sdk/fastify).
    redirectUris: [`${DEMO.apiUrl}/docs/static/oauth2-redirect.html`],
    corsOrigins: [DEMO.apiUrl],
    scopes: 'me items accounts:read',
    apis: [DEMO.apiUrl],
    // The API's own docs page: part of the application, no consent page.
    firstParty: true,
  });
  const service = await clients.createClient(db, {
    clientId: DEMO.serviceClientId,
    name: 'Items service',
    grantTypes: 'client_credentials',
    scopes: 'accounts:read',
    apis: [DEMO.apiUrl],
  });
  return { serviceClientId: DEMO.serviceClientId, serviceClientSecret: service.clientSecret! };
}

/**
 * The notes web app's confidential client (examples/web-app: authorization code + refresh tokens,
 * RP-initiated logout back to its home page, back-channel logout to its endpoint). Created when
 * missing; when it exists but its secret was not kept (`knownSecret` undefined), the secret is
 * re-issued. Returns the secret to use.
 */
export async function ensureWebAppClient(db: Db, knownSecret: string | undefined): Promise<string> {
  const existing = await clients.findClient(db, DEMO.webAppClientId);
  if (existing) {
    // Demo databases made before back-channel logout get the web app's endpoint.
    if (existing.backchannelLogoutUri === null) await clients.updateClient(db, DEMO.webAppClientId, { backchannelLogoutUri: DEMO.webAppBackchannelLogoutUri });
    return knownSecret ?? (await clients.rotateClientSecret(db, DEMO.webAppClientId)).clientSecret;
  }
  const created = await clients.createClient(db, {
    clientId: DEMO.webAppClientId,
    name: 'Notes (example web app)',
    grantTypes: 'authorization_code refresh_token',
    redirectUris: [`${DEMO.webAppUrl}/auth/callback`],
    postLogoutRedirectUris: [`${DEMO.webAppUrl}/`],
    // Gatehouse POSTs a logout token here when the visitor's Gatehouse session ends.
    backchannelLogoutUri: DEMO.webAppBackchannelLogoutUri,
    scopes: 'me items',
    apis: [DEMO.apiUrl],
    firstParty: true,
  });
  return created.clientSecret!;
}

/**
 * The example MCP server (examples/mcp-server) as an API open to dynamically registered clients,
 * and johndoe allowed to read and write notes (not notes:admin): an MCP client that registers
 * itself gets tokens for it once he signs in. Added to demo databases made before it existed.
 */
export async function ensureMcpDemo(db: Db): Promise<void> {
  if (await apis.findApi(db, DEMO.mcpEndpoint)) return;
  await apis.createApi(db, {
    identifier: DEMO.mcpEndpoint,
    name: 'Notes (example MCP server)',
    scopes: [
      { name: 'notes:read', description: 'Read your notes' },
      { name: 'notes:write', description: 'Add notes' },
      { name: 'notes:admin', description: 'Delete every note' },
    ],
    openToDynamicClients: true,
  });
  await roles.createRole(db, { name: 'note-taker', scopes: 'notes:read notes:write', description: 'Users of the example MCP server.' });
  await roles.createRole(db, { name: 'note-admin', scopes: 'notes:admin', description: 'May clear every note of the example MCP server.' });
  const johndoe = await users.findUser(db, 'johndoe');
  if (johndoe) await users.updateUser(db, johndoe.id, { roles: [...johndoe.roles, 'note-taker'] });
}

/**
 * The items API's confidential client, which it introspects API keys with and receives security
 * events as (a Shared Signals stream: the admin API's `admin:streams:write`, nothing else).
 * Created when missing; its secret re-issued when not kept, like the web app's.
 */
export async function ensureItemsApiClient(db: Db, knownSecret: string | undefined): Promise<string> {
  const adminApi = await ensureAdminApi(db, DEMO.serverUrl);
  const reach = { apis: [adminApi.identifier], scopes: ['admin:streams:write'] };
  if (await clients.findClient(db, DEMO.itemsApiClientId)) {
    // Demo data from before the API received events: give it the stream scope.
    await clients.updateClient(db, DEMO.itemsApiClientId, reach);
    return knownSecret ?? (await clients.rotateClientSecret(db, DEMO.itemsApiClientId)).clientSecret;
  }
  const created = await clients.createClient(db, {
    clientId: DEMO.itemsApiClientId,
    name: 'Items API (introspection, security events)',
    grantTypes: 'client_credentials',
    ...reach,
  });
  return created.clientSecret!;
}

/**
 * The demo's upstream provider: on the second server's database, its client for this server and
 * its user jane; on this server's, the provider `corp`. The client secret is new at each start
 * (shown nowhere), and the provider here is given it.
 */
export async function ensureCorpDemo(db: Db, corpDb: Db): Promise<void> {
  const clientId = 'gatehouse-demo';
  const redirectUri = `${DEMO.serverUrl}/upstream/${DEMO.corpProviderId}/callback`;
  const secret = (await clients.findClient(corpDb, clientId))
    ? (await clients.updateClient(corpDb, clientId, { redirectUris: [redirectUri] }), (await clients.rotateClientSecret(corpDb, clientId)).clientSecret)
    : (await clients.createClient(corpDb, { clientId, name: 'Gatehouse demo', grantTypes: ['authorization_code'], redirectUris: [redirectUri], firstParty: true })).clientSecret!;
  if (!(await users.findUser(corpDb, DEMO.corpUser.username))) {
    const [jane] = await withPasswordHashes([{ username: DEMO.corpUser.username, email: DEMO.corpUser.email, emailVerified: true, password: DEMO.corpUser.password }]);
    await users.createUser(corpDb, jane!);
  }
  if (await upstream.findUpstreamProvider(db, DEMO.corpProviderId)) {
    await upstream.setUpstreamClientSecret(db, DEMO.corpProviderId, secret);
  } else {
    await upstream.createUpstreamProvider(db, { id: DEMO.corpProviderId, name: 'Corp SSO', kind: 'oidc', issuer: DEMO.corpUrl, clientId, clientSecret: secret, roles: ['user'] });
  }
}
