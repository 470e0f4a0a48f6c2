// The admin console at /admin: one HTML page that loads the console's script and stylesheet, built
// from packages/server/console/ by esbuild (docs/adr/0010-admin-console.md). The page carries no
// code and no secret: the script signs in as the built-in client (engine/console-client.ts) and
// calls the admin API with the token it gets, like any other client of that API.
import { readFile } from 'node:fs/promises';
import type { FastifyInstance, FastifyPluginAsync, FastifyReply } from 'fastify';
import { CONSOLE_CALLBACK_PATH, CONSOLE_CLIENT_ID, CONSOLE_PATH } from '../engine/console-client.ts';
import { ADMIN_SCOPE_NAMES } from '../admin/scopes.ts';
import { html } from '../html/escape.ts';
import { STYLESHEET_PATH, type Layout } from '../html/layout.ts';

/** Where `npm run build:console` writes the bundle (shipped in the package: `files`). */
const BUILT = new URL('../../console/dist/', import.meta.url);
const ASSETS = `${CONSOLE_PATH}/assets`;
export const CONSOLE_BUILD_COMMAND = 'npm run build:console -w @gatehouse/server';

export interface ConsoleOptions {
  readonly publicUrl: string;
  readonly layout: Layout;
}

interface Bundle {
  readonly script: string;
  readonly stylesheet: string;
}

async function readBundle(): Promise<Bundle | undefined> {
  try {
    const [script, stylesheet] = await Promise.all([readFile(new URL('console.js', BUILT), 'utf8'), readFile(new URL('console.css', BUILT), 'utf8')]);
    return { script, stylesheet };
  } catch {
    return undefined;
  }
}

export const consoleRoutes: FastifyPluginAsync<ConsoleOptions> = async (app: FastifyInstance, { publicUrl, layout }) => {
  const bundle = await readBundle();
  if (!bundle) app.log.warn(`the admin console is not built: /admin answers 503 until \`${CONSOLE_BUILD_COMMAND}\` has run`);
  const page = shell(publicUrl, layout);
  const headers = consoleHeaders(layout);

  const serveShell = async (_request: unknown, reply: FastifyReply) => {
    if (!bundle) return reply.status(503).headers(layout.headers()).send(layout.page({ title: 'Admin console', body: html`<h1>Admin console not built</h1><p>Run <code>${CONSOLE_BUILD_COMMAND}</code> and restart.</p>` }));
    return reply.headers(headers).send(page);
  };
  // The callback is the same page: the script finds the code in the URL and redeems it.
  app.get(CONSOLE_PATH, serveShell);
  app.get(`${CONSOLE_PATH}/`, serveShell);
  app.get(CONSOLE_CALLBACK_PATH, serveShell);
  if (bundle) {
    app.get(`${ASSETS}/console.js`, async (_request, reply) =>
      reply.header('content-type', 'text/javascript; charset=utf-8').header('cache-control', 'no-cache').header('x-content-type-options', 'nosniff').send(bundle.script),
    );
    app.get(`${ASSETS}/console.css`, async (_request, reply) =>
      reply.header('content-type', 'text/css; charset=utf-8').header('cache-control', 'no-cache').header('x-content-type-options', 'nosniff').send(bundle.stylesheet),
    );
  }
};

/** The page: settings for the script as data attributes (no inline script), the brand from the layout. */
function shell(publicUrl: string, layout: Layout): string {
  const { name, logoUrl } = layout.brand;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Admin · ${name}</title>
<link rel="stylesheet" href="${STYLESHEET_PATH}">
<link rel="stylesheet" href="${ASSETS}/console.css">
<script type="module" src="${ASSETS}/console.js"></script>
</head>
<body class="console" data-issuer="${publicUrl}" data-client-id="${CONSOLE_CLIENT_ID}" data-admin-api="${publicUrl}/admin/api" data-brand="${name}" data-logo="${logoUrl ?? ''}" data-scopes="${ADMIN_SCOPE_NAMES.join(' ')}">
<div id="console"><p class="loading">Loading the admin console…</p></div>
<noscript><p>The admin console needs JavaScript. The admin API and the <code>gatehouse</code> command do everything it does.</p></noscript>
</body>
</html>
`.value;
}

/** The login pages' policy, plus this origin's script and the admin API it calls (connect-src). */
function consoleHeaders(layout: Layout): Record<string, string> {
  const base = layout.headers();
  const policy = base['content-security-policy']!.replace("default-src 'none'", "default-src 'none'; script-src 'self'; connect-src 'self'");
  return { ...base, 'content-security-policy': policy };
}
