// Runs the example MCP server: `npm start` in this folder, or the repository's `npm start` (with the server).
import { buildMcpServer, listen, mcpEndpoint } from './app.ts';

const env = process.env;
const issuer = env.MCP_SERVER_ISSUER ?? 'http://localhost:8000';
const publicUrl = env.MCP_SERVER_PUBLIC_URL ?? 'http://localhost:8003';
const port = Number(env.MCP_SERVER_PORT ?? (new URL(publicUrl).port || 8003));
const host = env.MCP_SERVER_HOST ?? 'localhost';

// The authenticator reads the server's discovery document at boot: wait for the server if it is starting too.
let app;
for (let attempt = 1; ; attempt++) {
  try {
    app = await buildMcpServer({ issuer, publicUrl });
    break;
  } catch (error) {
    if (attempt >= 30) throw error;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}
const server = await listen(app, port, host);
process.stdout.write(`MCP server at ${mcpEndpoint(publicUrl)} (tokens from ${issuer})\n`);
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => server.close());
