// A hand-written client-credentials token endpoint, the second baseline of issue 14: what the
// least a correct one costs on this core. Fastify 5 and jose, no OAuth library: HTTP Basic client
// authentication (the secret's SHA-256 compared in constant time, as Gatehouse stores secrets),
// `grant_type` checked, and an RFC 9068 access token (typ at+jwt, iss, sub, aud, client_id, scope,
// jti, iat, exp) signed with ES256 — the token Gatehouse issues for the same request. No storage.
// Usage: node handwritten-token.ts <port>   (the benchmark runs it pinned to the server core)
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import Fastify from 'fastify';
import { generateKeyPair, SignJWT } from 'jose';

const port = Number(process.argv[2]);
const issuer = `http://127.0.0.1:${port}`;
const { privateKey } = await generateKeyPair('ES256');
const client = { id: 'svc', secretHash: createHash('sha256').update('baseline-secret-baseline-secret-32').digest() };

const app = Fastify({ logger: false });
app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => done(null, new URLSearchParams(body as string)));
app.post('/token', async (request, reply) => {
  reply.header('cache-control', 'no-store');
  const basic = /^Basic ([A-Za-z0-9+/=]+)$/.exec(request.headers.authorization ?? '');
  const [id, secret] = basic ? Buffer.from(basic[1]!, 'base64').toString().split(':') : [];
  const presented = createHash('sha256').update(secret ?? '').digest();
  if (id !== client.id || !timingSafeEqual(presented, client.secretHash)) return reply.code(401).send({ error: 'invalid_client' });
  if ((request.body as URLSearchParams).get('grant_type') !== 'client_credentials') return reply.code(400).send({ error: 'unsupported_grant_type' });
  const accessToken = await new SignJWT({ client_id: client.id, scope: 'accounts:read' })
    .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'baseline' })
    .setIssuer(issuer)
    .setSubject(client.id)
    .setAudience('https://api.example')
    .setJti(randomUUID())
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(privateKey);
  return { access_token: accessToken, token_type: 'Bearer', expires_in: 3600, scope: 'accounts:read' };
});
await app.listen({ port, host: '127.0.0.1' });
process.stdout.write('listening\n');
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
