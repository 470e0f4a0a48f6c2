// SECURITY.md "Credentials and scopes (SDK)": a token sent by two methods is 400 invalid_request;
// query tokens are off unless enabled; cookie credentials on unsafe methods need CSRF protection.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createAuthenticator, type AuthenticatorOptions, type AuthOutcome, type AuthRequest, type AuthRequirement } from '@gatehouse/sdk';
import { createTestIssuer, type TestIssuer } from '@gatehouse/sdk/testing';
import { bearer, request } from './helpers.ts';

let issuer: TestIssuer;
let token: string;
let apiKey: string;
before(async () => {
  issuer = await createTestIssuer();
  token = await issuer.mintAccessToken({ scopes: ['items'] });
  apiKey = issuer.createApiKey({ scopes: ['items'] });
});
after(() => issuer.close());

function authenticatorWith(overrides: Partial<AuthenticatorOptions> = {}) {
  return createAuthenticator(issuer.authenticatorOptions({ jwks: issuer.jwks(), ...overrides }));
}

const all = { cookie: 'access_token', query: true, apiKey: { header: 'X-API-Key', query: 'api_key', cookie: 'api_key' } } as const;

function codeOf(outcome: AuthOutcome): string {
  return outcome.ok ? (outcome.principal === undefined ? 'anonymous' : `ok:${outcome.principal.kind}`) : outcome.error.code;
}

async function check(
  headers: Record<string, string>,
  options: { url?: string; method?: string; requirement?: AuthRequirement; overrides?: Partial<AuthenticatorOptions> } = {},
): Promise<string> {
  const authenticator = authenticatorWith({ credentials: all, ...options.overrides });
  const url = options.url ?? 'https://api.example.test/items';
  return codeOf(await authenticator.authenticate(request(headers, { url, method: options.method }), options.requirement));
}

describe('sources', () => {
  test('Authorization: Bearer is on by default; the scheme is case-insensitive', async () => {
    const authenticator = authenticatorWith();
    for (const scheme of ['Bearer', 'bearer', 'BEARER']) {
      assert.equal(codeOf(await authenticator.authenticate(request({ authorization: `${scheme} ${token}` }))), 'ok:user');
    }
  });

  test('query tokens are off unless enabled (the parameter is then ignored)', async () => {
    const defaults = authenticatorWith();
    const url = `https://api.example.test/items?access_token=${token}`;
    assert.equal(codeOf(await defaults.authenticate(request({}, { url }))), 'missing_credentials');
    const enabled = authenticatorWith({ credentials: { query: true } });
    assert.equal(codeOf(await enabled.authenticate(request({}, { url }))), 'ok:user');
    const named = authenticatorWith({ credentials: { query: 'token' } });
    assert.equal(codeOf(await named.authenticate(request({}, { url: `https://api.example.test/items?token=${token}` }))), 'ok:user');
  });

  test('a cookie token and API keys in header, query and cookie, each when enabled', async () => {
    assert.equal(await check({ cookie: `theme=dark; access_token=${token}` }), 'ok:user');
    assert.equal(await check({ cookie: `access_token="${token}"` }), 'ok:user');
    assert.equal(await check({ 'x-api-key': apiKey }), 'ok:api_key');
    assert.equal(await check({}, { url: `https://api.example.test/items?api_key=${apiKey}` }), 'ok:api_key');
    assert.equal(await check({ cookie: `api_key=${apiKey}` }), 'ok:api_key');
    // Not enabled → not read.
    assert.equal(codeOf(await authenticatorWith().authenticate(request({ cookie: `access_token=${token}` }))), 'missing_credentials');
    assert.equal(codeOf(await authenticatorWith().authenticate(request({ 'x-api-key': apiKey }))), 'missing_credentials');
  });

  test('a route reads only the sources it accepts', async () => {
    const bearerOnly: AuthRequirement = { sources: ['bearer'] };
    assert.equal(await check({ 'x-api-key': apiKey }, { requirement: bearerOnly }), 'missing_credentials');
    assert.equal(await check({ cookie: `access_token=${token}` }, { requirement: bearerOnly }), 'missing_credentials');
    // A credential in a source the route ignores does not count as a second method.
    assert.equal(await check({ ...bearer(token), 'x-api-key': apiKey }, { requirement: bearerOnly }), 'ok:user');
    assert.equal(await check({ 'x-api-key': apiKey }, { requirement: { sources: ['apiKey'] } }), 'ok:api_key');
    assert.equal(await check(bearer(token), { requirement: { sources: ['apiKey'] } }), 'missing_credentials');
    // defaultSources applies to routes that do not say.
    assert.equal(await check({ 'x-api-key': apiKey }, { overrides: { credentials: all, defaultSources: ['bearer'] } }), 'missing_credentials');
  });

  test('an empty value is no credential; another Authorization scheme is ignored', async () => {
    assert.equal(await check({ 'x-api-key': '' }), 'missing_credentials');
    assert.equal(await check({ cookie: 'access_token=' }), 'missing_credentials');
    assert.equal(await check({ authorization: 'Basic dXNlcjpwYXNz' }), 'missing_credentials');
  });

  test('a cookie value in double quotes is read without them; a lone quote is part of the value (RFC 6265 §4.1.1)', async () => {
    assert.equal(await check({ cookie: `access_token="${token}"` }), 'ok:user');
    assert.equal(await check({ cookie: 'access_token=""' }), 'missing_credentials', 'quoted empty is empty');
    // One quote at either end is no quoting: the value is kept whole, and is no valid token.
    assert.equal(await check({ cookie: 'access_token=x"' }), 'invalid_token');
    assert.equal(await check({ cookie: 'access_token="x' }), 'invalid_token');
  });
});

describe('two methods at once', () => {
  test('every pair of methods is 400 invalid_request, never a silent pick', async () => {
    const url = `https://api.example.test/items?access_token=${token}`;
    const cases: Record<string, [Record<string, string>, string?]> = {
      'header + query': [bearer(token), url],
      'header + cookie': [{ ...bearer(token), cookie: `access_token=${token}` }],
      'cookie + query': [{ cookie: `access_token=${token}` }, url],
      'header + API key': [{ ...bearer(token), 'x-api-key': apiKey }],
      'API key header + API key query': [{ 'x-api-key': apiKey }, `https://api.example.test/items?api_key=${apiKey}`],
      'API key header + API key cookie': [{ 'x-api-key': apiKey, cookie: `api_key=${apiKey}` }],
      'token cookie + API key cookie': [{ cookie: `access_token=${token}; api_key=${apiKey}` }],
    };
    for (const [name, [headers, caseUrl]] of Object.entries(cases)) {
      const authenticator = authenticatorWith({ credentials: all });
      const outcome = await authenticator.authenticate(request(headers, { url: caseUrl }));
      assert.equal(codeOf(outcome), 'invalid_request', name);
      if (!outcome.ok) {
        assert.equal(outcome.response.status, 400, name);
        assert.match(outcome.response.headers['www-authenticate'] ?? '', /error="invalid_request"/, name);
      }
    }
  });

  test('the same credential twice in one place is 400 too (cookie tossing, repeated parameter)', async () => {
    assert.equal(await check({ cookie: `access_token=${token}; access_token=${token}` }), 'invalid_request');
    assert.equal(await check({}, { url: `https://api.example.test/items?access_token=${token}&access_token=x` }), 'invalid_request');
  });

  test('a malformed Authorization header is 400; a malformed token in it is 401', async () => {
    for (const value of ['Bearer', 'Bearer ', 'Bearer\ttoken']) {
      assert.equal(await check({ authorization: value }), 'invalid_request', JSON.stringify(value));
    }
    for (const value of ['Bearer a b', `Bearer ${token}, Bearer ${token}`, 'Bearer "quoted"']) {
      assert.equal(await check({ authorization: value }), 'invalid_token', value);
    }
  });
});

describe('a credential header sent twice', () => {
  // Node keeps only the first Authorization in request.headers; rawHeaders shows both.
  const raw = (pairs: [string, string][]): AuthRequest => ({
    method: 'GET',
    url: 'https://api.example.test/items',
    headers: Object.fromEntries(pairs.map(([name, value]) => [name.toLowerCase(), value])),
    rawHeaders: pairs.flat(),
  });
  // A Web Headers (fetch, Hono) joins repeated fields with ", ".
  const web = (pairs: [string, string][]): AuthRequest => ({ method: 'GET', url: 'https://api.example.test/items', headers: new Headers(pairs) });
  const outcomeOf = async (authRequest: AuthRequest) => codeOf(await authenticatorWith({ credentials: all }).authenticate(authRequest));

  test('twice is 400 invalid_request, from Node raw headers and from a Web Headers alike', async () => {
    for (const build of [raw, web]) {
      assert.equal(await outcomeOf(build([['Authorization', `Bearer ${token}`], ['authorization', `Bearer ${token}`]])), 'invalid_request', build.name);
      assert.equal(await outcomeOf(build([['X-API-Key', apiKey], ['x-api-key', apiKey]])), 'invalid_request', build.name);
      // Once is fine, and so is no credential header at all.
      assert.equal(await outcomeOf(build([['Authorization', `Bearer ${token}`]])), 'ok:user', build.name);
      assert.equal(await outcomeOf(build([['X-API-Key', apiKey]])), 'ok:api_key', build.name);
      assert.equal(await outcomeOf(build([['Accept', 'application/json']])), 'missing_credentials', build.name);
    }
  });

  test('in a Web Headers, a comma beside another Authorization scheme is that scheme\'s own (Digest), not a second header', async () => {
    assert.equal(await outcomeOf(web([['Authorization', 'Digest username="a", realm="b"']])), 'missing_credentials');
  });
});

describe('CSRF: cookie credentials on unsafe methods', () => {
  const cookie = () => ({ cookie: `access_token=${token}` });
  const same = 'https://api.example.test';

  test('safe methods are not checked', async () => {
    for (const method of ['GET', 'HEAD', 'OPTIONS']) {
      assert.equal(await check({ ...cookie(), 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' }, { method }), 'ok:user', method);
    }
  });

  test('unsafe methods need Sec-Fetch-Site: same-origin, or a same/trusted Origin; otherwise 403 (no challenge: signing in again would not help)', async () => {
    const trusted = { overrides: { credentials: all, trustedOrigins: ['https://app.example.test'] } };
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) {
      assert.equal(await check({ ...cookie(), 'sec-fetch-site': 'same-origin', origin: same }, { method }), 'ok:user', method);
      assert.equal(await check({ ...cookie(), origin: same }, { method }), 'ok:user', `${method} Origin only (older browsers)`);
      assert.equal(await check({ ...cookie(), 'sec-fetch-site': 'cross-site', origin: 'https://app.example.test' }, { method, ...trusted }), 'ok:user');

      assert.equal(await check({ ...cookie(), 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' }, { method }), 'cross_site_request');
      assert.equal(await check({ ...cookie(), 'sec-fetch-site': 'same-site', origin: 'https://sub.example.test' }, { method }), 'cross_site_request');
      assert.equal(await check({ ...cookie(), 'sec-fetch-site': 'none' }, { method }), 'cross_site_request');
      assert.equal(await check({ ...cookie(), origin: 'https://evil.example' }, { method }), 'cross_site_request');
      assert.equal(await check({ ...cookie(), origin: 'null' }, { method }), 'cross_site_request');
      assert.equal(await check({ ...cookie(), origin: 'http://api.example.test' }, { method }), 'cross_site_request', 'scheme matters');
      assert.equal(await check(cookie(), { method }), 'cross_site_request', 'neither header: fail closed');
      // Sec-Fetch-Site, when sent, decides alone: the browser sets it and a page cannot.
      assert.equal(await check({ ...cookie(), 'sec-fetch-site': 'same-origin' }, { method }), 'ok:user', `${method} Sec-Fetch-Site only`);
      assert.equal(await check({ ...cookie(), 'sec-fetch-site': 'cross-site', origin: same }, { method }), 'cross_site_request');
    }
  });

  test('the refusal is 403 cross_site_request with no challenge (the credential was never judged)', async () => {
    const outcome = await authenticatorWith({ credentials: all }).authenticate(
      request({ ...cookie(), 'sec-fetch-site': 'cross-site' }, { url: 'https://api.example.test/items', method: 'POST' }),
    );
    assert.equal(outcome.ok, false);
    if (outcome.ok) return;
    assert.equal(outcome.response.status, 403);
    assert.equal(outcome.response.headers['www-authenticate'], undefined);
    assert.deepEqual(JSON.parse(outcome.response.body), { error: 'cross_site_request', error_description: 'A cookie credential was sent by a cross-site request' });
  });

  test('API keys in cookies are protected the same way; header credentials need no check', async () => {
    assert.equal(await check({ cookie: `api_key=${apiKey}`, 'sec-fetch-site': 'cross-site' }, { method: 'POST' }), 'cross_site_request');
    assert.equal(await check({ ...bearer(token), 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' }, { method: 'POST' }), 'ok:user');
    assert.equal(await check({ 'x-api-key': apiKey, 'sec-fetch-site': 'cross-site' }, { method: 'DELETE' }), 'ok:api_key');
  });
});
