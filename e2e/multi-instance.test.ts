// Two Gatehouse instances sharing one PostgreSQL and one Redis behave as one server (issue #5):
// a login started on one finishes on the other, refresh tokens work on either, a key rotated
// from the CLI is used by both, and login throttling counts failures on both.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import * as client from 'openid-client';
import { decodeProtectedHeader } from 'jose';
import { startBalancer } from '@gatehouse/test-support/balancer';
import { createBrowser, formAction, formValue } from '@gatehouse/test-support/browser';
import { cli, cliAsync, startProcess, tokenRequest } from '@gatehouse/test-support/gatehouse';
import { freePort } from '@gatehouse/test-support/ports';
import { tempPostgres } from '@gatehouse/test-support/postgres';
import { waitFor } from '@gatehouse/test-support/wait';

const API = 'https://items.example';
const REDIRECT = 'http://127.0.0.1:8999/callback';

test('two instances on PostgreSQL + Redis behave as one server', async (t) => {
  const databaseUrl = await tempPostgres(t);
  const publicPort = await freePort();
  const env = {
    GATEHOUSE_DATABASE_URL: databaseUrl,
    GATEHOUSE_REDIS_URL: 'redis://127.0.0.1:6379',
    GATEHOUSE_REDIS_PREFIX: `gh-test-${randomBytes(6).toString('hex')}`,
    GATEHOUSE_PUBLIC_URL: `http://127.0.0.1:${publicPort}`,
    GATEHOUSE_DEFAULT_API: API,
    GATEHOUSE_LOGIN_MAX_FAILURES_PER_ACCOUNT: '3',
    // Only Redis events and activation timers may make keys change in time for this test.
    GATEHOUSE_KEY_CHECK_INTERVAL: '3600',
    GATEHOUSE_REFRESH_TOKEN_REUSE_GRACE: '1',
  };
  const run = (...args: string[]) => {
    const result = cli(env, [...args, '--json']);
    assert.equal(result.code, 0, `${args.join(' ')}: ${result.stderr}`);
    return result.json;
  };
  run('migrate');
  run('apis', 'create', '--identifier', API, '--name', 'Items', '--scopes', 'me items accounts:read');
  run('roles', 'create', '--name', 'user', '--scopes', 'me items');
  run('users', 'create', '--username', 'johndoe', '--password', 'correct horse', '--roles', 'user');
  const service = run('clients', 'create', '--api', API, '--name', 'Service', '--grants', 'client_credentials', '--scopes', 'accounts:read');
  const cliClient = run('clients', 'create', '--api', API, '--name', 'CLI', '--grants', 'password,refresh_token', '--scopes', 'me items');
  run('clients', 'create', '--api', API, '--name', 'Web', '--id', 'web', '--public', '--first-party', '--grants', 'authorization_code', '--redirect-uri', REDIRECT, '--scopes', 'items');

  const a = await startProcess(t, env);
  const b = await startProcess(t, env);
  const balancer = await startBalancer(t, () => [a.issuer, b.issuer], publicPort);
  const on = (instance: { issuer: string }, url: string | URL) => new URL(new URL(url, env.GATEHOUSE_PUBLIC_URL).pathname + new URL(url, env.GATEHOUSE_PUBLIC_URL).search, instance.issuer);
  const serviceAuth = { clientId: service.client.clientId, clientSecret: service.clientSecret };
  const cliAuth = { clientId: cliClient.client.clientId, clientSecret: cliClient.clientSecret };

  await t.test('a login started on A finishes on B', async () => {
    const browser = createBrowser();
    const verifier = client.randomPKCECodeVerifier();
    const authorize = new URL('/authorize', a.issuer);
    for (const [k, v] of Object.entries({ client_id: 'web', response_type: 'code', redirect_uri: REDIRECT, scope: 'items', state: 'st', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' })) {
      authorize.searchParams.set(k, v);
    }
    const started = await browser.get(authorize); // on A
    assert.equal(started.status, 303);
    const page = await browser.get(on(b, started.headers.get('location')!)); // the login page, from B
    const html = await page.text();
    const posted = await browser.post(on(b, formAction(html, '/login')), { csrf: formValue(html, 'csrf'), username: 'johndoe', password: 'correct horse' });
    assert.equal(posted.status, 303);
    const resumed = await browser.get(on(a, posted.headers.get('location')!)); // resumed on A
    const callback = new URL(resumed.headers.get('location')!);
    assert.ok(callback.href.startsWith(REDIRECT), callback.href);
    const code = callback.searchParams.get('code')!;
    const tokens = await tokenRequest(b.issuer, { grant_type: 'authorization_code', client_id: 'web', code, redirect_uri: REDIRECT, code_verifier: verifier }); // redeemed on B
    assert.equal(tokens.status, 200, JSON.stringify(tokens.body));
    assert.ok(tokens.body.access_token);
  });

  await t.test('refresh tokens work on either instance, and reuse is detected across them', async () => {
    const first = await tokenRequest(a.issuer, { grant_type: 'password', username: 'johndoe', password: 'correct horse', scope: 'items' }, cliAuth);
    assert.equal(first.status, 200);
    const onB = await tokenRequest(b.issuer, { grant_type: 'refresh_token', refresh_token: first.body.refresh_token }, cliAuth);
    assert.equal(onB.status, 200);
    const onA = await tokenRequest(a.issuer, { grant_type: 'refresh_token', refresh_token: onB.body.refresh_token }, cliAuth);
    assert.equal(onA.status, 200);
    // Inside the reuse grace window (1 s here) a reuse gets the first answer again; after it, B refuses it.
    const reuse = await waitFor(
      async () => {
        const response = await tokenRequest(b.issuer, { grant_type: 'refresh_token', refresh_token: first.body.refresh_token }, cliAuth);
        return response.status === 200 ? undefined : response;
      },
      { interval: 100, message: 'a reuse refused after the window' },
    );
    assert.equal(reuse.body.error, 'invalid_grant');
    const revoked = await tokenRequest(a.issuer, { grant_type: 'refresh_token', refresh_token: onA.body.refresh_token }, cliAuth);
    assert.equal(revoked.body.error, 'invalid_grant', 'the reuse on B revoked the grant for A too');
  });

  await t.test('a key rotated from the CLI is published and then used by both', async () => {
    const kid = async (instance: { issuer: string }) =>
      decodeProtectedHeader((await tokenRequest(instance.issuer, { grant_type: 'client_credentials' }, serviceAuth)).body.access_token).kid;
    const before = await kid(a);
    assert.equal(await kid(b), before);
    const rotation = run('keys', 'rotate', '--alg', 'ES256', '--activate-in', '2s');
    const newKid = rotation.scheduled[0].kid;
    // Told through Redis: both publish it before it signs (their periodic check is an hour away).
    for (const instance of [a, b]) {
      await waitFor(async () => ((await (await fetch(`${instance.issuer}/jwks`)).json()) as { keys: { kid: string }[] }).keys.some((k) => k.kid === newKid), {
        interval: 100,
        message: `the new key published by ${instance.issuer}`,
      });
    }
    await waitFor(async () => (await kid(a)) === newKid && (await kid(b)) === newKid, { interval: 100, message: 'both signing with the new key' });
  });

  await t.test('failed logins are counted across both instances', async () => {
    const attempt = (instance: { issuer: string }, password: string) =>
      tokenRequest(instance.issuer, { grant_type: 'password', username: 'johndoe', password }, cliAuth);
    assert.equal((await attempt(a, 'wrong-1')).status, 400);
    assert.equal((await attempt(b, 'wrong-2')).status, 400);
    assert.equal((await attempt(a, 'wrong-3')).status, 400);
    const limited = await attempt(b, 'correct horse');
    assert.equal(limited.status, 429, 'B knows about the failures on A');
    assert.equal((await attempt(a, 'correct horse')).status, 429);
  });

  await t.test('gatehouse doctor sees one consistent deployment', async () => {
    // Asynchronously: the public URL is the balancer, which runs in this process.
    const result = await cliAsync(env, ['doctor', '--instance', a.issuer, '--instance', b.issuer, '--json']);
    assert.equal(result.code, 0, result.stdout);
    assert.ok(result.json.ok);
    assert.ok(balancer.served.length > 0, 'the public URL (the balancer) was reached');
  });
});
