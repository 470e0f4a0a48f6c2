// Ways to keep or take an account after the credential that allowed it is gone (issue #10,
// items 6, 7 and 16), each on SQLite and on PostgreSQL:
// - an expiring API key setting a user's email to the attacker's, verified, then the public
//   forgot-password page: a password outlives the key;
// - a reset link sent before the account's email changed, still working after;
// - an administrator setting a new password, leaving the old refresh tokens and access tokens alive.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cli, seedDemo, tokenRequest, type DemoSeed } from '@gatehouse/test-support/gatehouse';
import { tempPostgres } from '@gatehouse/test-support/postgres';
import { linkIn, startMailbox, type TestMailbox } from '@gatehouse/test-support/smtp';
import * as users from '../src/storage/users.ts';
import { withPasswordHash } from '../src/passwords/user-passwords.ts';
import { startAdmin, type AdminServer } from './admin-support.ts';
import { answer, client } from './interaction-support.ts';

const BOB = { username: 'bob', email: 'bob@example.com', password: 'bobs first passphrase' };
const NEW_PASSWORD = 'a brand new passphrase';

interface Fixture {
  readonly server: AdminServer;
  readonly seed: DemoSeed;
  readonly mailbox: TestMailbox;
  /** A client-credentials token for the admin API with every user scope and API-key scope. */
  readonly ops: string;
}

const DATABASES = ['sqlite', 'postgres'] as const;

async function setup(t: test.TestContext, database: (typeof DATABASES)[number]): Promise<Fixture> {
  const mailbox = await startMailbox(t);
  const databaseUrl = database === 'postgres' ? await tempPostgres(t) : undefined;
  const server = await startAdmin(t, { GATEHOUSE_SMTP_URL: mailbox.url, ...(databaseUrl ? { GATEHOUSE_DATABASE_URL: databaseUrl } : {}) });
  const seed = await seedDemo(server.db);
  await users.createUser(server.db, await withPasswordHash({ username: BOB.username, email: BOB.email, emailVerified: true, password: BOB.password, roles: ['user'] }));
  const scopes = ['admin:users:read', 'admin:users:write', 'admin:api-keys:write'];
  const ops = await server.clientToken(await server.machine('ops', scopes), scopes);
  return { server, seed, mailbox, ops };
}

function passwordGrant(f: Fixture, username: string, password: string) {
  return tokenRequest(f.server.issuer, { grant_type: 'password', username, password }, f.seed.passwordClient);
}

async function forgotPassword(f: Fixture, email: string): Promise<string> {
  assert.equal((await answer(client().post(`${f.server.issuer}/forgot-password`, { email }))).status, 200);
  const mail = await f.mailbox.waitFor((m) => m.to === email && /Reset your/.test(m.subject));
  return new URL(linkIn(mail, `${f.server.issuer}/reset-password?token=`)).searchParams.get('token')!;
}

function resetPassword(f: Fixture, token: string, password: string) {
  return answer(client().post(`${f.server.issuer}/reset-password`, { token, password, confirm: password }));
}

for (const database of DATABASES) {
  test(`[${database}] an API key cannot set a user's email (nor mark it verified), so it cannot leave a password behind`, async (t) => {
    const f = await setup(t, database);
    const created = await f.server.call('POST', '/admin/api/api-keys', { token: f.ops }, {
      owner: { kind: 'client', id: 'ops' },
      api: f.server.adminApi,
      scopes: ['admin:users:write', 'admin:users:read'],
      expires_in: 600,
    });
    assert.equal(created.status, 201, created.text);
    const key = { apiKey: created.body.key as string };

    for (const body of [{ email: 'mallory@example.net', email_verified: true }, { email: 'mallory@example.net' }, { email_verified: true }, { email: null }]) {
      const refused = await f.server.call('PATCH', `/admin/api/users/${BOB.username}`, key, body);
      assert.equal(refused.status, 403, `${JSON.stringify(body)}: ${refused.text}`);
      assert.equal(refused.body.error, 'forbidden');
      assert.match(refused.body.message, /API key/);
    }
    const bob = (await users.findUser(f.server.db, BOB.username))!;
    assert.deepEqual([bob.email, bob.emailVerified], [BOB.email, true], 'unchanged');
    assert.equal((await f.server.call('PATCH', `/admin/api/users/${BOB.username}`, key, { roles: ['user'] })).status, 200, 'roles are fine');

    for (const body of [{ username: 'mallory', email: 'mallory@example.net' }, { username: 'mallory', email_verified: true }]) {
      const refused = await f.server.call('POST', '/admin/api/users', key, body);
      assert.equal(refused.status, 403, JSON.stringify(body));
      assert.match(refused.body.message, /API key/);
    }
    assert.equal(await users.findUser(f.server.db, 'mallory'), undefined, 'nobody was created');

    // The forgot-password page has nothing to send to the attacker.
    assert.equal((await answer(client().post(`${f.server.issuer}/forgot-password`, { email: 'mallory@example.net' }))).status, 200);
    await f.server.close();
    assert.deepEqual(f.mailbox.messages.map((m) => m.to), [], 'no reset link was mailed');
  });

  test(`[${database}] an administrator (not an API key) may still change an email; the change invalidates reset links sent to the old one`, async (t) => {
    const f = await setup(t, database);
    const token = await forgotPassword(f, BOB.email);
    const changed = await f.server.call('PATCH', `/admin/api/users/${BOB.username}`, { token: f.ops }, { email: 'bob.new@example.com' });
    assert.equal(changed.status, 200, changed.text);
    assert.equal(changed.body.email_verified, false);

    const form = await answer(client().get(`${f.server.issuer}/reset-password?token=${token}`));
    assert.equal(form.status, 400, 'the link sent to the old address shows no form');
    const used = await resetPassword(f, token, NEW_PASSWORD);
    assert.equal(used.status, 400);
    assert.match(used.html, /does not work/);
    assert.equal((await passwordGrant(f, BOB.username, BOB.password)).status, 200, 'the password did not change');
    assert.equal((await passwordGrant(f, BOB.username, NEW_PASSWORD)).status, 400);

    // A link sent to the new address works (and proves it).
    const fresh = await forgotPassword(f, 'bob.new@example.com');
    assert.equal((await resetPassword(f, fresh, NEW_PASSWORD)).status, 200);
    assert.equal((await users.findUser(f.server.db, BOB.username))!.emailVerified, true);
  });

  test(`[${database}] a reset link is bound to the address it was sent to, even when the email changes behind the API's back`, async (t) => {
    const f = await setup(t, database);
    const token = await forgotPassword(f, BOB.email);
    // Changed directly in the database (a migration, a script): the link is checked at use too.
    const bob = (await users.findUser(f.server.db, BOB.username))!;
    await f.server.db.updateTable('users').set({ email: 'someone.else@example.com' }).where('id', '=', bob.id).execute();
    const used = await resetPassword(f, token, NEW_PASSWORD);
    assert.equal(used.status, 400);
    assert.equal((await passwordGrant(f, BOB.username, BOB.password)).status, 200, 'the password did not change');
  });

  test(`[${database}] an administrator setting a password ends the user's refresh tokens and access tokens (admin API and CLI)`, async (t) => {
    const f = await setup(t, database);
    const introspect = async (token: string) =>
      ((await fetch(`${f.server.issuer}/introspect`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${f.seed.service.clientId}:${f.seed.service.clientSecret}`).toString('base64')}` },
        body: new URLSearchParams({ token }).toString(),
      }).then((r) => r.json())) as { active: boolean });

    for (const via of ['admin API', 'CLI'] as const) {
      const password = `${via} chosen passphrase`;
      const before = await passwordGrant(f, BOB.username, via === 'admin API' ? BOB.password : `admin API chosen passphrase`);
      assert.equal(before.status, 200, JSON.stringify(before.body));
      assert.ok(before.body.refresh_token);
      assert.equal((await introspect(before.body.access_token)).active, true);

      if (via === 'admin API') {
        const set = await f.server.call('PUT', `/admin/api/users/${BOB.username}/password`, { token: f.ops }, { password });
        assert.equal(set.status, 200, set.text);
      } else {
        const result = cli({ GATEHOUSE_DATABASE_URL: f.server.databaseUrl }, ['users', 'set-password', BOB.username, '--password', password]);
        assert.equal(result.code, 0, result.stderr);
      }
      const refresh = await tokenRequest(f.server.issuer, { grant_type: 'refresh_token', refresh_token: before.body.refresh_token }, f.seed.passwordClient);
      assert.equal(refresh.body.error, 'invalid_grant', `${via}: the refresh token issued before is dead`);
      assert.equal((await introspect(before.body.access_token)).active, false, `${via}: the access token issued before is inactive`);
      assert.equal((await passwordGrant(f, BOB.username, password)).status, 200);
    }
  });
}
