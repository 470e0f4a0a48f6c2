// `npm run conformance:mcp`: the official MCP conformance suite (@modelcontextprotocol/conformance,
// pinned in e2e's devDependencies, so `npm ci` installs it and no run needs the registry) against the example MCP server behind a real
// Gatehouse. The suite's server scenarios speak MCP without OAuth, so they reach the server through
// a local proxy that adds a Gatehouse access token (client credentials, audience = the MCP
// endpoint) and passes every other header on unchanged (the Host header included, for the DNS
// rebinding scenario). Its authorization scenarios test MCP *clients* against the suite's own
// authorization server: no Gatehouse code is an MCP client, so they do not apply (README of
// examples/mcp-server; the official MCP client against Gatehouse is e2e/mcp-oauth.test.ts).
//
// Only the scenarios that apply to any MCP server are run: the others call tools, prompts and
// resources of the suite's "everything" reference server, which this example does not have.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { buildMcpServer, listen, mcpEndpoint, SCOPES } from '@gatehouse/example-mcp-server/app';
import * as apis from '@gatehouse/server/internal/storage/apis';
import * as clients from '@gatehouse/server/internal/storage/clients';
import { startInProcess } from '@gatehouse/test-support/gatehouse';
import { freePort } from '@gatehouse/test-support/ports';

// The suite's own command, from the repository's install (e2e/package.json pins the version).
const CONFORMANCE = fileURLToPath(new URL('../node_modules/.bin/conformance', import.meta.url));
export const SCENARIOS = ['server-initialize', 'ping', 'tools-list', 'dns-rebinding-protection'] as const;

const cleanups: (() => unknown)[] = [];
const lifetime = { after: (fn: () => unknown) => void cleanups.push(fn) };

/** Forwards every request to `target`, adding the bearer token; nothing else changes. */
function authenticatingProxy(target: URL, token: string): Server {
  return createServer((incoming, outgoing) => {
    const forwarded = request(
      { host: target.hostname, port: target.port, method: incoming.method, path: incoming.url, headers: { ...incoming.headers, authorization: `Bearer ${token}` } },
      (answer) => {
        outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(outgoing);
      },
    );
    forwarded.on('error', () => outgoing.destroy());
    incoming.pipe(forwarded);
  });
}

async function main(): Promise<number> {
  const gatehouse = await startInProcess(lifetime);
  const port = await freePort();
  const publicUrl = `http://127.0.0.1:${port}`;
  const endpoint = mcpEndpoint(publicUrl);
  await apis.createApi(gatehouse.db, { identifier: endpoint, name: 'Notes MCP server', scopes: Object.keys(SCOPES).join(' ') });
  const { clientSecret } = await clients.createClient(gatehouse.db, {
    clientId: 'conformance',
    name: 'MCP conformance suite',
    grantTypes: 'client_credentials',
    scopes: Object.keys(SCOPES).join(' '),
    apis: [endpoint],
  });
  const mcp = await listen(await buildMcpServer({ issuer: gatehouse.issuer, publicUrl }), port, '127.0.0.1');
  cleanups.push(() => new Promise((resolve) => mcp.close(resolve)));

  const answer = await fetch(`${gatehouse.issuer}/token`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`conformance:${clientSecret}`).toString('base64')}` },
    body: new URLSearchParams({ grant_type: 'client_credentials', resource: endpoint, scope: Object.keys(SCOPES).join(' ') }),
  });
  const { access_token: token } = (await answer.json()) as { access_token: string };
  const proxy = authenticatingProxy(new URL(endpoint), token);
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => proxy.close(resolve)));
  const proxied = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}/mcp`;

  const results: { scenario: string; passed: boolean }[] = [];
  for (const scenario of SCENARIOS) {
    // Run with this process's node (the pinned Node 24 the suite needs), asynchronously: the
    // servers it talks to run in this process.
    const run = spawn(process.execPath, [CONFORMANCE, 'server', '--url', proxied, '--scenario', scenario], { stdio: ['ignore', 'inherit', 'inherit'], timeout: 180_000 });
    const [status] = (await once(run, 'exit')) as [number | null];
    results.push({ scenario, passed: status === 0 });
  }
  process.stdout.write('\nMCP conformance (server scenarios that apply to any MCP server):\n');
  for (const { scenario, passed } of results) process.stdout.write(`  ${passed ? 'pass' : 'FAIL'}  ${scenario}\n`);
  const passed = results.filter((r) => r.passed).length;
  process.stdout.write(`${passed} passed, ${results.length - passed} failed\n`);
  return passed === results.length ? 0 : 1;
}

let code = 1;
try {
  code = await main();
} finally {
  for (const cleanup of cleanups.reverse()) await cleanup();
}
process.exit(code);
