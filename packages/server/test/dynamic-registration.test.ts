// Dynamic client registration (RFC 7591) for MCP clients (issue 15; docs/adr/0011): off by default;
// when on, what a client registers as is decided here, not by what it asks for: public,
// third-party, authorization code + refresh token, the APIs open to such clients and no other,
// the redirect URI rules of ADR 0009, a rate limit per address. Real server, real HTTP.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import * as client from 'openid-client';
import * as apis from '../src/storage/apis.ts';
import * as clients from '../src/storage/clients.ts';
import { listAuditEvents } from '../src/storage/audit.ts';
import * as roles from '../src/storage/roles.ts';
import * as users from '../src/storage/users.ts';
import { withPasswordHash } from '../src/passwords/user-passwords.ts';
import { REGISTRATIONS_PER_ADDRESS_PER_HOUR } from '../src/engine/dynamic-registration.ts';
import { createBrowser, loginThroughForm } from '@gatehouse/test-support/browser';
import { cli, startInProcess } from '@gatehouse/test-support/gatehouse';
import { startAdmin } from './admin-support.ts';

const MCP = 'http://127.0.0.1:9/mcp';
const CLOSED = 'http://127.0.0.1:9/internal';
const REDIRECT = 'http://127.0.0.1:8999/callback';

async function setup(t: TestContext, env: Record<string, string> = { GATEHOUSE_DYNAMIC_CLIENT_REGISTRATION: 'true' }) {
  const server = await startInProcess(t, env);
  await apis.createApi(server.db, { identifier: MCP, name: 'MCP', scopes: 'tools:read tools:write', openToDynamicClients: true });
  await apis.createApi(server.db, { identifier: CLOSED, name: 'Internal', scopes: 'tools:read internal' });
  await roles.createRole(server.db, { name: 'tools', scopes: 'tools:read tools:write internal' });
  await users.createUser(server.db, await withPasswordHash({ username: 'ada', email: 'ada@example.com', password: 'analytical engine 1843', roles: ['tools'] }));
  const register = async (body: unknown) => {
    const response = await fetch(`${server.issuer}/connect/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: response.status, headers: response.headers, body: (await response.json()) as Record<string, unknown> };
  };
  return { ...server, register };
}

const discovery = async (issuer: string) => (await (await fetch(`${issuer}/.well-known/oauth-authorization-server`)).json()) as Record<string, unknown>;

test('off by default: no registration endpoint, in the discovery document or at its path', async (t) => {
  const { issuer, register } = await setup(t, {});
  const metadata = await discovery(issuer);
  assert.equal(metadata.registration_endpoint, undefined);
  assert.equal((await register({ redirect_uris: [REDIRECT] })).status, 404);
});

test('the discovery document advertises what MCP clients look for', async (t) => {
  const { issuer } = await setup(t);
  const metadata = await discovery(issuer);
  assert.equal(metadata.registration_endpoint, `${issuer}/connect/register`);
  assert.deepEqual(metadata.code_challenge_methods_supported, ['S256']);
  assert.equal(metadata.authorization_response_iss_parameter_supported, true);
  assert.equal(metadata.client_id_metadata_document_supported, false);
  assert.ok((metadata.token_endpoint_auth_methods_supported as string[]).includes('none'));
});

test('a registered client is public, third-party, and granted the open APIs only, whatever it asked', async (t) => {
  const { register, db } = await setup(t);
  const answer = await register({
    client_name: 'Some agent',
    redirect_uris: [REDIRECT],
    grant_types: ['authorization_code', 'refresh_token'],
    token_endpoint_auth_method: 'none',
    scope: 'tools:read internal admin:users:write',
  });
  assert.equal(answer.status, 201, JSON.stringify(answer.body));
  assert.equal(answer.headers.get('cache-control'), 'no-store');
  assert.equal(answer.body.token_endpoint_auth_method, 'none');
  assert.equal(answer.body.client_secret, undefined);
  assert.deepEqual(answer.body.redirect_uris, [REDIRECT]);
  assert.equal(answer.body.scope, 'tools:read tools:write');
  const stored = (await clients.findClient(db, answer.body.client_id as string))!;
  assert.equal(stored.type, 'public');
  assert.equal(stored.firstParty, false);
  assert.equal(stored.registeredDynamically, true);
  // Nothing granted by name: it reaches the APIs open to such clients when it asks (resources.ts).
  assert.deepEqual(stored.apis, []);
  assert.deepEqual([...stored.grantTypes].sort(), ['authorization_code', 'refresh_token']);
  // Audited: who registered what, from where.
  const events = await listAuditEvents(db, { type: 'client.registered' });
  assert.equal(events.total, 1);
  assert.deepEqual([events.items[0]!.target?.id, events.items[0]!.ip, events.items[0]!.details.name], [stored.clientId, '127.0.0.1', 'Some agent']);
});

test('a registered client gets tokens for the open API, through consent and PKCE, invalid_target for any other, and none once it is closed', async (t) => {
  const { issuer, register, db, server } = await setup(t);
  const { body } = await register({ client_name: 'Agent', redirect_uris: [REDIRECT] });
  const config = await client.discovery(new URL(issuer), body.client_id as string, undefined, client.None(), { execute: [client.allowInsecureRequests] });
  const authorize = async (resource: string) => {
    const verifier = client.randomPKCECodeVerifier();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT,
      scope: 'tools:read internal',
      resource,
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    return { verifier, result: await loginThroughForm(createBrowser(), url, { username: 'ada', password: 'analytical engine 1843' }, REDIRECT) };
  };
  const { verifier, result } = await authorize(MCP);
  // Third-party: the consent page was shown (a 200 page between the login and the code).
  assert.ok(result.statuses.filter((s) => s === 200).length >= 2, `login and consent pages: ${result.statuses.join(',')}`);
  const tokens = await client.authorizationCodeGrant(config, result.callback, { pkceCodeVerifier: verifier, expectedState: client.skipStateCheck }, { resource: MCP });
  const claims = JSON.parse(Buffer.from(tokens.access_token.split('.')[1]!, 'base64url').toString()) as { aud: string; scope: string };
  assert.equal(claims.aud, MCP);
  assert.equal(claims.scope, 'tools:read');
  assert.ok(tokens.refresh_token, 'refresh token without offline_access');

  // Registrations nobody used expire (GATEHOUSE_DYNAMIC_CLIENT_TTL); one holding a grant stays.
  const unused = await register({ client_name: 'Never used', redirect_uris: [REDIRECT] });
  assert.equal(await clients.deleteUnusedDynamicClients(db, Date.now() + 1000), 1);
  assert.equal(await clients.findClient(db, unused.body.client_id as string), undefined);
  assert.ok(await clients.findClient(db, body.client_id as string), 'the client in use is kept');

  // An error of a dynamic client's request is shown here, not sent to its redirect URI (which
  // anyone may have chosen: RFC 9700 §4.11.2; provider.ts).
  const refused = await fetch(
    client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: 'tools:read', resource: CLOSED, code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()), code_challenge_method: 'S256' }),
    { redirect: 'manual' },
  );
  assert.equal(refused.status, 400);
  assert.match(await refused.text(), /<code>invalid_target<\/code>/);

  // The operator closes the API to dynamically registered clients: refreshes stop at once, with
  // invalid_grant (the MCP SDK then asks the user again; invalid_target would be fatal to it).
  // A refresh asking for an API this refresh token was not issued for, and the client may not
  // reach, is invalid_target (RFC 8707 §2), not the invalid_grant that ends the grant.
  await assert.rejects(client.refreshTokenGrant(config, tokens.refresh_token!, { resource: CLOSED }), (error: client.ResponseBodyError) => error.error === 'invalid_target');
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token!, { resource: MCP });
  // A resource server introspecting the token sees it active: the client reaches the open API
  // although no API is granted to it by name; once the API is closed, inactive.
  const { clientSecret } = await clients.createClient(db, { clientId: 'resource-server', name: 'Resource server', grantTypes: 'client_credentials' });
  const introspect = async (token: string) =>
    (await (
      await fetch(`${issuer}/introspect`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(`resource-server:${clientSecret}`).toString('base64')}` },
        body: new URLSearchParams({ token }),
      })
    ).json()) as { active: boolean; client_id?: string; aud?: string };
  assert.deepEqual(await introspect(refreshed.access_token).then((answer) => [answer.active, answer.client_id, answer.aud]), [true, body.client_id, MCP]);
  await apis.updateApi(db, (await apis.findApi(db, MCP))!.id, { openToDynamicClients: false });
  await server.changed('apis');
  assert.equal((await introspect(refreshed.access_token)).active, false);
  await assert.rejects(client.refreshTokenGrant(config, refreshed.refresh_token!, { resource: MCP }), (error: client.ResponseBodyError) => error.error === 'invalid_grant');
});

test('confidential methods, other grants and bad redirect URIs are refused in RFC 7591 terms; nothing is stored', async (t) => {
  const { register, db } = await setup(t);
  const before = (await clients.listClients(db)).total;
  const cases: [unknown, string][] = [
    [{ redirect_uris: [REDIRECT], token_endpoint_auth_method: 'client_secret_basic' }, 'invalid_client_metadata'],
    [{ redirect_uris: [REDIRECT], grant_types: ['client_credentials'] }, 'invalid_client_metadata'],
    [{ redirect_uris: [REDIRECT], response_types: ['token'] }, 'invalid_client_metadata'],
    [{ redirect_uris: [REDIRECT], client_name: 42 }, 'invalid_client_metadata'],
    [{ redirect_uris: [REDIRECT], application_type: 'service' }, 'invalid_client_metadata'],
    [{ redirect_uris: [REDIRECT], application_type: 7 }, 'invalid_client_metadata'],
    [{}, 'invalid_redirect_uri'],
    [{ redirect_uris: 'http://127.0.0.1/cb' }, 'invalid_redirect_uri'],
    [{ redirect_uris: ['https://*.example.com/cb'] }, 'invalid_redirect_uri'],
    [{ redirect_uris: ['https://user:pw@example.com/cb'] }, 'invalid_redirect_uri'],
    [{ redirect_uris: ['javascript:alert(1)'] }, 'invalid_redirect_uri'],
    [[REDIRECT], 'invalid_client_metadata'],
    [null, 'invalid_client_metadata'],
    ['redirect_uris', 'invalid_client_metadata'],
  ];
  for (const [body, error] of cases) {
    const answer = await register(body);
    assert.equal(answer.status, 400, JSON.stringify(body));
    assert.equal(answer.body.error, error, JSON.stringify(body));
    assert.equal(typeof answer.body.error_description, 'string');
  }
  assert.equal((await clients.listClients(db)).total, before);
  // Both kinds OpenID Connect Registration defines are taken: a web app at an https address, a
  // native app at a loopback one.
  for (const [applicationType, uri] of [['web', 'https://agent.example/cb'], ['native', REDIRECT]] as const) {
    const answer = await register({ redirect_uris: [uri], application_type: applicationType });
    assert.equal(answer.status, 201, `${applicationType}: ${JSON.stringify(answer.body)}`);
    assert.equal(answer.body.application_type, applicationType);
  }
});

test(`at most ${REGISTRATIONS_PER_ADDRESS_PER_HOUR} registrations per address and hour, then 429 with Retry-After`, async (t) => {
  const { register } = await setup(t);
  for (let i = 0; i < REGISTRATIONS_PER_ADDRESS_PER_HOUR; i++) assert.equal((await register({ redirect_uris: [REDIRECT] })).status, 201);
  const limited = await register({ redirect_uris: [REDIRECT] });
  assert.equal(limited.status, 429);
  assert.equal(limited.body.error, 'too_many_requests');
  assert.ok(Number(limited.headers.get('retry-after')) > 0);
});

test('the operator decides which APIs are open, through the admin API and the CLI, and sees who registered', async (t) => {
  const server = await startAdmin(t, { GATEHOUSE_DYNAMIC_CLIENT_REGISTRATION: 'true' });
  const scopes = ['admin:apis:write', 'admin:apis:read', 'admin:clients:read'];
  const token = await server.clientToken(await server.machine('ops', scopes), scopes);
  const created = await server.call('POST', '/admin/api/apis', { token }, { identifier: MCP, name: 'MCP', scopes: [{ name: 'tools:read' }] });
  assert.equal(created.status, 201, created.text);
  assert.equal(created.body.open_to_dynamic_clients, false, 'closed unless opened');
  const opened = await server.call('PATCH', `/admin/api/apis/${created.body.id}`, { token }, { open_to_dynamic_clients: true });
  assert.equal(opened.body.open_to_dynamic_clients, true);

  const viaCli = cli({ GATEHOUSE_DATABASE_URL: server.databaseUrl }, ['apis', 'create', '--identifier', 'https://tools.example.com/mcp', '--name', 'Tools', '--scopes', 'run', '--open-to-dynamic-clients', '--json']);
  assert.equal(viaCli.code, 0, viaCli.stderr);
  assert.equal((JSON.parse(viaCli.stdout) as { api: { openToDynamicClients: boolean } }).api.openToDynamicClients, true);

  const registered = await fetch(`${server.issuer}/connect/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ redirect_uris: [REDIRECT] }) });
  const { client_id: clientId } = (await registered.json()) as { client_id: string };
  const view = await server.call('GET', `/admin/api/clients/${clientId}`, { token });
  assert.equal(view.status, 200, view.text);
  assert.equal(view.body.registered_dynamically, true);
  assert.equal(view.body.first_party, false);
  assert.deepEqual(view.body.apis, [], 'none by name: the open ones are decided at each request');
});
