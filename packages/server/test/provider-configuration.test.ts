// The protocol's configuration is a pure function of the settings (engine/configuration.ts): its
// policies are checked here without a server or a database.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../src/config/load.ts';
import { cookieNames, INTERACTION_PATH, providerConfiguration, ROUTES, type ConfigurationParts, type JwtAccessTokenRecord } from '../src/engine/configuration.ts';

const config = loadConfig({}, { publicUrl: 'https://id.example.com', accessTokenTtl: 600, refreshTokenTtl: 86400, idTokenTtl: 300 }).config;

function configure(overrides: Partial<ConfigurationParts> = {}) {
  const recorded: JwtAccessTokenRecord[] = [];
  const parts: ConfigurationParts = {
    adapter: class {} as never,
    findAccount: async () => undefined,
    loadExistingGrant: async () => undefined,
    resourceIndicators: { enabled: true } as never,
    keys: [{ kid: 'k1' }],
    cookieKeys: ['cookie-key'],
    pages: { renderError: async () => {}, logoutSource: async () => {}, postLogoutSuccessSource: async () => {} },
    recordAccessToken: async (record) => void recorded.push(record),
    usernameOf: async (accountId) => (accountId === 'u1' ? 'john' : undefined),
    ...overrides,
  };
  return { configuration: providerConfiguration(config, parts), recorded };
}

// oidc-provider's functions take contexts and models; each test gives what the policy reads.
const call = <T>(fn: unknown, ...args: unknown[]): T => (fn as (...a: unknown[]) => T)(...args);

test('an https issuer gets __Host-/__Secure- cookie names; http keeps the defaults', () => {
  assert.equal(configure().configuration.cookies?.names?.session, '__Host-session');
  assert.deepEqual(cookieNames('https://id.example.com'), { session: '__Host-session', interaction: '__Secure-interaction', resume: '__Secure-interaction_resume' });
  assert.deepEqual(cookieNames('http://localhost:3000'), { session: '_session', interaction: '_interaction', resume: '_interaction_resume' });
});

test('authorization code only, no dynamic registration or dev interactions, asymmetric signing only', () => {
  const { configuration } = configure();
  assert.deepEqual(configuration.responseTypes, ['code', 'none']);
  assert.equal(configuration.features?.registration?.enabled, false);
  assert.equal(configuration.features?.devInteractions?.enabled, false);
  assert.deepEqual(configuration.enabledJWA?.idTokenSigningAlgValues, ['ES256', 'RS256']);
  assert.ok(!(configuration.enabledJWA?.clientAuthSigningAlgValues as string[]).some((alg) => alg.startsWith('HS')));
  assert.equal(configuration.routes, ROUTES);
  assert.equal(call(configuration.interactions?.url, {}, { uid: 'abc' }), `${INTERACTION_PATH}/abc`);
});

test('PKCE is required for public clients only', () => {
  const { configuration } = configure();
  assert.equal(call(configuration.pkce?.required, {}, { tokenEndpointAuthMethod: 'none' }), true);
  assert.equal(call(configuration.pkce?.required, {}, { tokenEndpointAuthMethod: 'client_secret_basic' }), false);
});

test('only confidential clients introspect; a client revokes only its own tokens', async () => {
  const { configuration } = configure();
  const introspection = configuration.features?.introspection?.allowedPolicy;
  assert.equal(await call(introspection, { oidc: { client: { clientAuthMethod: 'none' } } }), false);
  assert.equal(await call(introspection, { oidc: { client: { clientAuthMethod: 'client_secret_basic' } } }), true);
  const revocation = configuration.features?.revocation?.allowedPolicy;
  assert.equal(await call(revocation, {}, { clientId: 'a' }, { clientId: 'a' }), true);
  assert.equal(await call(revocation, {}, { clientId: 'a' }, { clientId: 'b' }), false);
});

test("an API's own access-token lifetime wins over the default", () => {
  const ttl = configure().configuration.ttl!;
  assert.equal(call(ttl.AccessToken, {}, { resourceServer: { accessTokenTTL: 3600 } }), 3600);
  assert.equal(call(ttl.AccessToken, {}, {}), 600);
  assert.equal(call(ttl.ClientCredentials, {}, { resourceServer: { accessTokenTTL: 7200 } }), 7200);
  assert.equal(call(ttl.ClientCredentials, {}, {}), 600);
  assert.equal(ttl.IdToken, 300);
});

test("a public web client's rotated refresh token keeps its predecessor's expiry; others get a fresh lifetime", () => {
  const ttl = configure().configuration.ttl!;
  const rotated = { oidc: { entities: { RotatedRefreshToken: { remainingTTL: 42 } } } };
  const token = { isSenderConstrained: () => false };
  const publicWeb = { applicationType: 'web', clientAuthMethod: 'none' };
  assert.equal(call(ttl.RefreshToken, rotated, token, publicWeb), 42);
  assert.equal(call(ttl.RefreshToken, rotated, token, { ...publicWeb, clientAuthMethod: 'client_secret_basic' }), 86400);
  assert.equal(call(ttl.RefreshToken, rotated, token, { ...publicWeb, applicationType: 'native' }), 86400);
  assert.equal(call(ttl.RefreshToken, rotated, { isSenderConstrained: () => true }, publicWeb), 86400);
  assert.equal(call(ttl.RefreshToken, { oidc: { entities: {} } }, token, publicWeb), 86400);
});

test('refresh tokens: offline_access, plain OAuth 2.0 or a first-party client, and only with the grant allowed', async () => {
  const issue = configure().configuration.issueRefreshToken!;
  const client = (allowed: boolean, firstParty = false) => ({ grantTypeAllowed: (grant: string) => allowed && grant === 'refresh_token', first_party: firstParty });
  const code = (...scopes: string[]) => ({ scopes: new Set(scopes) });
  assert.equal(await call(issue, {}, client(true), code('openid', 'offline_access')), true);
  assert.equal(await call(issue, {}, client(true), code('items:read')), true);
  assert.equal(await call(issue, {}, client(true), code('openid')), false);
  assert.equal(await call(issue, {}, client(true, true), code('openid')), true);
  assert.equal(await call(issue, {}, client(false, true), code('openid', 'offline_access')), false);
});

test("a user's JWT access token names the user and is recorded; a client's says it is one", async () => {
  const { configuration, recorded } = configure();
  const claims = configuration.extraTokenClaims!;
  assert.deepEqual(await call(claims, {}, { kind: 'ClientCredentials' }), { gty: 'client_credentials' });
  const token = { kind: 'AccessToken', accountId: 'u1', grantId: 'g1', jti: 'j1', clientId: 'c1', exp: 1000, resourceServer: { accessTokenFormat: 'jwt' } };
  assert.deepEqual(await call(claims, {}, token), { preferred_username: 'john' });
  assert.deepEqual(recorded, [{ jti: 'j1', grantId: 'g1', accountId: 'u1', clientId: 'c1', exp: 1000 }]);
  assert.equal(await call(claims, {}, { ...token, accountId: 'gone', resourceServer: { accessTokenFormat: 'opaque' } }), undefined);
  assert.equal(recorded.length, 1, 'an opaque token is not recorded');
});

test('browsers may call the token endpoints only from the origins a client lists', () => {
  const cors = configure().configuration.clientBasedCORS!;
  assert.equal(call(cors, {}, 'https://app.example.com', { cors_origins: ['https://app.example.com'] }), true);
  assert.equal(call(cors, {}, 'https://evil.example.com', { cors_origins: ['https://app.example.com'] }), false);
  assert.equal(call(cors, {}, 'https://app.example.com', {}), false);
});
