// Client ID Metadata Documents (issue 15; docs/adr/0012): a client_id that is an https URL is
// resolved by fetching its document, with the protections such a fetch needs, and the client it
// describes is what Gatehouse decides (public or private_key_jwt, third-party, the APIs open to
// dynamic clients), never what the document claims. Real server, real https document server,
// real HTTP; the flows are driven by openid-client.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { test, type TestContext } from 'node:test';
import * as client from 'openid-client';
import { createBrowser, formValue, loginThroughForm } from '@gatehouse/test-support/browser';
import { startInProcess, testSecretKey } from '@gatehouse/test-support/gatehouse';
import { startHttpsServer, trustInThisProcess } from '@gatehouse/test-support/https-server';
import { ConfigError, loadConfig } from '../src/config/load.ts';
import { MAX_CLIENT_ID_URL_LENGTH, METADATA_FETCHES_PER_ADDRESS_PER_MINUTE, METADATA_DOCUMENT_MAX_BYTES, constrainMetadataDocumentClient, refusedDocumentUrl } from '../src/engine/metadata-documents.ts';
import * as apis from '../src/storage/apis.ts';
import * as clients from '../src/storage/clients.ts';
import * as roles from '../src/storage/roles.ts';
import * as users from '../src/storage/users.ts';
import { withPasswordHash } from '../src/passwords/user-passwords.ts';

const MCP = 'http://127.0.0.1:9/mcp';
const CLOSED = 'http://127.0.0.1:9/internal';
const REDIRECT = 'http://127.0.0.1:8999/callback';
const ADA = { username: 'ada', password: 'analytical engine 1843' };
const ON = { GATEHOUSE_CLIENT_ID_METADATA_DOCUMENTS: 'true', GATEHOUSE_CLIENT_ID_METADATA_DOCUMENTS_LOOPBACK: 'true' };

type Answer = (response: ServerResponse) => void;

async function setup(t: TestContext, env: Record<string, string> = ON) {
  const answers = new Map<string, Answer>();
  const documents = await startHttpsServer(t, (request, response) => {
    const answer = answers.get(request.url ?? '');
    if (answer) answer(response);
    else response.writeHead(404).end();
  });
  trustInThisProcess(t, documents.certificate);
  const server = await startInProcess(t, env);
  await apis.createApi(server.db, { identifier: MCP, name: 'MCP', scopes: 'tools:read tools:write', openToDynamicClients: true });
  await apis.createApi(server.db, { identifier: CLOSED, name: 'Internal', scopes: 'tools:read internal' });
  await roles.createRole(server.db, { name: 'tools', scopes: 'tools:read tools:write internal' });
  await users.createUser(server.db, await withPasswordHash({ ...ADA, email: 'ada@example.com', roles: ['tools'] }));

  /** Serves a document at `path` (JSON, or the given answer) and returns its URL, the client id. */
  const serve = (path: string, document: Record<string, unknown> | Answer = {}, headers: Record<string, string> = {}): string => {
    const clientId = `${documents.origin}${path}`;
    answers.set(
      path,
      typeof document === 'function'
        ? document
        : (response) =>
            response
              .writeHead(200, { 'content-type': 'application/json', ...headers })
              .end(JSON.stringify({ client_id: clientId, client_name: 'Agent', redirect_uris: [REDIRECT], grant_types: ['authorization_code', 'refresh_token'], token_endpoint_auth_method: 'none', ...document })),
    );
    return clientId;
  };
  const fetchesOf = (path: string) => documents.requests.filter((p) => p === path).length;

  /** The authorization request a public client sends; the page or redirect it gets. */
  const authorize = async (clientId: string, redirectUri = REDIRECT) => {
    const url = new URL(`${server.issuer}/authorize`);
    url.search = new URLSearchParams({
      client_id: clientId,
      response_type: 'code',
      redirect_uri: redirectUri,
      scope: 'tools:read',
      resource: MCP,
      code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
    }).toString();
    const response = await fetch(url, { redirect: 'manual' });
    return { status: response.status, location: response.headers.get('location'), body: await response.text() };
  };
  return { ...server, documents, serve, fetchesOf, authorize };
}

/** RFC 7662 as a resource server calls it: a stored confidential client allowed nothing else. */
async function introspector(db: Parameters<typeof clients.createClient>[0], issuer: string) {
  const clientId = 'resource-server';
  const { clientSecret } = await clients.createClient(db, { clientId, name: 'Resource server', grantTypes: 'client_credentials' });
  return async (token: string, at = issuer) => {
    const answer = await fetch(`${at}/introspect`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}` },
      body: new URLSearchParams({ token }),
    });
    assert.equal(answer.status, 200);
    return (await answer.json()) as Record<string, unknown>;
  };
}

const pick = (record: Record<string, unknown>, ...keys: string[]) => Object.fromEntries(keys.map((key) => [key, record[key]]));

const discovery = async (issuer: string) => (await (await fetch(`${issuer}/.well-known/oauth-authorization-server`)).json()) as Record<string, unknown>;

/** Refused before a login page: oidc-provider's error page, never a redirect to the client. */
function assertRefused(answer: { status: number; location: string | null; body: string }, why: RegExp, what: string, code = 'invalid_client'): void {
  assert.equal(answer.status, 400, `${what}: ${answer.status} ${answer.location ?? ''}`);
  assert.equal(answer.location, null, what);
  assert.match(answer.body, new RegExp(`<code>${code}</code>`), what);
  assert.match(answer.body, why, what);
}

test('off by default: not advertised, and a URL client_id is an unknown client that is never fetched', async (t) => {
  const { issuer, serve, fetchesOf, authorize } = await setup(t, {});
  assert.equal((await discovery(issuer)).client_id_metadata_document_supported, false);
  const clientId = serve('/agent.json');
  assert.equal((await authorize(clientId)).status, 400);
  assert.equal(fetchesOf('/agent.json'), 0);
});

test('a document client signs in through a consent page naming its host, and gets tokens for the open API only, whatever its document claims', async (t) => {
  const { issuer, serve, documents, server, db, databaseUrl } = await setup(t);
  assert.equal((await discovery(issuer)).client_id_metadata_document_supported, true);
  // Everything Gatehouse decides, claimed by the document: first party (no consent), APIs and
  // scopes by name, a CORS origin, an API scope in `scope`.
  const clientId = serve('/agent.json', {
    first_party: true,
    apis: [CLOSED],
    api_scopes: ['internal'],
    cors_origins: ['https://evil.example'],
    registered_dynamically: false,
    scope: 'openid internal',
  });
  const config = await client.discovery(new URL(issuer), clientId, undefined, client.None(), { execute: [client.allowInsecureRequests] });
  const authorize = async (resource: string) => {
    const verifier = client.randomPKCECodeVerifier();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT,
      scope: 'tools:read internal',
      resource,
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    return { verifier, result: await loginThroughForm(createBrowser(), url, ADA, REDIRECT) };
  };
  const { verifier, result } = await authorize(MCP);
  const consent = result.pages.find((page) => page.includes('/consent'));
  assert.ok(consent, 'a consent page was shown: the document cannot make itself first party');
  assert.match(consent, new RegExp(`described by <strong class="publisher">127\\.0\\.0\\.1:${documents.port}</strong>`));
  assert.match(consent, /answering at <strong class="destination">127\.0\.0\.1:8999<\/strong>/);

  const tokens = await client.authorizationCodeGrant(config, result.callback, { pkceCodeVerifier: verifier, expectedState: client.skipStateCheck }, { resource: MCP });
  const claims = JSON.parse(Buffer.from(tokens.access_token.split('.')[1]!, 'base64url').toString()) as { aud: string; scope: string; client_id: string };
  assert.deepEqual([claims.aud, claims.scope, claims.client_id], [MCP, 'tools:read', clientId]);
  assert.ok(tokens.refresh_token, 'a refresh token without offline_access, as MCP clients expect');
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token!, { resource: MCP });
  assert.ok(refreshed.access_token);
  // A resource server that introspects sees the token active (the client is not stored: its
  // reach is the APIs open to dynamic clients), and inactive once the API is closed to them.
  const introspect = await introspector(db, issuer);
  assert.deepEqual(pick(await introspect(refreshed.access_token), 'active', 'client_id', 'aud', 'scope'), { active: true, client_id: clientId, aud: MCP, scope: 'tools:read' });
  // An instance with documents turned off (same database, same public URL) knows no such client,
  // nor its tokens.
  const without = await startInProcess(t, { GATEHOUSE_DATABASE_URL: databaseUrl, GATEHOUSE_PUBLIC_URL: issuer });
  assert.deepEqual(await introspect(refreshed.access_token, without.issuer), { active: false });

  // The API the document named is not open to dynamic clients: invalid_target, as for anyone.
  // An error of a dynamic client's request is shown here, not sent to its redirect URI (which
  // anyone may have chosen: RFC 9700 §4.11.2; provider.ts).
  const refused = await fetch(
    client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: 'tools:read', resource: CLOSED, code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()), code_challenge_method: 'S256' }),
    { redirect: 'manual' },
  );
  assert.equal(refused.status, 400);
  assert.match(await refused.text(), /<code>invalid_target<\/code>/);

  await apis.updateApi(db, (await apis.findApi(db, MCP))!.id, { openToDynamicClients: false });
  await server.changed('apis');
  assert.deepEqual(await introspect(refreshed.access_token), { active: false });

  // Its CORS origin was not taken: a browser on that origin may not use the token endpoint.
  const fromBrowser = await fetch(`${issuer}/token`, {
    method: 'POST',
    headers: { origin: 'https://evil.example', 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshed.refresh_token!, client_id: clientId, resource: MCP }),
  });
  assert.equal(fromBrowser.status, 400);
  assert.equal(((await fromBrowser.json()) as { error: string }).error, 'invalid_request');
  assert.equal(fromBrowser.headers.get('access-control-allow-origin'), null);
});

test('a document that lies or misbehaves is refused: each protection of the fetch and of the metadata', async (t) => {
  const { serve, authorize, fetchesOf, documents } = await setup(t);
  // Fetch failures are invalid_client; a document that says what it may not, invalid_client_metadata.
  const FETCH = 'invalid_client';
  const METADATA = 'invalid_client_metadata';
  const cases: [string, Record<string, unknown> | Answer, RegExp, string][] = [
    ['/wrong-id.json', { client_id: 'https://other.example/agent.json' }, /client_id does not match/, METADATA],
    ['/too-large.json', { client_name: 'x'.repeat(METADATA_DOCUMENT_MAX_BYTES) }, /fetch failed/, FETCH],
    ['/redirects.json', (response) => response.writeHead(302, { location: 'https://10.0.0.1/agent.json' }).end(), /fetch failed/, FETCH],
    ['/not-json.json', (response) => response.writeHead(200, { 'content-type': 'application/json' }).end('<html>'), /fetch failed/, FETCH],
    ['/array.json', (response) => response.writeHead(200, { 'content-type': 'application/json' }).end('[]'), /not a JSON object/, METADATA],
    ['/gone.json', (response) => response.writeHead(500).end(), /fetch failed/, FETCH],
    ['/secret.json', { token_endpoint_auth_method: 'client_secret_post' }, /shared-secret/, METADATA],
    ['/with-secret.json', { client_secret: 'chosen by the client' }, /client_secret/, METADATA],
    ['/machine.json', { grant_types: ['client_credentials'] }, /only authorization_code and refresh_token/, METADATA],
    ['/http-redirect.json', { redirect_uris: ['http://evil.example/callback'] }, /must use https/, 'invalid_redirect_uri'],
    ['/jwt-without-keys.json', { token_endpoint_auth_method: 'private_key_jwt' }, /needs a jwks_uri/, METADATA],
  ];
  for (const [path, document, why, code] of cases) {
    const answer = await authorize(serve(path, document));
    assertRefused(answer, why, path, code);
    // Fetched (a refused document is not cached: oidc-provider looks for the client again to
    // render its error, so a refusal may cost two fetches, both within the per-address limit).
    assert.ok(fetchesOf(path) >= 1, `${path} was fetched`);
  }
  // A redirect URI the document does not list: oidc-provider's redirect check, with the document's list.
  const listed = serve('/listed.json');
  const other = await authorize(listed, 'http://127.0.0.1:8999/elsewhere');
  assert.equal(other.status, 400);
  assert.equal(other.location, null, 'never sent to an unlisted redirect URI');
  assert.match(other.body, /redirect_uri did not match/);
  // The redirect to a private address was not followed.
  assert.deepEqual(documents.requests.filter((p) => p.includes('agent.json')), []);
});

test('a document server that never answers is given up on, and the client refused', async (t) => {
  const { serve, authorize } = await setup(t);
  // Holds the request open until the test ends (oidc-provider's fetch gives up after 2.5 s).
  const answer = await authorize(serve('/slow.json', () => {}));
  assertRefused(answer, /fetch failed/, 'slow');
});

test('some URLs are never fetched: private, link-local and loopback addresses, no path, a query', async (t) => {
  const server = await setup(t, { GATEHOUSE_CLIENT_ID_METADATA_DOCUMENTS: 'true' });
  const loopbackDocument = server.serve('/agent.json');
  for (const clientId of [
    loopbackDocument,
    `https://localhost:${server.documents.port}/agent.json`,
    // 2130706433 is 127.0.0.1 written as one number: the URL parser normalizes it first.
    `https://2130706433:${server.documents.port}/agent.json`,
    'https://10.1.2.3/agent.json',
    'https://169.254.169.254/latest/meta-data',
    'https://[fd00::1]/agent.json',
    'https://[::ffff:192.168.0.1]/agent.json',
    'https://100.64.0.1/agent.json',
  ]) {
    assertRefused(await server.authorize(clientId), /not fetched from/, clientId);
  }
  assertRefused(await server.authorize('https://agent.example/'), /must have a path/, 'bare origin');
  assertRefused(await server.authorize('https://agent.example/agent.json?x=1'), /must not have a query/, 'query');
  assertRefused(await server.authorize(`https://agent.example/${'a'.repeat(MAX_CLIENT_ID_URL_LENGTH)}.json`), /at most 1024 characters/, 'long');
  assert.deepEqual(server.documents.requests, [], 'nothing reached the document server');
  // The rule alone, for the addresses the suite cannot reach.
  assert.equal(refusedDocumentUrl('https://agent.example/agent.json', false), undefined);
  // The length limit is inclusive: a URL of exactly the limit is taken, one character more is not.
  const atLimit = `https://agent.example/${'a'.repeat(MAX_CLIENT_ID_URL_LENGTH - 'https://agent.example/.json'.length)}.json`;
  assert.equal(atLimit.length, MAX_CLIENT_ID_URL_LENGTH);
  assert.equal(refusedDocumentUrl(atLimit, false), undefined);
  assert.match(refusedDocumentUrl(`${atLimit}x`, false)!, /at most 1024 characters/);
  assert.match(refusedDocumentUrl('https://[fe80::1]/agent.json', false)!, /link-local/);
  // oidc-provider only takes https URLs for document clients; the rule refuses the others itself.
  assert.match(refusedDocumentUrl('http://agent.example/agent.json', false)!, /over https only/);
  assert.match(refusedDocumentUrl('http://localhost/agent.json', true)!, /over https only/, 'even with loopback documents allowed');
  assert.match(refusedDocumentUrl('not a url', false)!, /not a URL/);
});

test('a fetched document is kept at least a minute, whatever its Cache-Control says', async (t) => {
  const { serve, authorize, fetchesOf } = await setup(t);
  const clientId = serve('/cached.json', {}, { 'cache-control': 'max-age=0' });
  for (let i = 0; i < 3; i++) {
    const answer = await authorize(clientId);
    assert.equal(answer.status, 303, answer.body.slice(0, 200));
    assert.match(answer.location!, /\/interaction\//);
  }
  assert.equal(fetchesOf('/cached.json'), 1);
});

test('one address may make the server fetch only so many documents a minute', async (t) => {
  const { serve, authorize, fetchesOf } = await setup(t);
  for (let i = 0; i < METADATA_FETCHES_PER_ADDRESS_PER_MINUTE; i++) {
    assert.equal((await authorize(serve(`/many-${i}.json`))).status, 303);
  }
  assertRefused(await authorize(serve('/one-too-many.json')), /too many client metadata documents/, 'over the limit');
  assert.equal(fetchesOf('/one-too-many.json'), 0);
});

test('a document client with private_key_jwt and a jwks_uri authenticates with its key', async (t) => {
  const { issuer, serve, documents } = await setup(t);
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'agent-1', use: 'sig', alg: 'ES256' };
  serve('/jwks.json', (response) => response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] })));
  const clientId = serve('/confidential.json', { token_endpoint_auth_method: 'private_key_jwt', jwks_uri: `${documents.origin}/jwks.json`, token_endpoint_auth_signing_alg: 'ES256' });
  const key = { key: await crypto.subtle.importKey('jwk', { ...privateKey.export({ format: 'jwk' }) }, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']), kid: 'agent-1' };
  const config = await client.discovery(new URL(issuer), clientId, undefined, client.PrivateKeyJwt(key), { execute: [client.allowInsecureRequests] });
  const verifier = client.randomPKCECodeVerifier();
  const url = client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: 'tools:read', resource: MCP, code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' });
  const { callback } = await loginThroughForm(createBrowser(), url, ADA, REDIRECT);
  const tokens = await client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: client.skipStateCheck }, { resource: MCP });
  assert.ok(tokens.access_token);

  // It may not introspect: a key in a document anyone can publish is no reason to trust a client
  // with other clients' tokens (RFC 7662 §2.1 leaves who may to the server).
  assert.deepEqual(await client.tokenIntrospection(config, tokens.access_token), { active: false });

  // The same client without its key is refused: it is confidential.
  const keyless = await client.discovery(new URL(issuer), clientId, undefined, client.None(), { execute: [client.allowInsecureRequests] });
  await assert.rejects(client.refreshTokenGrant(keyless, tokens.refresh_token!, { resource: MCP }), (error: client.ResponseBodyError) => error.error === 'invalid_client');
});

test('the loopback allowance is for development only, and only with documents on', () => {
  const env = { GATEHOUSE_SECRET_KEY: testSecretKey(undefined), GATEHOUSE_PUBLIC_URL: 'https://auth.example.com', ...ON };
  assert.throws(() => loadConfig(env), (error: ConfigError) => error.problems.some((p) => /GATEHOUSE_CLIENT_ID_METADATA_DOCUMENTS_LOOPBACK: for development only/.test(p)));
  assert.throws(
    () => loadConfig({ GATEHOUSE_CLIENT_ID_METADATA_DOCUMENTS_LOOPBACK: 'true' }),
    (error: ConfigError) => error.problems.some((p) => /needs GATEHOUSE_CLIENT_ID_METADATA_DOCUMENTS=true/.test(p)),
  );
  assert.equal(loadConfig(ON).config.clientIdMetadataDocumentsLoopback, true);
});

test('a document cannot register a back-channel logout URI: the server never POSTs where a stranger says (ADR 0013)', async (t) => {
  const { issuer, serve, documents, fetchesOf } = await setup(t);
  // An https URI (oidc-provider refuses any other in a document) on the document server itself.
  const clientId = serve('/logout-agent.json', { backchannel_logout_uri: `${documents.origin}/bcl`, backchannel_logout_session_required: true });
  const config = await client.discovery(new URL(issuer), clientId, undefined, client.None(), { execute: [client.allowInsecureRequests] });
  const verifier = client.randomPKCECodeVerifier();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT,
    scope: 'openid tools:read',
    resource: MCP,
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
  });
  const browser = createBrowser();
  const { callback } = await loginThroughForm(browser, url, ADA, REDIRECT);
  const tokens = await client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: client.skipStateCheck }, { resource: MCP });
  assert.equal(tokens.claims()?.sid, undefined, 'no sid: the client has no back-channel URI');
  const page = await browser.get(`${issuer}/logout`);
  const html = await page.text();
  const confirmed = await browser.post(new URL(/action="([^"]+)"/.exec(html)![1]!, issuer), { xsrf: formValue(html, 'xsrf'), logout: 'yes' });
  assert.equal(confirmed.status, 303);
  assert.equal(fetchesOf('/bcl'), 0, 'nothing was sent to the URI the document named');
});

test("a document's scope: OpenID scopes only, offline_access only with refresh tokens, all of them when it says none", () => {
  const OIDC = ['openid', 'profile', 'email', 'offline_access'];
  const constrained = (document: Record<string, unknown>) => {
    const metadata: Record<string, unknown> = { client_id: 'https://agent.example/agent.json', redirect_uris: ['https://agent.example/cb'], ...document };
    constrainMetadataDocumentClient(metadata, OIDC);
    return metadata.scope;
  };
  assert.equal(constrained({}), 'openid profile email', 'silent: every OpenID scope but offline_access (no refresh grant)');
  assert.equal(constrained({ grant_types: ['authorization_code', 'refresh_token'] }), 'openid profile email offline_access');
  assert.equal(constrained({ scope: 'email items:write admin' }), 'email', 'API scopes come from the API policy, not the document');
  assert.equal(constrained({ scope: 'items:write' }), 'openid', 'nothing left: openid');
  // Not a document client: left alone.
  const registered: Record<string, unknown> = { client_id: 'app', scope: 'items:write' };
  constrainMetadataDocumentClient(registered, OIDC);
  assert.equal(registered.scope, 'items:write');
});

// engine/public-client-basic.ts: a client id in `Authorization: Basic base64("<id>:")` is looked
// up before oidc-provider's context exists. A URL id is left to oidc-provider, so its document is
// fetched under the same per-address limit as at /authorize, never around it.
test('a document client named in a Basic header is fetched under the per-address limit too', async (t) => {
  const { serve, documents, issuer } = await setup(t);
  const urls = Array.from({ length: METADATA_FETCHES_PER_ADDRESS_PER_MINUTE + 5 }, (_, i) => serve(`/basic-${i}.json`));
  for (const url of urls) {
    const answer = await fetch(`${issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${encodeURIComponent(url)}:`).toString('base64')}` },
      body: new URLSearchParams({ grant_type: 'authorization_code', code: 'nothing', redirect_uri: REDIRECT, code_verifier: 'x'.repeat(43) }).toString(),
    });
    assert.ok(answer.status >= 400 && answer.status < 500, `${answer.status}`);
    await answer.body?.cancel();
  }
  const fetched = documents.requests.filter((path) => path.startsWith('/basic-')).length;
  assert.ok(fetched <= METADATA_FETCHES_PER_ADDRESS_PER_MINUTE, `${fetched} documents fetched for one address`);
});
