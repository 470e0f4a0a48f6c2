// The OpenAPI description follows the credential sources that are on: a scheme for each, none for
// the others, and a route's alternatives are the sources it accepts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createAuthenticator, oauthFlows, SECURITY_SCHEMES, securityRequirements, securitySchemes } from '@gatehouse/sdk';

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
