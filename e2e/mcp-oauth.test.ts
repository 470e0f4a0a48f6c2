// The official MCP TypeScript client (@modelcontextprotocol/sdk, its OAuth client provider)
// connects with no prior configuration to the example MCP server (examples/mcp-server, the
// official SDK's server protected by @gatehouse/sdk) through a real Gatehouse server: it reads the
// RFC 9728 metadata the 401 points to, discovers Gatehouse (RFC 8414), registers itself (RFC 7591)
// or names its Client ID Metadata Document,
// sends a user through the real login and consent pages (authorization code + PKCE S256 with an
// RFC 8707 resource), lists and calls tools, is refused a tool whose scope it lacks with a 403
// naming that scope, steps up, and refreshes. Nothing here is Gatehouse's client code.
import assert from 'node:assert/strict';
import { request as httpRequest, type Server } from 'node:http';
import { test, type TestContext } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { UnauthorizedError, type OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { OAuthClientInformationMixed, OAuthClientMetadata, OAuthTokens } from '@modelcontextprotocol/sdk/shared/auth.js';
import { buildMcpServer, listen, mcpEndpoint, SCOPES } from '@gatehouse/example-mcp-server/app';
import * as apis from '@gatehouse/server/internal/storage/apis';
import * as clients from '@gatehouse/server/internal/storage/clients';
import * as roles from '@gatehouse/server/internal/storage/roles';
import * as users from '@gatehouse/server/internal/storage/users';
import { withPasswordHash } from '@gatehouse/server/internal/passwords/user-passwords';
import { createBrowser, loginThroughForm } from '@gatehouse/test-support/browser';
import { startInProcess } from '@gatehouse/test-support/gatehouse';
import { startHttpsServer, trustInThisProcess } from '@gatehouse/test-support/https-server';
import { freePort } from '@gatehouse/test-support/ports';

const USER = { username: 'ada', password: 'analytical engine 1843' };
const REDIRECT_URI = 'http://127.0.0.1:33418/callback';

/** An MCP client's OAuth state, kept in memory as the SDK's examples keep it. */
class MemoryProvider implements OAuthClientProvider {
  client: OAuthClientInformationMixed | undefined;
  saved: OAuthTokens | undefined;
  verifier = '';
  /** Every authorization URL the SDK sent the user to. */
  readonly authorizations: URL[] = [];
  get redirectUrl(): string {
    return REDIRECT_URI;
  }
  get clientMetadata(): OAuthClientMetadata {
    return {
      client_name: 'MCP SDK test client',
      redirect_uris: [REDIRECT_URI],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }
  clientInformation(): OAuthClientInformationMixed | undefined {
    return this.client;
  }
  saveClientInformation(info: OAuthClientInformationMixed): void {
    this.client = info;
  }
  tokens(): OAuthTokens | undefined {
    return this.saved;
  }
  saveTokens(tokens: OAuthTokens): void {
    this.saved = tokens;
  }
  redirectToAuthorization(url: URL): void {
    this.authorizations.push(url);
  }
  saveCodeVerifier(verifier: string): void {
    this.verifier = verifier;
  }
  codeVerifier(): string {
    return this.verifier;
  }
}

interface Setup {
  readonly endpoint: string;
  readonly issuer: string;
  readonly db: Awaited<ReturnType<typeof startInProcess>>['db'];
  /** The WWW-Authenticate of every 401/403 the MCP server answered the client. */
  readonly challenges: { status: number; header: string }[];
  readonly fetchFn: typeof fetch;
}

async function setup(t: TestContext, env: Record<string, string> = { GATEHOUSE_DYNAMIC_CLIENT_REGISTRATION: 'true' }): Promise<Setup> {
  const gatehouse = await startInProcess(t, env);
  const port = await freePort();
  const publicUrl = `http://127.0.0.1:${port}`;
  const endpoint = mcpEndpoint(publicUrl);
  // The operator's part: the MCP server as an API open to dynamically registered clients, and a
  // user whose role grants reading and writing notes (not notes:admin).
  await apis.createApi(gatehouse.db, {
    identifier: endpoint,
    name: 'Notes MCP server',
    scopes: Object.entries(SCOPES).map(([name, description]) => ({ name, description })),
    openToDynamicClients: true,
  });
  await roles.createRole(gatehouse.db, { name: 'note-taker', scopes: 'notes:read notes:write' });
  await roles.createRole(gatehouse.db, { name: 'note-admin', scopes: 'notes:admin' });
  await users.createUser(gatehouse.db, await withPasswordHash({ ...USER, email: 'ada@example.com', roles: ['note-taker'] }));

  const app = await buildMcpServer({ issuer: gatehouse.issuer, publicUrl });
  const server: Server = await listen(app, port, '127.0.0.1');
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const challenges: Setup['challenges'] = [];
  const fetchFn: typeof fetch = async (input, init) => {
    const response = await fetch(input, init);
    const url = String(input instanceof Request ? input.url : input);
    if (url === endpoint && (response.status === 401 || response.status === 403)) {
      challenges.push({ status: response.status, header: response.headers.get('www-authenticate') ?? '' });
    }
    return response;
  };
  return { endpoint, issuer: gatehouse.issuer, db: gatehouse.db, challenges, fetchFn };
}

/** Connects the official client; when it asks for a login, the user signs in through the real pages. */
async function connect(setup: Setup, provider: MemoryProvider, browser = createBrowser()): Promise<Client> {
  const open = async () => {
    const client = new Client({ name: 'gatehouse-e2e', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(setup.endpoint), { authProvider: provider, fetch: setup.fetchFn }));
    return client;
  };
  try {
    return await open();
  } catch (error) {
    if (!(error instanceof UnauthorizedError)) throw error;
  }
  const authorization = provider.authorizations.at(-1)!;
  const { callback } = await loginThroughForm(browser, authorization, USER, REDIRECT_URI);
  const code = callback.searchParams.get('code');
  assert.ok(code, `the login ended with a code: ${callback.href}`);
  // RFC 9207: Gatehouse names itself in the authorization response.
  assert.equal(callback.searchParams.get('iss'), setup.issuer);
  const transport = new StreamableHTTPClientTransport(new URL(setup.endpoint), { authProvider: provider, fetch: setup.fetchFn });
  await transport.finishAuth(code);
  const client = new Client({ name: 'gatehouse-e2e', version: '1.0.0' });
  await client.connect(transport);
  return client;
}

const text = (result: Awaited<ReturnType<Client['callTool']>>): string => (result.content as { type: string; text: string }[])[0]!.text;

test('the official MCP client registers, logs a user in, calls tools, is refused a scope it lacks, steps up and refreshes', async (t) => {
  const s = await setup(t);
  const provider = new MemoryProvider();
  const client = await connect(s, provider);

  // The first answer was a 401 pointing to the RFC 9728 metadata of this very endpoint.
  const metadataUrl = `${new URL(s.endpoint).origin}/.well-known/oauth-protected-resource/mcp`;
  assert.match(s.challenges[0]!.header, new RegExp(`^Bearer realm="[^"]+", resource_metadata="${metadataUrl}"$`));
  // It registered through RFC 7591 and authorized with PKCE S256 for exactly this resource.
  assert.ok(provider.client?.client_id, 'registered dynamically');
  const authorization = provider.authorizations[0]!;
  assert.equal(authorization.searchParams.get('code_challenge_method'), 'S256');
  assert.equal(authorization.searchParams.get('resource'), s.endpoint);
  assert.equal(authorization.searchParams.get('client_id'), provider.client!.client_id);
  // The token is bound to the MCP server and carries the scopes the user's role grants.
  const claims = JSON.parse(Buffer.from(provider.saved!.access_token.split('.')[1]!, 'base64url').toString()) as { aud: string; scope: string };
  assert.equal(claims.aud, s.endpoint);
  assert.deepEqual(claims.scope.split(' ').sort(), ['notes:read', 'notes:write']);
  assert.ok(provider.saved!.refresh_token, 'a refresh token without offline_access');

  const tools = await client.listTools();
  assert.deepEqual(tools.tools.map((tool) => tool.name).sort(), ['add_note', 'clear_notes', 'list_notes', 'whoami']);
  assert.equal(text(await client.callTool({ name: 'add_note', arguments: { text: 'first' } })), 'saved (1 notes)');
  assert.deepEqual(JSON.parse(text(await client.callTool({ name: 'list_notes', arguments: {} }))), ['first']);

  // A tool needing a scope the token lacks: 403 insufficient_scope naming it. The SDK tries to step
  // up by refreshing (it holds a refresh token), gets the same 403, and gives up.
  await assert.rejects(client.callTool({ name: 'clear_notes', arguments: {} }), /403/);
  const refused = s.challenges.filter((c) => c.status === 403);
  assert.ok(refused.length >= 1);
  assert.match(refused[0]!.header, /error="insufficient_scope"/);
  assert.match(refused[0]!.header, /scope="notes:admin"/);
  assert.match(refused[0]!.header, new RegExp(`resource_metadata="${metadataUrl}"`));

  // Refresh: an access token that no longer verifies is a 401 invalid_token; the SDK refreshes
  // with its refresh token (and the resource) and carries on without the user.
  const before = provider.saved!;
  provider.saved = { ...before, access_token: `${before.access_token.slice(0, -4)}AAAA` };
  assert.equal(text(await client.callTool({ name: 'add_note', arguments: { text: 'second' } })), 'saved (2 notes)');
  assert.notEqual(provider.saved!.access_token, before.access_token);
  assert.notEqual(provider.saved!.refresh_token, before.refresh_token, 'the refresh token was rotated');
  assert.equal(provider.authorizations.length, 1, 'no new login for a refresh');
  await client.close();

  // Step-up, as an MCP client does it against Gatehouse: once the user holds the scope, forget the
  // tokens (keep the registration) and authorize again; the new token has the scope.
  await users.updateUser(s.db, USER.username, { roles: ['note-taker', 'note-admin'] });
  provider.saved = undefined;
  const stepped = await connect(s, provider);
  assert.equal(provider.authorizations.length, 2);
  assert.equal(text(await stepped.callTool({ name: 'clear_notes', arguments: {} })), 'cleared');
  await stepped.close();
});

test('with client metadata documents on, the official MCP client uses its clientMetadataUrl instead of registering', async (t) => {
  // The client's document, on https (the SDK refuses an http clientMetadataUrl) on this machine:
  // Gatehouse's development allowance fetches it; a test certificate is trusted.
  let documentUrl = '';
  const documents = await startHttpsServer(t, (request, response) => {
    if (request.url !== '/mcp-client.json') return void response.writeHead(404).end();
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ client_id: documentUrl, ...new MemoryProvider().clientMetadata }));
  });
  documentUrl = `${documents.origin}/mcp-client.json`;
  trustInThisProcess(t, documents.certificate);
  const s = await setup(t, { GATEHOUSE_CLIENT_ID_METADATA_DOCUMENTS: 'true', GATEHOUSE_CLIENT_ID_METADATA_DOCUMENTS_LOOPBACK: 'true' });
  const provider = new (class extends MemoryProvider {
    get clientMetadataUrl(): string {
      return documentUrl;
    }
  })();
  const client = await connect(s, provider);
  // No registration endpoint was there to use: the client id is the document's URL.
  assert.equal(provider.client?.client_id, documentUrl);
  assert.equal(provider.authorizations[0]!.searchParams.get('client_id'), documentUrl);
  assert.deepEqual(documents.requests, ['/mcp-client.json'], 'fetched once by Gatehouse');
  const claims = JSON.parse(Buffer.from(provider.saved!.access_token.split('.')[1]!, 'base64url').toString()) as { aud: string; scope: string; client_id: string };
  assert.deepEqual([claims.aud, claims.client_id], [s.endpoint, documentUrl]);
  assert.deepEqual(claims.scope.split(' ').sort(), ['notes:read', 'notes:write']);
  assert.equal(text(await client.callTool({ name: 'add_note', arguments: { text: 'from a document client' } })), 'saved (1 notes)');
  // Refresh without the user, as for a registered client.
  const before = provider.saved!;
  provider.saved = { ...before, access_token: `${before.access_token.slice(0, -4)}AAAA` };
  assert.equal(text(await client.callTool({ name: 'add_note', arguments: { text: 'again' } })), 'saved (2 notes)');
  assert.notEqual(provider.saved!.refresh_token, before.refresh_token);
  await client.close();
});

test('the example MCP server takes only tokens for itself, and only requests addressed to its own host name', async (t) => {
  const s = await setup(t);
  // A valid Gatehouse token for another API of the same server: 401 invalid_token, never accepted
  // because the issuer is the same.
  const other = 'http://127.0.0.1:9/other';
  await apis.createApi(s.db, { identifier: other, name: 'Other', scopes: 'notes:read' });
  const { clientSecret } = await clients.createClient(s.db, { clientId: 'svc', name: 'Service', grantTypes: 'client_credentials', scopes: 'notes:read', apis: [other, s.endpoint] });
  const token = async (resource: string) => {
    const answer = await fetch(`${s.issuer}/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`svc:${clientSecret}`).toString('base64')}` },
      body: new URLSearchParams({ grant_type: 'client_credentials', resource, scope: 'notes:read' }),
    });
    return ((await answer.json()) as { access_token: string }).access_token;
  };
  const call = (accessToken: string) =>
    fetch(s.endpoint, {
      method: 'POST',
      headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
  const foreign = await call(await token(other));
  assert.equal(foreign.status, 401);
  assert.match(foreign.headers.get('www-authenticate')!, /error="invalid_token"/);
  assert.equal((await call(await token(s.endpoint))).status, 200, 'the same client, a token for this server');

  // DNS rebinding: a request whose Host is another name is refused before anything else.
  const { hostname, port } = new URL(s.endpoint);
  const status = await new Promise<number>((resolve, reject) => {
    const req = httpRequest({ host: hostname, port, path: '/mcp', method: 'POST', headers: { host: `rebound.example:${port}` } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
  assert.equal(status, 403);
});
