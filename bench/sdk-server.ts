// The API under test for bench/sdk.ts: one Fastify app, the same handler behind no auth, a
// bearer token with a scope, and an API key. Configuration comes from the environment.
// Usage: node sdk-server.ts   (BENCH_ISSUER, BENCH_AUDIENCE, BENCH_CLIENT_ID, BENCH_CLIENT_SECRET, BENCH_PORT)
import Fastify from 'fastify';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { createAuthenticator } from '@gatehouse/sdk';
import { gatehouse } from '@gatehouse/sdk/fastify';

const env = process.env;
const authenticator = createAuthenticator({
  issuer: env.BENCH_ISSUER!,
  audience: env.BENCH_AUDIENCE!,
  algorithms: ['ES256'],
  credentials: { bearer: true, apiKey: { header: 'X-API-Key' } },
  introspection: { clientId: env.BENCH_CLIENT_ID!, clientSecret: env.BENCH_CLIENT_SECRET! },
});
const app = Fastify({ logger: false });
await app.register(gatehouse, { authenticator });
const handler = async () => ({ item_id: 'Foo' });
app.get('/bare', handler);
app.get('/bearer', { auth: { scopes: ['items'] } }, handler);
app.get('/api-key', { auth: { scopes: ['items'], sources: ['apiKey'] } }, handler);
// The floor for a distinct token: jose's jwtVerify alone, with the issuer's key set fetched once.
const jwks = createLocalJWKSet(await (await fetch(`${env.BENCH_ISSUER}/jwks`)).json());
const joseOptions = { issuer: env.BENCH_ISSUER!, audience: env.BENCH_AUDIENCE!, algorithms: ['ES256'], typ: 'at+jwt' };
app.get('/jose', { onRequest: async (request, reply) => {
  try {
    await jwtVerify(request.headers.authorization!.slice(7), jwks, joseOptions);
  } catch {
    return reply.code(401).send();
  }
} }, handler);
await app.listen({ port: Number(env.BENCH_PORT), host: '127.0.0.1' });
process.stdout.write('listening\n');
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
