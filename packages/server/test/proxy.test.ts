// GATEHOUSE_TRUST_PROXY (issue #10, item 2): behind a proxy that appends to X-Forwarded-For, the
// client writes the left-most entries itself. The client's address is the right-most entry not
// written by a trusted proxy, for Fastify (the pages, the admin API, the audit log) and for the
// protocol engine (the password grant) alike; `true`, which trusted everything, is refused.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../src/config/load.ts';
import * as audit from '../src/storage/audit.ts';
import { client, JOHN, openLoginPage, setup, statusCounts, type Fixture } from './interaction-support.ts';

function passwordGrant(gh: Fixture, username: string, password: string, forwardedFor?: string) {
  return fetch(`${gh.issuer}/token`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${gh.seed.passwordClient.clientId}:${gh.seed.passwordClient.clientSecret}`).toString('base64')}`,
      ...(forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor }),
    },
    body: new URLSearchParams({ grant_type: 'password', username, password }).toString(),
  }).then(async (r) => ({ status: r.status, body: (await r.json()) as { error?: string } }));
}

async function loginPage(gh: Fixture, username: string, password: string, forwardedFor: string) {
  const browser = client({ 'x-forwarded-for': forwardedFor });
  const login = await openLoginPage(browser, gh.issuer);
  const response = await browser.post(login.action, { csrf: login.csrf, username, password });
  await response.arrayBuffer();
  return response.status;
}

test('GATEHOUSE_TRUST_PROXY=true is refused at start, naming the setting and what to give instead', () => {
  for (const value of ['true', 'TRUE', 'yes', 'on']) {
    assert.throws(() => loadConfig({ GATEHOUSE_TRUST_PROXY: value }), (error: Error) => {
      assert.match(error.message, /GATEHOUSE_TRUST_PROXY/);
      assert.match(error.message, /no longer accepted/);
      assert.match(error.message, /10\.0\.0\.0\/8/);
      assert.match(error.message, /docs\/security\.md/);
      return true;
    }, value);
  }
  assert.throws(() => loadConfig({}, { trustProxy: true }), /GATEHOUSE_TRUST_PROXY.*no longer accepted/s, 'true in the JSON config file too');
  assert.throws(() => loadConfig({ GATEHOUSE_TRUST_PROXY: '10.0.0.0/33' }), /GATEHOUSE_TRUST_PROXY.*"10\.0\.0\.0\/33" is not an IP address/s);
  assert.throws(() => loadConfig({ GATEHOUSE_TRUST_PROXY: '11' }), /GATEHOUSE_TRUST_PROXY.*at most 10/s);
  assert.throws(() => loadConfig({ GATEHOUSE_TRUST_PROXY: 'nginx' }), /GATEHOUSE_TRUST_PROXY/);
  assert.equal(loadConfig({}).config.trustProxy, false, 'nothing is trusted by default');
  for (const off of ['false', '0', 'off']) assert.equal(loadConfig({ GATEHOUSE_TRUST_PROXY: off }).config.trustProxy, false, off);
  assert.deepEqual(loadConfig({ GATEHOUSE_TRUST_PROXY: '2' }).config.trustProxy, { hops: 2 });
  assert.deepEqual(loadConfig({ GATEHOUSE_TRUST_PROXY: ' loopback, 10.0.0.0/8 ,fd00::/8,192.0.2.7 ' }).config.trustProxy, {
    addresses: ['loopback', '10.0.0.0/8', 'fd00::/8', '192.0.2.7'],
  });
});

for (const [name, setting] of [
  ['one hop', '1'],
  ['the proxy\'s address', '127.0.0.1'],
] as const) {
  test(`behind ${name} (GATEHOUSE_TRUST_PROXY=${setting}), a client writing X-Forwarded-For cannot choose its address`, async (t) => {
    const gh = await setup(t, { GATEHOUSE_TRUST_PROXY: setting, GATEHOUSE_LOGIN_MAX_FAILURES_PER_ACCOUNT: '1000', GATEHOUSE_LOGIN_MAX_FAILURES_PER_IP: '6' });
    // What nginx sends for a client at 198.51.100.7 that wrote its own X-Forwarded-For: the
    // client's entries, then the address the proxy saw. The attacker changes its entry each time.
    const forged = (i: number) => `203.0.113.${i}, 198.51.100.7`;
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) {
      statuses.push(i % 2 === 0 ? (await passwordGrant(gh, `user${i}`, 'a wrong password', forged(i))).status : await loginPage(gh, `user${i}`, 'a wrong password', forged(i)));
    }
    assert.deepEqual(statusCounts(statuses), { 400: 3, 401: 3, 429: 2 }, `six failures from 198.51.100.7, then refused: ${statuses.join(' ')}`);
    assert.equal((await passwordGrant(gh, JOHN.username, JOHN.password, forged(99))).status, 429, 'refused on the password grant');
    assert.equal(await loginPage(gh, JOHN.username, JOHN.password, forged(98)), 429, 'and on the login page');
    assert.equal((await passwordGrant(gh, JOHN.username, JOHN.password, '198.51.100.8')).status, 200, 'another client is fine');

    const { items } = await audit.listAuditEvents(gh.db, { limit: 100 });
    const addresses = new Set(items.filter((e) => e.type.startsWith('login')).map((e) => e.ip));
    assert.deepEqual([...addresses].sort(), ['198.51.100.7', '198.51.100.8'], 'the audit log has the real addresses, never a forged one');
  });
}

test('with a list of proxies, the client is the right-most address that is not one of them', async (t) => {
  const gh = await setup(t, { GATEHOUSE_TRUST_PROXY: 'loopback, 10.0.0.0/8', GATEHOUSE_LOGIN_MAX_FAILURES_PER_ACCOUNT: '1000', GATEHOUSE_LOGIN_MAX_FAILURES_PER_IP: '2' });
  // client (forged) → CDN edge saw 192.0.2.44 → internal proxy 10.1.2.3 → Gatehouse (from loopback).
  for (let i = 0; i < 2; i++) assert.equal((await passwordGrant(gh, `u${i}`, 'a wrong password', `6.6.6.${i}, 192.0.2.44, 10.1.2.3`)).status, 400);
  assert.equal((await passwordGrant(gh, JOHN.username, JOHN.password, '6.6.6.99, 192.0.2.44, 10.1.2.3')).status, 429);
  assert.equal(await loginPage(gh, JOHN.username, JOHN.password, '6.6.6.98, 192.0.2.44'), 429, 'the same client through one proxy less');
  const { items } = await audit.listAuditEvents(gh.db, { limit: 100 });
  assert.deepEqual([...new Set(items.map((e) => e.ip))], ['192.0.2.44']);
});

test('without GATEHOUSE_TRUST_PROXY, X-Forwarded-For is ignored: the connection\'s peer is the client', async (t) => {
  const gh = await setup(t, { GATEHOUSE_LOGIN_MAX_FAILURES_PER_ACCOUNT: '1000', GATEHOUSE_LOGIN_MAX_FAILURES_PER_IP: '2' });
  for (let i = 0; i < 2; i++) assert.equal((await passwordGrant(gh, `u${i}`, 'a wrong password', `6.6.6.${i}`)).status, 400);
  assert.equal((await passwordGrant(gh, JOHN.username, JOHN.password, '6.6.6.99')).status, 429);
  const { items } = await audit.listAuditEvents(gh.db, { limit: 100 });
  assert.deepEqual([...new Set(items.map((e) => e.ip))], ['127.0.0.1']);
});

test('the admin API\'s failure limit and audit log see the same client address behind a proxy', async (t) => {
  const gh = await setup(t, { GATEHOUSE_TRUST_PROXY: '1' });
  const statuses: number[] = [];
  for (let i = 0; i < 22; i++) {
    const response = await fetch(`${gh.issuer}/admin/api/users`, { headers: { 'x-api-key': `gh_guess_${i}`, 'x-forwarded-for': `203.0.113.${i}, 198.51.100.7` } });
    statuses.push(response.status);
    await response.arrayBuffer();
  }
  assert.deepEqual(statusCounts(statuses), { 401: 20, 429: 2 }, 'a forged left-most entry does not reset the limit');
  const { items } = await audit.listAuditEvents(gh.db, { limit: 100 });
  assert.ok(items.length > 0);
  assert.deepEqual([...new Set(items.map((e) => e.ip))], ['198.51.100.7']);
});

// What the engine answers carries the same two headers as our own pages: no MIME sniffing, and no
// Referer (an authorization code or a state in a URL must not leak to the next site).
test('every engine answer says nosniff and no-referrer, and names the public URL, not the Host header', async (t) => {
  const gh = await setup(t);
  const { end_session_endpoint: endSession, jwks_uri: jwks } = (await (await fetch(`${gh.issuer}/.well-known/openid-configuration`)).json()) as Record<string, string>;
  const answers = await Promise.all(
    [`${gh.issuer}/.well-known/openid-configuration`, jwks!, `${gh.issuer}/authorize?client_id=nobody`, endSession!].map((url) =>
      fetch(url, { redirect: 'manual', headers: { host: 'evil.example' } }),
    ),
  );
  for (const answer of answers) {
    assert.equal(answer.headers.get('x-content-type-options'), 'nosniff', answer.url);
    assert.equal(answer.headers.get('referrer-policy'), 'no-referrer', answer.url);
  }
  // The error page says what was wrong with the request (its description), as oidc-provider put it.
  const errorPage = await answers[2]!.text();
  assert.match(errorPage, /We could not sign you in/);
  assert.match(errorPage, /<code>invalid_client<\/code>/);
  assert.doesNotMatch(errorPage, /Something went wrong on our side/, 'a client error is not a server error');
  const discovery = (await answers[0]!.json()) as { issuer: string; token_endpoint: string };
  assert.equal(discovery.issuer, gh.issuer);
  assert.equal(discovery.token_endpoint, `${gh.issuer}/token`);
});
