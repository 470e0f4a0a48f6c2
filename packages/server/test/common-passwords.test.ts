// Common passwords are refused wherever a password is set (issue #10, item 18; OWASP ASVS 5
// §6.2.4): the CLI, the admin API, registration, reset and change; whatever their case; with a
// message saying why. And the minimum length counts characters (code points) everywhere.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cli } from '@gatehouse/test-support/gatehouse';
import { startMailbox, linkIn } from '@gatehouse/test-support/smtp';
import { formValue } from '@gatehouse/test-support/browser';
import { isCommonPassword } from '../src/passwords/common.ts';
import { passwordProblem } from '../src/passwords/hash.ts';
import * as users from '../src/storage/users.ts';
import { startAdmin } from './admin-support.ts';
import { answer, client, JOHN, setup, signIn } from './interaction-support.ts';

const COMMON = ['password', '12345678', 'Password1', 'PASSWORD1', 'qwertyuiop', 'iloveyou', ' letmein1 ', 'Ｐａｓｓｗｏｒｄ１'];
const FOUR_EMOJI = '😀😁😂🤣'; // 8 UTF-16 code units, 4 characters

test('the list: common passwords whatever their case or width, and not ordinary passphrases', () => {
  for (const password of COMMON) assert.equal(isCommonPassword(password), true, password);
  for (const password of ['correct horse', 'a brand new passphrase', 'kettle-orbit-mango']) assert.equal(isCommonPassword(password), false, password);
  assert.match(passwordProblem('Password1')!, /is one of the 49,233 most common passwords, which attackers try first: choose another/);
  assert.match(passwordProblem(FOUR_EMOJI)!, /at least 8 characters/);
  assert.equal(passwordProblem('😀😁😂🤣😀😁😂🤣'), undefined, 'eight emoji are eight characters');
});

test('the CLI refuses a common password for users create and set-password, naming why', async (t) => {
  const gh = await setup(t);
  const env = { GATEHOUSE_DATABASE_URL: gh.databaseUrl };
  for (const args of [
    ['users', 'create', '--username', 'jane', '--password', 'Password1'],
    ['users', 'set-password', JOHN.username, '--password', '12345678'],
    ['users', 'set-password', JOHN.username, '--password', FOUR_EMOJI],
  ]) {
    const result = cli(env, args);
    assert.notEqual(result.code, 0, args.join(' '));
    assert.match(result.stderr, /password (is one of the .* most common passwords|must be at least 8 characters)/, result.stderr);
  }
  assert.equal(await users.findUser(gh.db, 'jane'), undefined);
});

test('the admin API refuses a common password on creation and on set-password (400 naming the field)', async (t) => {
  const server = await startAdmin(t);
  const scopes = ['admin:users:read', 'admin:users:write'];
  const token = await server.clientToken(await server.machine('ops', scopes), scopes);
  for (const [method, path, password] of [
    ['POST', '/admin/api/users', 'Password1'],
    ['POST', '/admin/api/users', FOUR_EMOJI],
  ] as const) {
    const refused = await server.call(method, path, { token }, { username: 'jane', password });
    assert.equal(refused.status, 400, refused.text);
    assert.deepEqual([refused.body.error, refused.body.field], ['invalid_request', 'password']);
    assert.match(refused.body.message, /most common passwords|at least 8/);
  }
  assert.equal((await server.call('POST', '/admin/api/users', { token }, { username: 'jane', password: 'kettle-orbit-mango' })).status, 201);
  const refused = await server.call('PUT', '/admin/api/users/jane/password', { token }, { password: 'iloveyou' });
  assert.deepEqual([refused.status, refused.body.field], [400, 'password']);
  assert.match(refused.body.message, /most common passwords/);
});

test('registration, reset and change refuse a common password on the page, saying why', async (t) => {
  const mailbox = await startMailbox(t);
  const gh = await setup(t, { GATEHOUSE_SMTP_URL: mailbox.url, GATEHOUSE_REGISTRATION: 'true' });

  const registered = await answer(client().post(`${gh.issuer}/register`, { username: 'jane', email: 'jane@example.com', password: 'Password1' }));
  assert.equal(registered.status, 400);
  assert.match(registered.html, /id="password-error" class="field-error">The password is one of the 49,233 most common passwords/);
  assert.match(registered.html, /minlength="8"/, 'the form says the minimum too');
  assert.equal(await users.findUser(gh.db, 'jane'), undefined);

  assert.equal((await answer(client().post(`${gh.issuer}/forgot-password`, { email: JOHN.email }))).status, 200);
  const token = new URL(linkIn(await mailbox.waitFor((m) => /Reset your/.test(m.subject)), `${gh.issuer}/reset-password?token=`)).searchParams.get('token')!;
  const reset = await answer(client().post(`${gh.issuer}/reset-password`, { token, password: 'qwertyuiop', confirm: 'qwertyuiop' }));
  assert.equal(reset.status, 400);
  assert.match(reset.html, /most common passwords/);

  const browser = client();
  await signIn(browser, gh.issuer, JOHN.username, JOHN.password);
  const form = await answer(browser.get(`${gh.issuer}/account/password`));
  const changed = await answer(browser.post(`${gh.issuer}/account/password`, { csrf: formValue(form.html, 'csrf'), current: JOHN.password, password: 'letmein1', confirm: 'letmein1' }));
  assert.equal(changed.status, 400);
  assert.match(changed.html, /most common passwords/);
  const short = await answer(browser.post(`${gh.issuer}/account/password`, { csrf: formValue(form.html, 'csrf'), current: JOHN.password, password: FOUR_EMOJI, confirm: FOUR_EMOJI }));
  assert.equal(short.status, 400);
  assert.match(short.html, /at least 8 characters/);
});
