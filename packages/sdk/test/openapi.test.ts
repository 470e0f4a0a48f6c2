// The OpenAPI description follows the credential sources that are on: a scheme for each, none for
// the others, and a route's alternatives are the sources it accepts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createAuthenticator, oauthFlows, oauthSchemeNames, SECURITY_SCHEMES, securityRequirements, securitySchemes, withFlowSchemes } from '@gatehouse/sdk';

const base = { issuer: 'https://id.example.test', audience: 'https://api.example.test', algorithms: ['ES256' as const], introspection: { clientId: 'a', clientSecret: 'b' } };

test('a scheme for each enabled credential source, and none for a disabled one', () => {
  const all = createAuthenticator({ ...base, credentials: { cookie: '__Host-token', query: true, apiKey: { header: 'X-Api-Key', query: 'api_key', cookie: '__Host-key' } } });
  const schemes = securitySchemes(all.description);
  assert.deepEqual(schemes[SECURITY_SCHEMES.cookie], { type: 'apiKey', in: 'cookie', name: '__Host-token', description: 'Access token in a cookie' });
  assert.equal((schemes[SECURITY_SCHEMES.query] as { name: string }).name, 'access_token');
  assert.deepEqual(schemes[SECURITY_SCHEMES.apiKeyCookie], { type: 'apiKey', in: 'cookie', name: '__Host-key' });
  const route = all.requirement({ sources: ['bearer', 'cookie', 'query'] });
  assert.deepEqual(securityRequirements(all.description, route), [{ [SECURITY_SCHEMES.bearer]: [] }, { [SECURITY_SCHEMES.cookie]: [] }, { [SECURITY_SCHEMES.query]: [] }]);

  const bearerOnly = createAuthenticator(base);
  assert.deepEqual(Object.keys(securitySchemes(bearerOnly.description)), [SECURITY_SCHEMES.bearer]);
  assert.deepEqual(securityRequirements(bearerOnly.description, bearerOnly.requirement({})), [{ [SECURITY_SCHEMES.bearer]: [] }]);
});

test('OAuth flows come from the discovery document, and its missing endpoints are named', () => {
  const metadata = { issuer: base.issuer, authorization_endpoint: `${base.issuer}/authorize`, token_endpoint: `${base.issuer}/token` };
  assert.deepEqual(oauthFlows(metadata as never, { flows: ['clientCredentials'], scopes: { items: 'Items' } }), {
    clientCredentials: { tokenUrl: `${base.issuer}/token`, scopes: { items: 'Items' } },
  });
  assert.throws(() => oauthFlows({ ...metadata, token_endpoint: undefined } as never, { flows: ['clientCredentials'] }), /no token_endpoint/);
  assert.throws(() => oauthFlows({ ...metadata, authorization_endpoint: undefined } as never), /no authorization_endpoint/);
});

test('each OAuth flow is a scheme of its own, the first flow first, and a bearer route lists them all', () => {
  const metadata = { issuer: base.issuer, authorization_endpoint: `${base.issuer}/authorize`, token_endpoint: `${base.issuer}/token` };
  const flows = oauthFlows(metadata as never, { flows: ['authorizationCode', 'password', 'clientCredentials'], scopes: { items: 'Items' } });
  assert.deepEqual(oauthSchemeNames(flows), { authorizationCode: 'gatehouse', password: 'gatehousePassword', clientCredentials: 'gatehouseClientCredentials' });

  const authenticator = createAuthenticator({ ...base, credentials: { apiKey: { header: 'X-Api-Key' } } });
  const schemes = securitySchemes(authenticator.description, flows);
  // Swagger UI lists the schemes in this order and shows one "Authorized" per scheme.
  assert.deepEqual(Object.keys(schemes), ['gatehouse', 'gatehousePassword', 'gatehouseClientCredentials', SECURITY_SCHEMES.apiKeyHeader]);
  assert.deepEqual(schemes.gatehouse, { type: 'oauth2', description: `Access token issued by ${base.issuer}`, flows: { authorizationCode: flows.authorizationCode } });
  assert.deepEqual(schemes.gatehousePassword, { type: 'oauth2', description: `Access token issued by ${base.issuer}`, flows: { password: flows.password } });

  const route = authenticator.requirement({ scopes: ['items'], sources: ['bearer', 'apiKey'], optional: true });
  assert.deepEqual(securityRequirements(authenticator.description, route, flows), [
    { gatehouse: ['items'] },
    { gatehousePassword: ['items'] },
    { gatehouseClientCredentials: ['items'] },
    { [SECURITY_SCHEMES.apiKeyHeader]: [] },
    {},
  ]);
  // One flow: the layout is the same as without the split.
  assert.deepEqual(withFlowSchemes([{ gatehouse: ['items'] }, {}], { authorizationCode: flows.authorizationCode }), [{ gatehouse: ['items'] }, {}]);
});
