// Attacks through clients no operator set up (dynamic registration, ADR 0011; metadata documents,
// ADR 0012): what anyone can do with a client whose redirect URI they chose. Real server, real HTTP.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as client from 'openid-client';
import { createBrowser } from '@gatehouse/test-support/browser';
import { startInProcess } from '@gatehouse/test-support/gatehouse';
import * as clients from '../src/storage/clients.ts';

const EVIL = 'https://evil.example/cb';

async function authorize(issuer: string, clientId: string, redirectUri: string, extra: Record<string, string>) {
  const url = new URL(`${issuer}/authorize`);
  url.search = new URLSearchParams({
    client_id: clientId,
    response_type: 'code',
    redirect_uri: redirectUri,
    scope: 'openid',
    code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
    code_challenge_method: 'S256',
    ...extra,
  }).toString();
  const response = await fetch(url, { redirect: 'manual' });
  return { status: response.status, location: response.headers.get('location'), body: await response.text() };
}

// RFC 9700 §4.11.2: a redirect URI anyone registered is not one to send a browser to unasked.
test('a self-registered client cannot use authorization errors to make this server an open redirector', async (t) => {
  const { issuer, db } = await startInProcess(t, { GATEHOUSE_DYNAMIC_CLIENT_REGISTRATION: 'true' });
  const registered = await fetch(`${issuer}/connect/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ redirect_uris: [EVIL] }) });
  const { client_id: clientId } = (await registered.json()) as { client_id: string };
  const extras: Record<string, string>[] = [{ prompt: 'none' }, { resource: 'https://unknown.example/api' }, { code_challenge_method: 'plain' }, { response_type: 'token' }, { response_mode: 'form_post', prompt: 'none' }];
  for (const extra of extras) {
    const answer = await authorize(issuer, clientId, EVIL, extra);
    assert.equal(answer.location, null, `${JSON.stringify(extra)}: not redirected (${answer.status})`);
    assert.equal(answer.status, 400, JSON.stringify(extra));
    assert.doesNotMatch(answer.body, /evil\.example/, `${JSON.stringify(extra)}: no form posting to it either`);
    assert.match(answer.body, /We could not sign you in/);
  }
  // A client an operator registered keeps RFC 6749 §4.1.2.1's error redirect.
  await clients.createClient(db, { clientId: 'operator-app', name: 'App', public: true, grantTypes: ['authorization_code'], redirectUris: ['https://app.example/cb'], firstParty: false });
  const operators = await authorize(issuer, 'operator-app', 'https://app.example/cb', { prompt: 'none' });
  assert.equal(operators.status, 303);
  assert.match(operators.location!, /^https:\/\/app\.example\/cb\?error=login_required/);
});

test('a registration holds no more redirect URIs than an operator may give a client (50, as the admin API)', async (t) => {
  const { issuer, db } = await startInProcess(t, { GATEHOUSE_DYNAMIC_CLIENT_REGISTRATION: 'true' });
  const register = (count: number) =>
    fetch(`${issuer}/connect/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ redirect_uris: Array.from({ length: count }, (_, i) => `https://agent.example/cb/${i}`) }),
    });
  const before = (await clients.listClients(db, {})).total;
  const many = await register(2000);
  assert.equal(many.status, 400);
  assert.equal(((await many.json()) as { error: string }).error, 'invalid_redirect_uri');
  assert.equal((await clients.listClients(db, {})).total, before, 'nothing stored');
  assert.equal((await register(50)).status, 201);
});

// A name anyone can register ("Google Drive") is never all the login page shows: it says where the
// client answers, which is also where Cancel sends the browser (the error redirect after the
// user's own click, ADR 0011). Operator clients show their host the same way.
test('the login page says where a self-registered client answers, beside the name it chose', async (t) => {
  const { issuer, db } = await startInProcess(t, { GATEHOUSE_DYNAMIC_CLIENT_REGISTRATION: 'true' });
  const registered = await fetch(`${issuer}/connect/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ redirect_uris: [EVIL], client_name: 'Google Drive' }),
  });
  const { client_id: clientId } = (await registered.json()) as { client_id: string };
  const browser = createBrowser();
  const loginPageOf = async (id: string, redirectUri: string) => {
    const url = new URL(`${issuer}/authorize`);
    url.search = new URLSearchParams({ client_id: id, response_type: 'code', redirect_uri: redirectUri, scope: 'openid', code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()), code_challenge_method: 'S256' }).toString();
    const start = await browser.get(url);
    assert.equal(start.status, 303, await start.text());
    const page = await browser.get(new URL(start.headers.get('location')!, issuer));
    assert.equal(page.status, 200);
    return page.text();
  };
  const page = await loginPageOf(clientId, EVIL);
  assert.match(page, /to continue to <span class="client">Google Drive<\/span> \(at <strong class="destination">evil\.example<\/strong>\)/);
  await clients.createClient(db, { clientId: 'operator-app', name: 'App', public: true, grantTypes: ['authorization_code'], redirectUris: ['https://app.example/cb'], firstParty: false });
  assert.match(await loginPageOf('operator-app', 'https://app.example/cb'), /<strong class="destination">app\.example<\/strong>/);
});
