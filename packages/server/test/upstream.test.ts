// Signing in with another identity provider (issue 17, docs/adr/0017-upstream-identity-providers.md),
// against a real OpenID Connect provider nobody mocks: a second Gatehouse, started here. The
// downstream server runs on `localhost`, the upstream on `127.0.0.1` (two hosts: their cookies,
// named alike, stay apart as in a browser). The browser is a cookie-keeping HTTP client per host;
// e2e/upstream-browser.test.ts does the same in Chromium.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CookieJar, formAction, formValue } from '@gatehouse/test-support/browser';
import { cli, startInProcess, testKeys, testSecretKey, type InProcessServer } from '@gatehouse/test-support/gatehouse';
import { inspectSecrets } from '../src/storage/secrets-at-rest.ts';
import { withPasswordHash } from '../src/passwords/user-passwords.ts';
import { newTotpSecret, SecretBox, totpCode } from '../src/passwords/totp.ts';
import { ensureSecrets } from '../src/storage/keys.ts';
import { enableTwoFactor } from '../src/storage/two-factor.ts';
import { listAuditEvents } from '../src/storage/audit.ts';
import * as clients from '../src/storage/clients.ts';
import { createUpstreamProvider, listLinkedIdentities } from '../src/storage/upstream.ts';
import * as users from '../src/storage/users.ts';
import { answer, type Answer } from './interaction-support.ts';
import { ALL_ADMIN_SCOPES, startAdmin } from './admin-support.ts';

interface Setup {
  readonly down: InProcessServer;
  readonly up: InProcessServer;
}

async function setup(t: test.TestContext, provider: { trustMfa?: boolean; roles?: string[] } = {}): Promise<Setup> {
  const down = await startInProcess(t, {}, { publicHost: 'localhost' });
  const up = await startInProcess(t);
  const client = await clients.createClient(up.db, {
    clientId: 'downstream',
    name: 'Downstream Gatehouse',
    grantTypes: ['authorization_code'],
    redirectUris: [`${down.issuer}/upstream/corp/callback`],
    firstParty: true,
  });
  await createUpstreamProvider(down.db, { id: 'corp', name: 'Corp SSO', kind: 'oidc', issuer: up.issuer, clientId: 'downstream', clientSecret: client.clientSecret!, ...provider });
  return { down, up };
}

/** A browser: one cookie jar per host, redirects followed by hand. */
function browser() {
  const jars = new Map<string, CookieJar>();
  const jar = (url: URL) => jars.get(url.host) ?? jars.set(url.host, new CookieJar()).get(url.host)!;
  const send = async (url: URL, init: RequestInit = {}) => {
    const response = await fetch(url, { ...init, redirect: 'manual', headers: { accept: 'text/html', ...(init.headers as Record<string, string>), cookie: jar(url).header() } });
    jar(url).store(response);
    return response;
  };
  const follow = async (response: Response, from: URL): Promise<{ url: URL; page: Answer }> => {
    let url = from;
    for (let hops = 0; hops < 15; hops++) {
      const location = response.headers.get('location');
      if (response.status < 300 || response.status >= 400 || !location) {
        const page = await answer(response);
        // A page that goes on by itself, as a browser does.
        const refresh = /<meta http-equiv="refresh" content="0; url=([^"]+)">/.exec(page.html);
        if (!refresh) return { url, page };
        url = new URL(refresh[1]!.replaceAll('&amp;', '&'), url);
        response = await send(url);
        continue;
      }
      url = new URL(location, url);
      response = await send(url);
    }
    throw new Error('too many redirects');
  };
  return {
    /** Forgets one host's cookies (signed out there, still signed in elsewhere). */
    forget: (origin: string) => void jars.delete(new URL(origin).host),
    get: async (url: URL) => follow(await send(url), url),
    post: async (url: URL, form: Record<string, string>) =>
      follow(await send(url, { method: 'POST', body: new URLSearchParams(form).toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' } }), url),
  };
}

const linkTo = (html: string, text: string): string => {
  const match = new RegExp(`<a class="button secondary" href="([^"]+)">${text}</a>`).exec(html);
  assert.ok(match, `a link "${text}" in ${html.slice(0, 2000)}`);
  return match[1]!.replaceAll('&amp;', '&');
};

/** From the downstream's account page, through the provider's login page, back: where it ends. */
async function signInUpstream(b: ReturnType<typeof browser>, s: Setup, username: string, password: string): Promise<{ url: URL; page: Answer }> {
  const login = await b.get(new URL('/account', s.down.issuer));
  assert.equal(login.page.status, 200);
  const upstream = await b.get(new URL(linkTo(login.page.html, 'Sign in with Corp SSO'), login.url));
  if (new URL(upstream.url).host !== new URL(s.up.issuer).host) return upstream; // already signed in upstream
  assert.match(upstream.url.pathname, /^\/interaction\//, 'the provider\'s own login page');
  return b.post(new URL(formAction(upstream.page.html, '/login'), upstream.url), { csrf: formValue(upstream.page.html, 'csrf'), username, password });
}

test('a first sign-in creates a linked user (verified email, no password); the next one finds it; each is audited', async (t) => {
  const s = await setup(t);
  await users.createUser(s.up.db, await withPasswordHash({ username: 'ann', email: 'ann@corp.example', emailVerified: true, password: 'upstream passphrase 1' }));

  const first = await signInUpstream(browser(), s, 'ann', 'upstream passphrase 1');
  assert.equal(first.url.href, `${s.down.issuer}/account`, first.page.html.slice(0, 500));
  assert.match(first.page.html, /<dd>ann<\/dd>/);
  assert.match(first.page.html, /Corp SSO/);
  const ann = (await users.findUser(s.down.db, 'ann'))!;
  assert.equal(ann.email, 'ann@corp.example');
  assert.equal(ann.emailVerified, true);
  assert.equal((await users.accountRecord(s.down.db, ann.id))!.password_hash, null, 'no password: the provider is how she signs in');
  const [identity] = await listLinkedIdentities(s.down.db, ann.id);
  assert.equal(identity!.providerId, 'corp');

  // Again, in a new browser: the same user, no second one.
  const again = await signInUpstream(browser(), s, 'ann', 'upstream passphrase 1');
  assert.equal(again.url.pathname, '/account');
  assert.equal((await users.listUsers(s.down.db)).items.filter((u) => u.username.startsWith('ann')).length, 1);

  const events = (await listAuditEvents(s.down.db, { type: 'login.upstream' })).items;
  assert.deepEqual(events.map((event) => [event.outcome, event.details.result]).reverse(), [['success', 'created'], ['success', 'ok']]);
  assert.ok(events.every((event) => event.details.provider === 'corp' && event.target?.id === ann.id));
});

test('a verified email of an existing user links only after that user\'s password', async (t) => {
  const s = await setup(t);
  const bob = await users.createUser(s.down.db, await withPasswordHash({ username: 'bob', email: 'bob@corp.example', password: 'local passphrase 22' }));
  await users.createUser(s.up.db, await withPasswordHash({ username: 'robert', email: 'bob@corp.example', emailVerified: true, password: 'upstream passphrase 2' }));
  const b = browser();
  const proposal = await signInUpstream(b, s, 'robert', 'upstream passphrase 2');
  assert.match(proposal.url.pathname, /\/upstream\/link$/);
  assert.match(proposal.page.html, /Link your account/);
  assert.deepEqual(await listLinkedIdentities(s.down.db, bob.id), [], 'nothing linked by the email alone');
  const action = new URL(formAction(proposal.page.html, '/upstream/link'), proposal.url);
  const form = { csrf: formValue(proposal.page.html, 'csrf'), proposal: formValue(proposal.page.html, 'proposal') };
  const wrong = await b.post(action, { ...form, password: 'not it at all' });
  assert.equal(wrong.page.status, 401);
  assert.deepEqual(await listLinkedIdentities(s.down.db, bob.id), []);
  const right = await b.post(action, { ...form, password: 'local passphrase 22' });
  assert.equal(right.url.pathname, '/account');
  assert.match(right.page.html, /<dd>bob<\/dd>/);
  assert.equal((await listLinkedIdentities(s.down.db, bob.id)).length, 1);
  assert.equal(await users.findUser(s.down.db, 'robert'), undefined, 'no second account');
  // From now on the provider alone signs bob in.
  const next = await signInUpstream(browser(), s, 'robert', 'upstream passphrase 2');
  assert.match(next.page.html, /<dd>bob<\/dd>/);
});

test('a disabled user is refused; two-factor is asked after the provider unless its second factor is trusted', async (t) => {
  const s = await setup(t);
  await users.createUser(s.up.db, await withPasswordHash({ username: 'carol', email: 'carol@corp.example', emailVerified: true, password: 'upstream passphrase 3' }));
  await signInUpstream(browser(), s, 'carol', 'upstream passphrase 3');
  const carol = (await users.findUser(s.down.db, 'carol'))!;
  await users.setUserDisabled(s.down.db, carol.id, true);
  const refused = await signInUpstream(browser(), s, 'carol', 'upstream passphrase 3');
  assert.equal(refused.page.status, 403);
  assert.match(refused.page.html, /This account is disabled/);
  await users.setUserDisabled(s.down.db, carol.id, false);

  // Two-factor on: the code page follows the provider's sign-in.
  await s.down.db.updateTable('users').set({ totp_secret: 'x', totp_enabled_at: Date.now() }).where('id', '=', carol.id).execute();
  const asked = await signInUpstream(browser(), s, 'carol', 'upstream passphrase 3');
  assert.equal(asked.page.status, 200);
  assert.match(asked.page.html, /name="pending"/, 'the second-factor page');
  assert.match(asked.url.pathname, /\/upstream\/done$/);
});

test('an answer this browser did not ask for, a cancelled sign-in and an unknown provider are pages, never 500s', async (t) => {
  const s = await setup(t);
  const b = browser();
  const forged = await b.get(new URL('/upstream/corp/callback?code=abc&state=xyz', s.down.issuer));
  assert.equal(forged.page.status, 400);
  assert.match(forged.page.html, /does not belong to a sign-in started in this browser/);
  const unknown = await b.get(new URL('/upstream/nope/callback?code=abc&state=xyz', s.down.issuer));
  assert.equal(unknown.page.status, 404);

  // A state that does not match the one this browser was given.
  const login = await b.get(new URL('/account', s.down.issuer));
  const start = await fetch(new URL(linkTo(login.page.html, 'Sign in with Corp SSO'), login.url), { redirect: 'manual', headers: { cookie: '' } });
  assert.equal(start.status, 400, 'without the interaction cookie: not this browser\'s sign-in');
  assert.match(await start.text(), /no longer valid/);
  const events = (await listAuditEvents(s.down.db, { type: 'login.upstream' })).items;
  assert.ok(events.some((event) => event.details.result === 'no_pending_sign_in'));
});

test('the account page lists linked accounts and refuses to unlink the last way in; the CLI manages providers', async (t) => {
  const s = await setup(t);
  await users.createUser(s.up.db, await withPasswordHash({ username: 'dave', email: 'dave@corp.example', emailVerified: true, password: 'upstream passphrase 4' }));
  const b = browser();
  const account = await signInUpstream(b, s, 'dave', 'upstream passphrase 4');
  const action = new URL(formAction(account.page.html, '/account/identities/remove'), account.url);
  const form = { csrf: formValue(account.page.html, 'csrf'), id: formValue(account.page.html, 'id') };
  const refused = await b.post(action, form);
  assert.equal(refused.page.status, 400);
  assert.match(refused.page.html, /only way to sign in/);

  const env = { GATEHOUSE_DATABASE_URL: s.down.databaseUrl, GATEHOUSE_SECRET_KEY: testSecretKey(s.down.databaseUrl) };
  const listed = cli(env, ['providers', 'list', '--json']);
  assert.equal(listed.code, 0, listed.stderr);
  assert.deepEqual(listed.json.items.map((p: { id: string; enabled: boolean }) => [p.id, p.enabled]), [['corp', true]]);
  assert.doesNotMatch(listed.stdout, /clientSecret|client_secret/);
  assert.equal(cli(env, ['providers', 'disable', 'corp']).code, 0);
  const withoutIt = await browser().get(new URL('/account', s.down.issuer));
  assert.doesNotMatch(withoutIt.page.html, /Sign in with Corp SSO/);
  const bad = cli(env, ['providers', 'add', '--id', 'Bad Id', '--name', 'x', '--issuer', 'http://idp.example', '--client-id', 'a', '--client-secret', 'b']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /id must be/);
  const insecure = cli(env, ['providers', 'add', '--id', 'plain', '--name', 'x', '--issuer', 'http://idp.example', '--client-id', 'a', '--client-secret', 'b']);
  assert.equal(insecure.code, 1);
  assert.match(insecure.stderr, /https/);
});

test('the admin API adds, lists, disables and deletes providers; never shows a secret; grants no admin role the caller lacks', async (t) => {
  const server = await startAdmin(t);
  const ops = await server.machine('ops', ALL_ADMIN_SCOPES);
  const opsToken = await server.clientToken(ops, ALL_ADMIN_SCOPES);
  const limited = await server.machine('limited', ['admin:providers:read', 'admin:providers:write']);
  const limitedToken = await server.clientToken(limited, ['admin:providers:read', 'admin:providers:write']);
  const body = { id: 'corp', name: 'Corp SSO', kind: 'oidc', issuer: 'https://sso.corp.example', client_id: 'gatehouse', client_secret: 'upstream-client-secret-1' };

  // A provider whose users would be administrators: only for a caller holding those scopes.
  const escalation = await server.call('POST', '/admin/api/upstream-providers', { token: limitedToken }, { ...body, roles: ['gatehouse-admin'] });
  assert.equal(escalation.status, 403, escalation.text);
  assert.equal(escalation.body.field, 'roles');

  const created = await server.call('POST', '/admin/api/upstream-providers', { token: opsToken }, { ...body, roles: ['gatehouse-admin'] });
  assert.equal(created.status, 201, created.text);
  assert.equal(created.body.redirect_uri, `${server.issuer}/upstream/corp/callback`);
  assert.deepEqual(created.body.scopes, ['openid', 'email', 'profile']);
  assert.equal((await server.call('POST', '/admin/api/upstream-providers', { token: opsToken }, body)).status, 409);
  assert.equal((await server.call('POST', '/admin/api/upstream-providers', { token: opsToken }, { ...body, id: 'other', issuer: 'http://sso.corp.example' })).status, 400);
  // The limited caller may not change or delete a provider that makes administrators.
  assert.equal((await server.call('PATCH', '/admin/api/upstream-providers/corp', { token: limitedToken }, { enabled: false })).status, 403);

  // Sealed at rest, and in the inventory doctor and reencrypt work from.
  const row = await server.db.selectFrom('upstream_providers').select('client_secret').where('id', '=', 'corp').executeTakeFirstOrThrow();
  assert.doesNotMatch(row.client_secret, /upstream-client-secret-1/);
  const report = await inspectSecrets(server.db, testKeys(server.databaseUrl));
  assert.equal(report.find((entry) => entry.record === "upstream provider corp's client secret")?.status, 'current');

  const listed = await server.call('GET', '/admin/api/upstream-providers', { token: limitedToken });
  assert.deepEqual(listed.body.items.map((p: { id: string }) => p.id), ['corp']);
  const disabled = await server.call('PATCH', '/admin/api/upstream-providers/corp', { token: opsToken }, { enabled: false });
  assert.equal(disabled.body.enabled, false);
  assert.equal((await server.call('DELETE', '/admin/api/upstream-providers/nope', { token: opsToken })).status, 404);
  assert.equal((await server.call('DELETE', '/admin/api/upstream-providers/corp', { token: opsToken })).status, 204);
  assert.ok(server.seen.every((text) => !text.includes('upstream-client-secret-1')), 'the secret never comes back');
  const stored = await server.db.selectFrom('audit_events').select('details').where('type', 'like', 'upstream_provider.%').execute();
  assert.ok(stored.length >= 3);
  assert.ok(stored.every((row) => !row.details.includes('upstream-client-secret-1')));
});

test('a provider trusted for its second factor: its mfa sign-in asks no code here; an untrusted one\'s does', async (t) => {
  for (const trustMfa of [true, false]) {
    const s = await setup(t, { trustMfa });
    // At the provider, frank signs in with a password and a TOTP code: its ID token's amr says mfa.
    const frank = await users.createUser(s.up.db, await withPasswordHash({ username: 'frank', email: 'frank@corp.example', emailVerified: true, password: 'upstream passphrase 5' }));
    const secret = newTotpSecret();
    await enableTwoFactor(s.up.db, frank.id, new SecretBox(await ensureSecrets(s.up.db, 'totp')).seal(secret), 0, ['unused-recovery-code-hash']);
    const b = browser();
    const codePage = await signInUpstream(b, s, 'frank', 'upstream passphrase 5');
    assert.match(codePage.page.html, /name="pending"/, 'the provider asks its own code');
    const first = await b.post(new URL(formAction(codePage.page.html, '/second-factor'), codePage.url), {
      csrf: formValue(codePage.page.html, 'csrf'),
      pending: formValue(codePage.page.html, 'pending'),
      code: totpCode(secret),
    });
    assert.equal(first.url.pathname, '/account', 'the first sign-in makes the local user');
    // Two-factor on here too.
    const local = (await users.findUser(s.down.db, 'frank'))!;
    await enableTwoFactor(s.down.db, local.id, new SecretBox(await ensureSecrets(s.down.db, 'totp')).seal(newTotpSecret()), 0, ['unused-recovery-code-hash']);
    // Signed out here, still signed in at the provider (its session, its amr): straight back here.
    b.forget(s.down.issuer);
    const second = await signInUpstream(b, s, 'frank', 'upstream passphrase 5');
    if (trustMfa) {
      assert.equal(second.url.pathname, '/account', 'the provider\'s second factor counts');
      const events = (await listAuditEvents(s.down.db, { type: 'login.upstream' })).items;
      assert.equal(events[0]!.details.result, 'ok');
    } else {
      assert.match(second.page.html, /name="pending"/, 'a code here after the provider');
    }
  }
});

test('the users a provider creates get its roles, and those its map gives for the values of an upstream claim', async (t) => {
  const down = await startInProcess(t, {}, { publicHost: 'localhost' });
  const up = await startInProcess(t);
  const { createRole } = await import('../src/storage/roles.ts');
  for (const name of ['staff', 'reader', 'unused']) await createRole(down.db, { name, scopes: 'items:read' });
  const client = await clients.createClient(up.db, { clientId: 'downstream', name: 'Downstream', grantTypes: ['authorization_code'], redirectUris: [`${down.issuer}/upstream/corp/callback`], firstParty: true });
  // The claim here is the email (a Gatehouse provider has no groups claim): the mapping is the same.
  await createUpstreamProvider(down.db, {
    id: 'corp',
    name: 'Corp SSO',
    kind: 'oidc',
    issuer: up.issuer,
    clientId: 'downstream',
    clientSecret: client.clientSecret!,
    roles: ['staff'],
    roleClaim: 'email',
    roleMap: { 'gina@corp.example': 'reader', 'nobody@corp.example': 'unused' },
  });
  await users.createUser(up.db, await withPasswordHash({ username: 'gina', email: 'gina@corp.example', emailVerified: true, password: 'upstream passphrase 6' }));
  const landed = await signInUpstream(browser(), { down, up }, 'gina', 'upstream passphrase 6');
  assert.equal(landed.url.pathname, '/account');
  assert.deepEqual((await users.findUser(down.db, 'gina'))!.roles, ['reader', 'staff']);
  // A role that does not exist is refused when the provider is added, naming it.
  await assert.rejects(createUpstreamProvider(down.db, { id: 'other', name: 'Other', kind: 'oidc', issuer: up.issuer, clientId: 'x', clientSecret: 'y', roleMap: { a: 'missing-role' } }), /unknown role: missing-role/);
});
