// oidc-provider alone, as a ceiling for the token endpoint: the same engine and the same ES256
// JWT access tokens, but a static client, no storage, no Fastify, nothing of Gatehouse's.
// Usage: node engine-baseline.ts <port>   (the benchmark runs it pinned to the server core)
import Provider from 'oidc-provider';
import { exportJWK, generateKeyPair } from 'jose';

const port = Number(process.argv[2]);
const { privateKey } = await generateKeyPair('ES256', { extractable: true });

const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [{
    client_id: 'svc',
    client_secret: 'baseline-secret-baseline-secret-32',
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    id_token_signed_response_alg: 'ES256',
  }],
  jwks: { keys: [{ ...(await exportJWK(privateKey)), alg: 'ES256', use: 'sig', kid: 'baseline' }] },
  cookies: { keys: ['baseline-cookie-key'] },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => 'https://api.example',
      getResourceServerInfo: () => ({ scope: 'accounts:read', audience: 'https://api.example', accessTokenFormat: 'jwt', jwt: { sign: { alg: 'ES256' } } }),
    },
  },
});
provider.listen(port, '127.0.0.1', () => process.stdout.write('listening\n'));
process.on('SIGTERM', () => process.exit(0));
