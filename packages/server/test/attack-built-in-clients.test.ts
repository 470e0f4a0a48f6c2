// Attacks on the built-in first-party clients of the admin API (the console and the admin docs,
// engine/console-client.ts, admin-docs-client.ts): no consent page and every admin scope
// requestable, so their ids and redirect URIs must match exactly, and the user's roles alone
// decide what a token carries. Real server, real HTTP.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as client from 'openid-client';
import { createBrowser, loginThroughForm } from '@gatehouse/test-support/browser';
import { startInProcess } from '@gatehouse/test-support/gatehouse';
import * as roles from '../src/storage/roles.ts';
import * as users from '../src/storage/users.ts';
import { withPasswordHash } from '../src/passwords/user-passwords.ts';

const PASSWORD = 'analytical engine 1843';

async function authorize(issuer: string, clientId: string, redirectUri: string, extra: Record<string, string> = {}) {
  const url = new URL(`${issuer}/authorize`);
  url.search = new URLSearchParams({ client_id: clientId, response_type: 'code', redirect_uri: redirectUri, scope: 'openid', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256', ...extra }).toString();
  const response = await fetch(url, { redirect: 'manual' });
  return { status: response.status, location: response.headers.get('location'), body: await response.text() };
}

test('look-alike ids are unknown clients, and redirect URIs other than their own are refused without a redirect', async (t) => {
  const { issuer } = await startInProcess(t);
  const console = `${issuer}/admin/callback`;
  for (const id of ['GATEHOUSE-CONSOLE', 'gatehouse-console ', ' gatehouse-console', 'gatehouse-console\u200b', 'gatehouse\u2010console', 'gatehouse-admin-docs\n']) {
    const answer = await authorize(issuer, id, console);
    assert.equal(answer.status, 400, JSON.stringify(id));
    assert.equal(answer.location, null, JSON.stringify(id));
    assert.match(answer.body, /<code>invalid_(client|request)<\/code>/, JSON.stringify(id));
  }
  const host = new URL(issuer).host;
  const variants = [`${console}/`, `${console}?next=https://evil.example`, `${console}/../x`, `${console}#x`, `http://localhost:${new URL(issuer).port}/admin/callback`, `http://${host}.evil.example/admin/callback`, `${issuer}/admin/docs/static/oauth2-redirect.html`];
  for (const uri of variants) {
    const answer = await authorize(issuer, 'gatehouse-console', uri, { prompt: 'none' });
    assert.equal(answer.status, 400, uri);
    assert.equal(answer.location, null, uri);
  }
  assert.equal((await authorize(issuer, 'gatehouse-admin-docs', console, { prompt: 'none' })).location, null, "the console's URI is not the docs'");
});

test("a user's token from the console carries only the admin scopes their roles grant, whatever is asked", async (t) => {
  const { issuer, db } = await startInProcess(t);
  await roles.createRole(db, { name: 'reader', scopes: 'admin:users:read' });
  await users.createUser(db, await withPasswordHash({ username: 'bob', email: 'bob@example.com', password: PASSWORD, roles: ['reader'] }));
  const redirect = `${issuer}/admin/callback`;
  const verifier = client.randomPKCECodeVerifier();
  const url = new URL(`${issuer}/authorize`);
  url.search = new URLSearchParams({
    client_id: 'gatehouse-console',
    response_type: 'code',
    redirect_uri: redirect,
    scope: 'openid admin:users:read admin:users:write admin:roles:write admin:clients:write',
    resource: `${issuer}/admin/api`,
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
  }).toString();
  const { callback, pages } = await loginThroughForm(createBrowser(), url, { username: 'bob', password: PASSWORD }, redirect);
  assert.equal(pages.length, 1, `the login page only: first party (${callback.href})`);
  const answer = await fetch(`${issuer}/token`, {
    method: 'POST',
    body: new URLSearchParams({ grant_type: 'authorization_code', code: callback.searchParams.get('code')!, redirect_uri: redirect, client_id: 'gatehouse-console', code_verifier: verifier }),
  });
  const tokens = (await answer.json()) as { scope: string; refresh_token?: string; access_token: string };
  assert.equal(tokens.scope, 'admin:users:read');
  assert.equal(tokens.refresh_token, undefined, 'no refresh token: the console has no refresh grant');
  assert.equal((await fetch(`${issuer}/admin/api/roles`, { headers: { authorization: `Bearer ${tokens.access_token}` } })).status, 403);
  // Nor through the password grant, in HTTP Basic with an empty password (the public-client shim).
  const password = await fetch(`${issuer}/token`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from('gatehouse-console:').toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'password', username: 'bob', password: PASSWORD, resource: `${issuer}/admin/api` }),
  });
  assert.equal(password.status, 400);
  assert.equal(((await password.json()) as { error: string }).error, 'unauthorized_client');
});
