// SECURITY.md: "Scope matching is exact and case-sensitive on space-delimited values. A
// client-credentials token has no user and must not pass as one." Plus optional authentication.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createAuthenticator, principalKind, type Authenticator, type AuthOutcome, type AuthRequirement } from '@gatehouse/sdk';
import { createTestIssuer, type MintOptions, type TestIssuer } from '@gatehouse/sdk/testing';
import { bearer, request } from './helpers.ts';

let issuer: TestIssuer;
let authenticator: Authenticator;
before(async () => {
  issuer = await createTestIssuer();
  authenticator = createAuthenticator(issuer.authenticatorOptions({ jwks: issuer.jwks(), credentials: { apiKey: true } }));
});
after(() => issuer.close());

async function withScopes(scope: MintOptions['scopes'] | undefined, requirement: AuthRequirement, claims?: Record<string, unknown>): Promise<AuthOutcome> {
  const token = await issuer.mintAccessToken({ scopes: scope, claims });
  return authenticator.authenticate(request(bearer(token)), requirement);
}

function codeOf(outcome: AuthOutcome): string {
  return outcome.ok ? 'ok' : outcome.error.code;
}

describe('scopes', () => {
  test('matching is exact and case-sensitive, on space-delimited values', async () => {
    const need = { scopes: ['items'] };
    assert.equal(codeOf(await withScopes('items', need)), 'ok');
    assert.equal(codeOf(await withScopes('me items', need)), 'ok');
    for (const granted of ['Items', 'ITEMS', 'items:read', 'item', 'itemsx', 'my-items', 'me,items', 'me;items', '"items"', '']) {
      assert.equal(codeOf(await withScopes(granted, need)), 'insufficient_scope', JSON.stringify(granted));
    }
    assert.equal(codeOf(await withScopes(undefined, need)), 'insufficient_scope');
    assert.equal(codeOf(await withScopes('accounts:read', { scopes: ['accounts:read'] })), 'ok');
    assert.equal(codeOf(await withScopes('accounts', { scopes: ['accounts:read'] })), 'insufficient_scope');
  });

  test('all-of: every listed scope; the 403 lists them all in scope="…"', async () => {
    const need = { scopes: ['me', 'items'] };
    assert.equal(codeOf(await withScopes(['items', 'me', 'extra'], need)), 'ok');
    const outcome = await withScopes(['items'], need);
    assert.equal(codeOf(outcome), 'insufficient_scope');
    if (!outcome.ok) {
      assert.equal(outcome.response.status, 403);
      assert.match(outcome.response.headers['www-authenticate'] ?? '', /error="insufficient_scope".*scope="me items"/);
      assert.equal(JSON.parse(outcome.response.body).scope, 'me items');
    }
  });

  test('any-of: one listed scope is enough; both kinds combine', async () => {
    const need = { anyScopes: ['accounts:read', 'admin'] };
    assert.equal(codeOf(await withScopes('admin', need)), 'ok');
    assert.equal(codeOf(await withScopes('accounts:read', need)), 'ok');
    const outcome = await withScopes('items', need);
    assert.equal(outcome.ok ? undefined : outcome.error.requiredScopes?.join(' '), 'accounts:read admin');
    const both = { scopes: ['me'], anyScopes: ['a', 'b'] };
    assert.equal(codeOf(await withScopes('me b', both)), 'ok');
    assert.equal(codeOf(await withScopes('a b', both)), 'insufficient_scope');
    assert.equal(codeOf(await withScopes('me', both)), 'insufficient_scope');
  });

  test('an scp array is read when scope is absent', async () => {
    assert.equal(codeOf(await withScopes(undefined, { scopes: ['items'] }, { scp: ['items', 'me'] })), 'ok');
    assert.equal(codeOf(await withScopes(undefined, { scopes: ['items'] }, { scp: ['Items'] })), 'insufficient_scope');
  });

  test('an scp that is neither a string nor an array of strings makes the token malformed, never a partial grant', async () => {
    for (const scp of [['items', 1], ['items', null], 5, { items: true }]) {
      const outcome = await withScopes(undefined, { scopes: ['items'] }, { scp });
      assert.equal(outcome.ok ? 'ok' : `${outcome.error.code}: ${outcome.error.description}`, 'invalid_token: The access token is malformed', JSON.stringify(scp));
    }
  });

  test('an scp string (as some issuers send it) is read as space-delimited values', async () => {
    assert.equal(codeOf(await withScopes(undefined, { scopes: ['items'] }, { scp: 'me items' })), 'ok');
    assert.equal(codeOf(await withScopes(undefined, { scopes: ['items'] }, { scp: 'me  Items' })), 'insufficient_scope');
  });

  test('a token exactly as long as maxTokenLength is accepted; one character more is refused', async () => {
    const token = await issuer.mintAccessToken({ scopes: 'items' });
    const capped = (maxTokenLength: number) => createAuthenticator(issuer.authenticatorOptions({ jwks: issuer.jwks(), maxTokenLength }));
    assert.equal(codeOf(await capped(token.length).authenticate(request(bearer(token)), { scopes: ['items'] })), 'ok');
    assert.equal(codeOf(await capped(token.length - 1).authenticate(request(bearer(token)), { scopes: ['items'] })), 'invalid_token');
  });

  test('a principal\'s scopes cannot be changed by a handler (principals are cached)', async () => {
    const token = await issuer.mintAccessToken({ scopes: ['me'] });
    const first = await authenticator.authenticate(request(bearer(token)));
    assert.ok(first.ok && first.principal);
    const scopes = first.principal.scopes as Set<string>;
    assert.throws(() => scopes.add('admin'), TypeError);
    assert.throws(() => scopes.delete('me'), TypeError);
    assert.throws(() => scopes.clear(), TypeError);
    assert.ok(Object.isFrozen(first.principal) && Object.isFrozen(first.principal.claims));
    assert.equal(codeOf(await authenticator.authenticate(request(bearer(token)), { scopes: ['admin'] })), 'insufficient_scope');
  });

  test('scope requirements are validated when declared', () => {
    for (const bad of [{ scopes: ['two words'] }, { scopes: [''] }, { scopes: ['a"b'] }, { anyScopes: ['back\\slash'] }, { scopes: 'items' }]) {
      assert.throws(() => authenticator.requirement(bad as AuthRequirement), /auth\.(any)?[sS]copes/);
    }
  });
  test('kinds and sources are validated when declared: a non-empty array of known names', () => {
    const refusals: [AuthRequirement, RegExp][] = [
      [{ kinds: [] }, /^TypeError: auth\.kinds: expected a non-empty array of user, client, api_key$/],
      [{ kinds: 'user' as never }, /^TypeError: auth\.kinds: expected a non-empty array of user, client, api_key$/],
      [{ kinds: ['robot' as never] }, /^TypeError: auth\.kinds\[0\]: expected one of user, client, api_key$/],
      [{ sources: [] }, /^TypeError: auth\.sources: expected a non-empty array of bearer, cookie, query, apiKey$/],
      [{ sources: ['bearer', 'header' as never] }, /^TypeError: auth\.sources\[1\]: expected one of bearer, cookie, query, apiKey$/],
    ];
    for (const [bad, message] of refusals) assert.throws(() => authenticator.requirement(bad), message, JSON.stringify(bad));
    assert.deepEqual([...authenticator.requirement({ kinds: ['client', 'user'] }).kinds], ['client', 'user']);
  });
});

describe('challenges', () => {
  test('a route challenges with the schemes it reads: Bearer for a header, cookie or query token, ApiKey for keys', async () => {
    const everySource = createAuthenticator(
      issuer.authenticatorOptions({ jwks: issuer.jwks(), credentials: { cookie: 'access_token', query: true, apiKey: true } }),
    );
    const challenge = async (sources: AuthRequirement['sources']): Promise<string | undefined> => {
      const outcome = await everySource.authenticate(request({}), { sources });
      return outcome.ok ? 'ok' : outcome.response.headers['www-authenticate'];
    };
    for (const token of ['bearer', 'cookie', 'query'] as const) assert.match((await challenge([token])) ?? '', /^Bearer realm="[^"]*"$/, token);
    assert.match((await challenge(['apiKey'])) ?? '', /^ApiKey realm="[^"]*", header="X-API-Key"$/);
    assert.match((await challenge(['cookie', 'apiKey'])) ?? '', /^Bearer realm="[^"]*", ApiKey realm=/);
  });
});

describe('principal kinds', () => {
  test('the kind rule: API-key source → api_key; no sub, sub = client_id or client_credentials → client; else user', () => {
    assert.equal(principalKind('api_key', { sub: 'u' }), 'api_key');
    assert.equal(principalKind('token', { client_id: 'c' }), 'client');
    assert.equal(principalKind('token', { sub: 'c', client_id: 'c' }), 'client');
    assert.equal(principalKind('token', { sub: 'u', client_id: 'c', gty: 'client_credentials' }), 'client');
    assert.equal(principalKind('token', { sub: 'u', client_id: 'c', grant_type: 'client_credentials' }), 'client');
    assert.equal(principalKind('token', { sub: 'u', client_id: 'c', gty: 'authorization_code' }), 'user');
    assert.equal(principalKind('token', { sub: 'u' }), 'user');
  });

  test('a client-credentials token never passes as a user: kinds [\'user\'] answers 403', async () => {
    const userOnly = { kinds: ['user'] } as const;
    const tokens = {
      clientCredentials: await issuer.mintClientToken({ scopes: ['items'] }),
      noSub: await issuer.mintAccessToken({ sub: null, scopes: ['items'] }),
      subIsClient: await issuer.mintAccessToken({ sub: 'svc', clientId: 'svc', scopes: ['items'] }),
    };
    for (const [name, token] of Object.entries(tokens)) {
      const outcome = await authenticator.authenticate(request(bearer(token)), userOnly);
      assert.equal(codeOf(outcome), 'insufficient_scope', name);
      if (!outcome.ok) {
        assert.equal(outcome.response.status, 403);
        assert.match(outcome.error.description, /does not accept client credentials/);
      }
      const anyKind = await authenticator.authenticate(request(bearer(token)));
      assert.equal(anyKind.ok && anyKind.principal?.kind, 'client', name);
    }
    const user = await authenticator.authenticate(request(bearer(await issuer.mintAccessToken())), userOnly);
    assert.equal(user.ok && user.principal?.kind, 'user');
    const key = await authenticator.authenticate(request({ 'x-api-key': issuer.createApiKey() }), userOnly);
    assert.equal(codeOf(key), 'insufficient_scope');
  });

  test('the principal carries subject, clientId, scopes, claims and expiresAt', async () => {
    const token = await issuer.mintAccessToken({ sub: 'johndoe', clientId: 'docs', scopes: ['me', 'items'], expiresIn: 600, claims: { tenant: 't1' } });
    const outcome = await authenticator.authenticate(request(bearer(token)));
    assert.ok(outcome.ok && outcome.principal);
    const { principal } = outcome;
    assert.equal(principal.kind, 'user');
    assert.equal(principal.subject, 'johndoe');
    assert.equal(principal.clientId, 'docs');
    assert.deepEqual([...principal.scopes].sort(), ['items', 'me']);
    assert.equal(principal.claims.tenant, 't1');
    assert.equal(principal.expiresAt?.getTime(), (principal.claims.exp as number) * 1000);
    const client = await authenticator.authenticate(request(bearer(await issuer.mintAccessToken({ sub: null, clientId: 'svc' }))));
    assert.equal(client.ok && client.principal?.subject, 'svc', 'a client\'s subject is its client id');
    const nobody = await authenticator.authenticate(request(bearer(await issuer.mintAccessToken({ sub: null, claims: { client_id: undefined } }))));
    assert.equal(codeOf(nobody), 'invalid_token');
  });
});

describe('answers to share', () => {
  test('a success from a query token says Cache-Control: no-store, first time and cached; from a header, nothing', async () => {
    // The URL holds the credential: a cache keyed by it must not keep the answer.
    const both = createAuthenticator(issuer.authenticatorOptions({ jwks: issuer.jwks(), credentials: { query: true } }));
    const token = await issuer.mintAccessToken({ scopes: ['items'] });
    const url = `https://api.example.test/items?access_token=${token}`;
    for (const attempt of ['first', 'cached']) {
      const fromQuery = await both.authenticate(request({}, { url }), { scopes: ['items'] });
      assert.deepEqual(fromQuery.ok && fromQuery.headers, { 'cache-control': 'no-store' }, attempt);
      const fromHeader = await both.authenticate(request(bearer(token)), { scopes: ['items'] });
      assert.deepEqual(fromHeader.ok && fromHeader.headers, undefined, attempt);
    }
  });
});

describe('optional authentication', () => {
  test('no credential → no principal; a bad credential is still 401; scopes still apply', async () => {
    const optional = { optional: true, scopes: ['items'] };
    const anonymous = await authenticator.authenticate(request({}), optional);
    assert.deepEqual(anonymous, { ok: true, principal: undefined });
    assert.equal(codeOf(await authenticator.authenticate(request(bearer(await issuer.mintBadToken('expired'))), optional)), 'invalid_token');
    assert.equal(codeOf(await authenticator.authenticate(request({ authorization: 'Bearer' }), optional)), 'invalid_request');
    assert.equal(codeOf(await authenticator.authenticate(request(bearer(await issuer.mintAccessToken({ scopes: ['me'] }))), optional)), 'insufficient_scope');
    const signedIn = await authenticator.authenticate(request(bearer(await issuer.mintAccessToken({ scopes: ['items'] }))), optional);
    assert.equal(signedIn.ok && signedIn.principal?.subject, 'user-1');
    // Without optional, the same anonymous request is a 401.
    assert.equal(codeOf(await authenticator.authenticate(request({}), { scopes: ['items'] })), 'missing_credentials');
  });
});

describe('verify() outside HTTP', () => {
  test('verifies one credential (token or API key) and throws AuthError otherwise', async () => {
    const principal = await authenticator.verify(await issuer.mintAccessToken({ sub: 'ws-user' }));
    assert.equal(principal.subject, 'ws-user');
    assert.equal((await authenticator.verify(issuer.createApiKey({ sub: 'k' }), { apiKey: true })).kind, 'api_key');
    await assert.rejects(authenticator.verify(await issuer.mintBadToken('expired')), (error: unknown) => {
      assert.ok(error instanceof Error && error.name === 'AuthError');
      assert.equal((error as { code?: string }).code, 'invalid_token');
      return true;
    });
    await assert.rejects(authenticator.verify(''), /Authentication is required/);
  });
});
