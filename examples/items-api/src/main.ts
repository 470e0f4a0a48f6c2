// Runs the items API: `npm start -w examples/items-api` from the repository root, or the
// repository's `npm start` (with the server and the demo data).
import { buildItemsApi } from './app.ts';

const env = process.env;
const issuer = env.ITEMS_API_ISSUER ?? 'http://localhost:8000';
const publicUrl = env.ITEMS_API_PUBLIC_URL ?? 'http://localhost:8001';
const port = Number(env.ITEMS_API_PORT ?? (new URL(publicUrl).port || 8001));
const host = env.ITEMS_API_HOST ?? 'localhost';
// API keys (and opaque tokens) are checked by introspection, with this API's own client. An
// answer is reused for ITEMS_API_INTROSPECTION_CACHE_TTL seconds (default 30): a revoked key
// stops working within that time.
const introspection =
  env.ITEMS_API_CLIENT_ID && env.ITEMS_API_CLIENT_SECRET
    ? {
        clientId: env.ITEMS_API_CLIENT_ID,
        clientSecret: env.ITEMS_API_CLIENT_SECRET,
        ...(env.ITEMS_API_INTROSPECTION_CACHE_TTL ? { cacheTtl: Number(env.ITEMS_API_INTROSPECTION_CACHE_TTL) } : {}),
      }
    : undefined;

// The docs read the server's discovery document at boot: wait for the server if it is starting too.
let app;
for (let attempt = 1; ; attempt++) {
  try {
    app = await buildItemsApi({
      issuer,
      publicUrl,
      docsClientId: env.ITEMS_API_DOCS_CLIENT_ID ?? 'docs',
      introspection,
      // ITEMS_API_SIGNALS=poll: hear of revocations as they happen (needs the client's admin:streams:write).
      signals: introspection !== undefined && env.ITEMS_API_SIGNALS === 'poll',
      logger: true,
    });
    break;
  } catch (error) {
    if (attempt >= 30) throw error;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}
await app.listen({ port, host });
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void app.close());
