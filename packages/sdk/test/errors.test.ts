// SECURITY.md: "No credentials: 401 with WWW-Authenticate: Bearer realm="…" and no error code. Bad
// token: 401 invalid_token. Valid token missing a scope: 403 insufficient_scope with scope="…".
// Header values are sanitized and never echo the token." — the one place responses are built.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { AUTH_ERRORS, AuthError, createAuthenticator, toErrorResponse, type AuthErrorCode } from '@gatehouse/sdk';
import {
  assertInsufficientScope,
  assertInvalidRequest,
  assertInvalidToken,
  assertMissingCredentials,
  createTestIssuer,
  parseChallenges,
  type TestIssuer,
} from '@gatehouse/sdk/testing';
import { quote } from '../src/errors.ts';
import { bearer, request } from './helpers.ts';

let issuer: TestIssuer;
before(async () => {
  issuer = await createTestIssuer();
});
after(() => issuer.close());

const bearerOnly = { realm: 'api', bearer: true, apiKey: undefined } as const;

describe('RFC 6750 responses', () => {
  test('no credentials: 401, Bearer realm only, no error code anywhere', async () => {
    const authenticator = createAuthenticator({ ...issuer.authenticatorOptions({ jwks: issuer.jwks() }), realm: 'items-api' });
    const outcome = await authenticator.authenticate(request({}));
    assert.ok(!outcome.ok);
    assert.equal(outcome.response.status, 401);
    assert.equal(outcome.response.headers['www-authenticate'], 'Bearer realm="items-api"');
    assert.equal(outcome.response.headers['content-type'], 'application/json; charset=utf-8');
    assert.deepEqual(JSON.parse(outcome.response.body), { error_description: 'Authentication is required' });
    assertMissingCredentials({ status: outcome.response.status, headers: outcome.response.headers, body: outcome.response.body }, { realm: 'items-api' });
  });

  test('each code has its status and wire error, built in one place', () => {
    const expected: Record<AuthErrorCode, [number, string | undefined]> = {
      missing_credentials: [401, undefined],
      invalid_request: [400, 'invalid_request'],
      invalid_token: [401, 'invalid_token'],
      insufficient_scope: [403, 'insufficient_scope'],
      too_many_requests: [429, 'too_many_requests'],
      temporarily_unavailable: [503, 'temporarily_unavailable'],
      cross_site_request: [403, 'cross_site_request'],
    };
    assert.deepEqual(Object.keys(AUTH_ERRORS).sort(), Object.keys(expected).sort());
    for (const [code, [status, wire]] of Object.entries(expected) as [AuthErrorCode, [number, string | undefined]][]) {
      const response = toErrorResponse(new AuthError(code, 'why', { requiredScopes: ['a', 'b'] }), bearerOnly);
      assert.equal(response.status, status, code);
      assert.equal(JSON.parse(response.body).error, wire, code);
      const challenge = response.headers['www-authenticate'];
      if (code === 'temporarily_unavailable' || code === 'too_many_requests' || code === 'cross_site_request') {
        assert.equal(challenge, undefined, `${status}: the credential was not judged`);
      } else if (code === 'missing_credentials') {
        assert.equal(challenge, 'Bearer realm="api"');
      } else {
        const [bearerChallenge] = parseChallenges(challenge ?? '');
        assert.equal(bearerChallenge?.params.error, wire);
        assert.equal(bearerChallenge?.params.error_description, 'why');
      }
    }
    // Retry-After in whole seconds (RFC 9110 §10.2.3), never 0.
    const throttled = toErrorResponse(new AuthError('too_many_requests', 'slow down', { retryAfter: 41.2 }), bearerOnly);
    assert.deepEqual([throttled.status, throttled.headers['retry-after']], [429, '42']);
    assert.equal(toErrorResponse(new AuthError('too_many_requests', 'x', { retryAfter: 0.001 }), bearerOnly).headers['retry-after'], '1');
    assert.equal(toErrorResponse(new AuthError('invalid_token', 'x'), bearerOnly).headers['retry-after'], undefined);
    const scoped = toErrorResponse(new AuthError('insufficient_scope', 'need more', { requiredScopes: ['me', 'items'] }), bearerOnly);
    assert.equal(scoped.headers['www-authenticate'], 'Bearer realm="api", error="insufficient_scope", error_description="need more", scope="me items"');
    // An empty list names no scope: no scope="" and no "scope" member in the body.
    const unscoped = toErrorResponse(new AuthError('insufficient_scope', 'not for you', { requiredScopes: [] }), bearerOnly);
    assert.equal(unscoped.headers['www-authenticate'], 'Bearer realm="api", error="insufficient_scope", error_description="not for you"');
    assert.deepEqual(JSON.parse(unscoped.body), { error: 'insufficient_scope', error_description: 'not for you' });
  });

  test('an error keeps its cause (what the issuer answered) and has none when not given', async () => {
    const down = await createTestIssuer();
    try {
      down.fail('jwks', 'unavailable');
      const outcome = await createAuthenticator(down.authenticatorOptions({ onError: () => {} })).authenticate(request(bearer(await down.mintAccessToken())));
      assert.ok(!outcome.ok);
      assert.equal(outcome.error.code, 'temporarily_unavailable');
      assert.match(String((outcome.error.cause as Error | undefined)?.message), /^jwks answered 503$/);
    } finally {
      await down.close();
    }
    assert.ok(!('cause' in new AuthError('invalid_token', 'x')));
  });

  test('the API key challenge: ApiKey realm, where the key goes, and the error on the scheme presented', () => {
    const both = { realm: 'api', bearer: true, apiKey: { header: 'X-API-Key', query: 'api_key' } };
    assert.equal(
      toErrorResponse(new AuthError('missing_credentials', 'x'), both).headers['www-authenticate'],
      'Bearer realm="api", ApiKey realm="api", header="X-API-Key", query="api_key"',
    );
    assert.equal(
      toErrorResponse(new AuthError('invalid_token', 'bad key', { scheme: 'ApiKey' }), both).headers['www-authenticate'],
      'Bearer realm="api", ApiKey realm="api", header="X-API-Key", query="api_key", error="invalid_token", error_description="bad key"',
    );
    assert.equal(
      toErrorResponse(new AuthError('invalid_token', 'bad token', { scheme: 'Bearer' }), both).headers['www-authenticate'],
      'Bearer realm="api", error="invalid_token", error_description="bad token", ApiKey realm="api", header="X-API-Key", query="api_key"',
    );
    const keysOnly = { realm: 'api', bearer: false, apiKey: { cookie: 'k' } };
    assert.equal(toErrorResponse(new AuthError('missing_credentials', 'x'), keysOnly).headers['www-authenticate'], 'ApiKey realm="api", cookie="k"');
  });
});

describe('sanitizing and never echoing', () => {
  test('quoted values keep only RFC 6750 characters: no quote, backslash, control or non-ASCII', () => {
    assert.equal(quote('plain text: ok!'), '"plain text: ok!"');
    assert.equal(quote('a"b\\c'), '"abc"');
    assert.equal(quote('line\r\nInjected: yes\u0000\u007f\t'), '"lineInjected: yes"');
    assert.equal(quote('café ☕'), '"caf "');
    const response = toErrorResponse(new AuthError('invalid_token', 'x"\r\nSet-Cookie: a=b', { requiredScopes: ['s"1'] }), {
      realm: 'r"\r\n',
      bearer: true,
      apiKey: { header: 'X-"K' },
    });
    const header = response.headers['www-authenticate'] ?? '';
    assert.doesNotMatch(header, /[\r\n\u0000]/);
    assert.equal((header.match(/"/g) ?? []).length % 2, 0);
    assert.doesNotThrow(() => new Headers({ 'www-authenticate': header }));
  });

  test('no failure ever echoes the credential or any part of it', async () => {
    const authenticator = createAuthenticator(issuer.authenticatorOptions({ credentials: { apiKey: true, cookie: 'c', query: true } }));
    const jwt = await issuer.mintAccessToken({ scopes: ['me'] });
    const [header, payload, signature] = jwt.split('.') as [string, string, string];
    const credentials: Record<string, string>[] = [
      bearer(await issuer.mintBadToken('expired')),
      bearer(await issuer.mintBadToken('wrong_audience')),
      bearer(`${header}.${payload}.${signature.slice(1)}`),
      bearer('opaque-secret-value-1234567890'),
      { 'x-api-key': 'ghk_secretSecretSecret' },
      { authorization: 'Bearer <script>alert(1)</script>' },
      { ...bearer(jwt), cookie: `c=${jwt}` },
      bearer(jwt),
    ];
    for (const headers of credentials) {
      const outcome = await authenticator.authenticate(request(headers, { method: 'POST' }), { scopes: ['items'] });
      assert.ok(!outcome.ok);
      const wire = JSON.stringify(outcome.response) + outcome.error.message + outcome.error.description;
      const secret = (headers.authorization ?? headers['x-api-key'] ?? '').replace(/^Bearer /, '');
      for (const part of [secret, ...secret.split('.')].filter((value) => value.length >= 8)) {
        assert.ok(!wire.includes(part), `response leaks part of the credential: ${part.slice(0, 12)}…`);
      }
      assert.ok(!wire.includes('user-1'), 'nor claims taken from it');
    }
  });
});

describe('the assertion helpers agree with the responses', () => {
  test('they accept the right answers', async () => {
    const authenticator = createAuthenticator(issuer.authenticatorOptions({ jwks: issuer.jwks() }));
    const as = async (headers: Record<string, string>, scopes?: string[]) => {
      const outcome = await authenticator.authenticate(request(headers), { scopes });
      assert.ok(!outcome.ok);
      return { statusCode: outcome.response.status, headers: outcome.response.headers, payload: outcome.response.body };
    };
    assertInvalidToken(await as(bearer(await issuer.mintBadToken('expired'))));
    assertInsufficientScope(await as(bearer(await issuer.mintAccessToken()), ['items', 'me']), { scopes: ['me', 'items'] });
    assertInvalidRequest(await as({ authorization: 'Bearer' }));
    assertMissingCredentials(await as({}));
  });
});
