// Attacks on Client ID Metadata Documents (docs/adr/0012) by a client with no account: each test
// is an attack that once worked or that the server must keep refusing. Real server, real https
// document server, real HTTP.
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { test, type TestContext } from 'node:test';
import { startInProcess } from '@gatehouse/test-support/gatehouse';
import { startHttpsServer, trustInThisProcess } from '@gatehouse/test-support/https-server';
import { METADATA_FETCHES_PER_ADDRESS_PER_MINUTE } from '../src/engine/metadata-documents.ts';

const REDIRECT = 'http://127.0.0.1:8999/callback';
const BYE = 'https://evil.example/bye';
const ON = { GATEHOUSE_CLIENT_ID_METADATA_DOCUMENTS: 'true', GATEHOUSE_CLIENT_ID_METADATA_DOCUMENTS_LOOPBACK: 'true' };

async function setup(t: TestContext) {
  const documents = await startHttpsServer(t, (request, response: ServerResponse) => {
    const clientId = `${documents.origin}${request.url}`;
    response
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ client_id: clientId, client_name: 'Agent', redirect_uris: [REDIRECT], post_logout_redirect_uris: [BYE], token_endpoint_auth_method: 'none' }));
  });
  trustInThisProcess(t, documents.certificate);
  const server = await startInProcess(t, ON);
  return { ...server, documents };
}

/** `Authorization: Basic` naming the client with an empty password, as RFC 6749 §2.3.1 encodes it. */
const basicWithoutPassword = (clientId: string) => `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:`).toString('base64')}`;

test('the token endpoint’s Basic header cannot make the server fetch documents beyond the per-address limit', async (t) => {
  const { issuer, documents } = await setup(t);
  const tokenRequest = (clientId: string) =>
    fetch(`${issuer}/token`, {
      method: 'POST',
      headers: { authorization: basicWithoutPassword(clientId), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'authorization_code', code: 'x', redirect_uri: REDIRECT, code_verifier: 'x'.repeat(43) }),
    });
  for (let i = 0; i <= METADATA_FETCHES_PER_ADDRESS_PER_MINUTE + 5; i++) await (await tokenRequest(`${documents.origin}/basic-${i}.json`)).text();
  const fetched = new Set(documents.requests).size;
  assert.ok(fetched <= METADATA_FETCHES_PER_ADDRESS_PER_MINUTE, `${fetched} distinct documents fetched for one address`);
});

// RFC 9700 §4.11.2: anyone can publish a document naming any redirect URI.
test('a document client’s authorization errors are shown here, never redirected to the URI its document names', async (t) => {
  const { issuer, documents } = await setup(t);
  const url = new URL(`${issuer}/authorize`);
  url.search = new URLSearchParams({ client_id: `${documents.origin}/redirector.json`, response_type: 'code', redirect_uri: REDIRECT, scope: 'openid', prompt: 'none', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' }).toString();
  const answer = await fetch(url, { redirect: 'manual' });
  assert.equal(answer.headers.get('location'), null);
  assert.equal(answer.status, 400);
  assert.match(await answer.text(), /<code>login_required<\/code>/);
});

// oidc-provider answers a logout from a browser with no session by a page that posts itself to
// /logout/confirm, which then redirects to post_logout_redirect_uri: no question, no click.
test('a document cannot make the logout endpoint an open redirector with the post-logout URIs it lists', async (t) => {
  const { issuer, documents } = await setup(t);
  const url = new URL(`${issuer}/logout`);
  url.search = new URLSearchParams({ client_id: `${documents.origin}/logout.json`, post_logout_redirect_uri: BYE }).toString();
  const answer = await fetch(url, { redirect: 'manual' });
  const page = await answer.text();
  assert.equal(answer.status, 400, page.slice(0, 300));
  assert.doesNotMatch(page, /logout\/confirm/, 'no form to confirm the logout with');
  assert.match(page, /post_logout_redirect_uri not registered/);
});
