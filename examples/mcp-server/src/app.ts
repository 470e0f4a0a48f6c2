// An MCP server (Streamable HTTP, the official @modelcontextprotocol/sdk) whose tools need
// different scopes, protected by @gatehouse/sdk:
// - every request to /mcp needs a valid access token whose audience is this server's URL;
// - a `tools/call` needs the scopes of the tool it calls, else 403 insufficient_scope naming them
//   (the HTTP answer the MCP authorization spec asks for, so a client can step up);
// - the RFC 9728 metadata at /.well-known/oauth-protected-resource/mcp tells a client where to log in,
//   and every 401 points to it.
import type { IncomingMessage, Server } from 'node:http';
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { hostHeaderValidation } from '@modelcontextprotocol/sdk/server/middleware/hostHeaderValidation.js';
import { createAuthenticator, type Principal } from '@gatehouse/sdk';
import { gatehouse } from '@gatehouse/sdk/express';
import { z } from 'zod';

/** The scopes this server understands: define the same on its API in Gatehouse. */
export const SCOPES = {
  'notes:read': 'Read your notes',
  'notes:write': 'Add notes',
  'notes:admin': 'Delete every note',
} as const;
type Scope = keyof typeof SCOPES;

/** Which scopes each tool needs; tools not listed need none beyond a valid token. */
export const TOOL_SCOPES: Readonly<Record<string, readonly Scope[]>> = {
  list_notes: ['notes:read'],
  add_note: ['notes:write'],
  clear_notes: ['notes:admin'],
};

export interface McpServerOptions {
  /** The Gatehouse server (the token issuer). */
  readonly issuer: string;
  /** Where this server is reached; its MCP endpoint, `${publicUrl}/mcp`, is the token audience. */
  readonly publicUrl: string;
}

export function mcpEndpoint(publicUrl: string): string {
  return `${publicUrl.replace(/\/$/, '')}/mcp`;
}

/** One MCP server per request (stateless Streamable HTTP): the tools see the caller's principal. */
function mcpServerFor(principal: Principal | undefined, notes: Map<string, string[]>): McpServer {
  const server = new McpServer({ name: 'gatehouse-notes', version: '1.0.0' });
  const owner = principal?.subject ?? 'anonymous';
  const mine = () => notes.get(owner) ?? [];
  server.registerTool('whoami', { description: 'Who the access token says you are' }, async () => ({
    content: [{ type: 'text', text: JSON.stringify({ subject: principal?.subject, client: principal?.clientId, scopes: [...(principal?.scopes ?? [])] }) }],
  }));
  server.registerTool('list_notes', { description: 'Your notes (needs notes:read)' }, async () => ({
    content: [{ type: 'text', text: JSON.stringify(mine()) }],
  }));
  server.registerTool('add_note', { description: 'Adds a note (needs notes:write)', inputSchema: { text: z.string().min(1).max(500) } }, async ({ text }) => {
    notes.set(owner, [...mine(), text]);
    return { content: [{ type: 'text', text: `saved (${mine().length} notes)` }] };
  });
  server.registerTool('clear_notes', { description: 'Deletes every note (needs notes:admin)' }, async () => {
    notes.clear();
    return { content: [{ type: 'text', text: 'cleared' }] };
  });
  return server;
}

export async function buildMcpServer(options: McpServerOptions): Promise<express.Express> {
  const resource = mcpEndpoint(options.publicUrl);
  const authenticator = createAuthenticator({
    issuer: options.issuer,
    audience: resource,
    algorithms: ['ES256', 'RS256'],
    // RFC 9728 metadata, and resource_metadata on every 401 challenge.
    protectedResource: { scopes: Object.keys(SCOPES), name: 'Gatehouse notes (MCP example)' },
  });
  await authenticator.discover();
  const { requireAuth, protectedResourceMetadata } = gatehouse(authenticator);

  // A tools/call is held to its tool's scopes with the adapter's own check, so the 403 carries
  // `scope` exactly as every other Gatehouse API answers it.
  const toolChecks = new Map<string, RequestHandler>(Object.entries(TOOL_SCOPES).map(([tool, scopes]) => [tool, requireAuth({ scopes: [...scopes] })]));
  const requireToolScopes: RequestHandler = (req: Request, res: Response, next: NextFunction) => {
    const body = req.body as { method?: unknown; params?: { name?: unknown } } | undefined;
    const check = body?.method === 'tools/call' && typeof body.params?.name === 'string' ? toolChecks.get(body.params.name) : undefined;
    if (check === undefined) next();
    else check(req, res, next);
  };

  const notes = new Map<string, string[]>();
  const app = express();
  // DNS rebinding (MCP Streamable HTTP, security warning): only requests addressed to this server's
  // own host name are answered, so a web page cannot reach a local MCP server through a name it controls.
  app.use(hostHeaderValidation([new URL(options.publicUrl).hostname]));
  app.use(protectedResourceMetadata);
  app.use(express.json({ limit: '100kb' }));
  app.post('/mcp', requireAuth(), requireToolScopes, async (req: Request, res: Response) => {
    const server = mcpServerFor(req.auth, notes);
    // The MCP SDK reads its own `req.auth` shape; the tools were given the principal above.
    req.auth = undefined;
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    res.on('close', () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req as IncomingMessage, res, req.body);
  });
  // Stateless: no server-sent event stream and no session to end (MCP Streamable HTTP §GET, §DELETE).
  app.all('/mcp', requireAuth(), (_req, res) => {
    res.status(405).set('allow', 'POST').json({ jsonrpc: '2.0', error: { code: -32000, message: 'Method not allowed' }, id: null });
  });
  return app;
}

export async function listen(app: express.Express, port: number, host: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = app.listen(port, host, (error?: Error) => (error ? reject(error) : resolve(server)));
  });
}
