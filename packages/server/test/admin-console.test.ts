// The admin console's server side (the browser side: e2e/admin-console-browser.test.ts): its page
// and CSP, the setting that turns it off together with its client, the gatehouse-admin role made by
// migration 006 on SQLite and PostgreSQL, and ending a user's sessions through the admin API.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ADMIN_SCOPE_NAMES } from '@gatehouse/server/internal/admin/scopes';
import { withPasswordHash } from '@gatehouse/server/internal/passwords/user-passwords';
import * as clients from '@gatehouse/server/internal/storage/clients';
import * as roles from '@gatehouse/server/internal/storage/roles';
import * as users from '@gatehouse/server/internal/storage/users';
import { startInProcess, tokenRequest } from '@gatehouse/test-support/gatehouse';
import { tempPostgres } from '@gatehouse/test-support/postgres';
import { adminUser, ALL_ADMIN_SCOPES, startAdmin } from './admin-support.ts';

const CONSOLE_AUTHORIZE = (issuer: string) =>
  `${issuer}/authorize?client_id=gatehouse-console&response_type=code&redirect_uri=${encodeURIComponent(`${issuer}/admin/callback`)}&scope=openid&code_challenge=${'a'.repeat(43)}&code_challenge_method=S256`;

test('/admin: one page with no inline code under a strict CSP, its script served from this origin', async (t) => {
  const gh = await startInProcess(t, { GATEHOUSE_BRAND_NAME: 'Acme ID' });
  const page = await fetch(`${gh.issuer}/admin`);
  assert.equal(page.status, 200);
  const csp = page.headers.get('content-security-policy') ?? '';
  for (const directive of ["default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'", "base-uri 'none'"]) assert.ok(csp.includes(directive), directive);
  assert.doesNotMatch(csp, /unsafe/);
  const body = await page.text();
  assert.doesNotMatch(body, /<script(?![^>]*\bsrc=)/, 'no inline script');
  assert.match(body, /data-client-id="gatehouse-console"/);
  assert.match(body, /<title>Admin · Acme ID<\/title>/);
  const script = await fetch(`${gh.issuer}/admin/assets/console.js`);
  assert.equal(script.status, 200);
  assert.match(script.headers.get('content-type') ?? '', /^text\/javascript/);
  // The console's client exists: /authorize shows the login page, not an error.
  const authorize = await fetch(CONSOLE_AUTHORIZE(gh.issuer), { redirect: 'manual' });
  assert.equal(authorize.status, 303, await authorize.text());
});

test('GATEHOUSE_ADMIN_CONSOLE=false: no /admin page and no console client', async (t) => {
  const gh = await startInProcess(t, { GATEHOUSE_ADMIN_CONSOLE: 'false' });
  assert.equal((await fetch(`${gh.issuer}/admin`)).status, 404);
  assert.equal((await fetch(`${gh.issuer}/admin/assets/console.js`)).status, 404);
  const authorize = await fetch(CONSOLE_AUTHORIZE(gh.issuer), { redirect: 'manual' });
  assert.equal(authorize.status, 400);
  assert.match(await authorize.text(), /invalid_client|client is invalid/i);
});

for (const database of ['sqlite', 'postgres'] as const) {
  test(`migration 006 (${database}): the gatehouse-admin role grants every admin scope, and a user given it manages the admin API`, async (t) => {
    const env = database === 'postgres' ? { GATEHOUSE_DATABASE_URL: await tempPostgres(t) } : {};
    const server = await startAdmin(t, env);
    const [role] = await roles.rolesByName(server.db, ['gatehouse-admin']);
    assert.deepEqual([...role!.scopes].sort(), [...ADMIN_SCOPE_NAMES].sort());
    // `gatehouse users create … --roles gatehouse-admin`, then a token with every admin scope.
    await users.createUser(server.db, await withPasswordHash({ username: 'ops', password: 'operations passphrase', roles: ['gatehouse-admin'] }));
    const client = await clients.createClient(server.db, { clientId: 'ops-cli', name: 'ops', grantTypes: 'password', scopes: ALL_ADMIN_SCOPES, apis: [server.adminApi] });
    const answer = await tokenRequest(
      server.issuer,
      { grant_type: 'password', username: 'ops', password: 'operations passphrase', resource: server.adminApi, scope: ALL_ADMIN_SCOPES.join(' ') },
      { clientId: 'ops-cli', clientSecret: client.clientSecret! },
    );
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.deepEqual(String(answer.body.scope).split(' ').sort(), [...ALL_ADMIN_SCOPES].sort());
    assert.equal((await server.call('POST', '/admin/api/roles', { token: answer.body.access_token }, { name: 'made-by-ops', scopes: ['admin:audit:read'] })).status, 201);
  });
}

test('DELETE /admin/api/users/{id}/sessions ends the user\'s grants and tokens; read scopes are refused; audited', async (t) => {
  const server = await startAdmin(t);
  const root = await adminUser(server, { username: 'root', password: 'root passphrase here', role: 'root', scopes: ALL_ADMIN_SCOPES });
  const reader = await adminUser(server, { username: 'reader', password: 'reader passphrase here', role: 'readers', scopes: ['admin:users:read'] });
  const dave = await users.createUser(server.db, await withPasswordHash({ username: 'dave', password: 'dave passphrase here', roles: ['readers'] }));
  const client = await clients.createClient(server.db, { clientId: 'dave-app', name: 'dave', grantTypes: 'password refresh_token', scopes: ['admin:users:read'], apis: [server.adminApi] });
  const auth = { clientId: 'dave-app', clientSecret: client.clientSecret! };
  const tokens = await tokenRequest(server.issuer, { grant_type: 'password', username: 'dave', password: 'dave passphrase here', resource: server.adminApi, scope: 'admin:users:read offline_access' }, auth);
  assert.equal(tokens.status, 200, JSON.stringify(tokens.body));
  assert.ok(tokens.body.refresh_token);
  assert.equal((await server.call('GET', '/admin/api/me', { token: tokens.body.access_token })).status, 200);

  const refused = await server.call('DELETE', `/admin/api/users/${dave.id}/sessions`, { token: reader.token });
  assert.equal(refused.status, 403);
  assert.equal((await server.call('DELETE', '/admin/api/users/no-such-user/sessions', { token: root.token })).status, 404);
  const ended = await server.call('DELETE', `/admin/api/users/${dave.id}/sessions`, { token: root.token });
  assert.equal(ended.status, 200, ended.text);
  assert.equal(ended.body.username, 'dave');
  assert.equal(ended.body.disabled, false, 'the account stays enabled');

  assert.equal((await server.call('GET', '/admin/api/me', { token: tokens.body.access_token })).status, 401, 'the access token stops');
  const refresh = await tokenRequest(server.issuer, { grant_type: 'refresh_token', refresh_token: tokens.body.refresh_token }, auth);
  assert.equal(refresh.body.error, 'invalid_grant', 'the refresh token is gone');
  const audit = await server.call('GET', `/admin/api/audit-events?type=user.sessions_ended&actor_id=${root.id}`, { token: root.token });
  assert.deepEqual(audit.body.items.map((e: { target: { id: string }; outcome: string }) => [e.target.id, e.outcome]), [[dave.id, 'success'], ['no-such-user', 'failure']], 'newest first, the refusal too');
});
