// Self-service (issue #6) at the HTTP level, for its security properties: registration and
// password reset never say whether an address has an account, links are used by POST only and
// once, expire and never fail with a 500, a reset ends every session and every other link, the
// second factor cannot be replayed, skipped, forged or guessed, the account pages need a session
// and a CSRF token, and no password ever reaches the log. Real server, real sockets, real SQLite
// files, a real SMTP server. The happy paths in a real browser: e2e/self-service-browser.test.ts.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import type { BuildOptions } from '../src/app.ts';
import * as users from '../src/storage/users.ts';
import { join } from 'node:path';
import { tempDir } from '@gatehouse/test-support/files';
import { ConfigError } from '../src/config/load.ts';
import { migrate, openStorage } from '../src/storage/database.ts';
import { createRole } from '../src/storage/roles.ts';
import { createBrowser, formAction, formValue, type Browser } from '@gatehouse/test-support/browser';
import { ITEMS_API, seedDemo, startInProcess, tokenRequest, type DemoSeed, type Env, type InProcessServer } from '@gatehouse/test-support/gatehouse';
import { linkIn, startMailbox, type ReceivedMail, type TestMailbox } from '@gatehouse/test-support/smtp';
import { loggerOptions } from '../src/logger.ts';
import { totpCode } from '../src/passwords/totp.ts';
import { sha256 } from '../src/secrets.ts';
import { issueAccountToken } from '../src/storage/account-tokens.ts';
import { twoFactorState } from '../src/storage/two-factor.ts';

const JOHN = { username: 'johndoe', email: 'johndoe@example.com', password: 'correct horse' };
const NEW_PASSWORD = 'a brand new password';

// ── Setup ─────────────────────────────────────────────────────────────────────────────────────

interface Fixture extends InProcessServer {
  readonly seed: DemoSeed;
  readonly mailbox: TestMailbox;
}

/** A server with the demo data (johndoe, the `cli` password-grant client…), mailing to a real SMTP server. */
async function setup(t: test.TestContext, env: Env = {}, options: Omit<BuildOptions, 'config'> = {}): Promise<Fixture> {
  const mailbox = await startMailbox(t);
  const gh = await startInProcess(t, { GATEHOUSE_DEFAULT_API: ITEMS_API, GATEHOUSE_SMTP_URL: mailbox.url, GATEHOUSE_REGISTRATION: 'true', ...env }, options);
  const seed = await seedDemo(gh.db);
  return { ...gh, seed, mailbox };
}

/** Every mail the server sent, once it has finished sending (closing the server waits for them). */
async function allMail(gh: Fixture): Promise<ReceivedMail[]> {
  await gh.close();
  return gh.mailbox.messages;
}

// ── Small HTTP helpers ────────────────────────────────────────────────────────────────────────

interface Answer {
  readonly status: number;
  readonly html: string;
  readonly headers: Headers;
}

async function answer(response: Response | Promise<Response>): Promise<Answer> {
  const r = await response;
  return { status: r.status, html: await r.text(), headers: r.headers };
}

/** A form posted by a visitor without cookies. */
function post(url: string, form: Record<string, string>): Promise<Answer> {
  return answer(createBrowser().post(url, form));
}

function get(url: string): Promise<Answer> {
  return answer(createBrowser().get(url));
}

/** A page with the one value that differs between two answers masked. */
function pageText(html: string, value: string): string {
  return html.replaceAll(value, '<value>');
}

function passwordGrant(gh: Fixture, username: string, password: string) {
  return tokenRequest(gh.issuer, { grant_type: 'password', username, password }, gh.seed.passwordClient);
}

async function userCount(gh: Pick<Fixture, 'db'>): Promise<number> {
  return (await users.listUsers(gh.db, { limit: 100 })).total;
}

// ── The login dance (the account pages sign in through /authorize as `gatehouse-account`) ───

/** Follows redirects with GETs until a page. */
async function follow(browser: Browser, response: Response, from: URL): Promise<{ url: URL; page: Answer }> {
  let url = from;
  for (let hops = 0; hops < 10; hops++) {
    const location = response.headers.get('location');
    if (response.status < 300 || response.status >= 400 || !location) return { url, page: await answer(response) };
    url = new URL(location, url);
    response = await browser.get(url);
  }
  throw new Error('too many redirects');
}

interface LoginPage {
  readonly url: URL;
  readonly html: string;
  readonly csrf: string;
  readonly action: URL;
}

/** GET /account without a session: the login page of the account client's authorization request. */
async function openLoginPage(browser: Browser, issuer: string): Promise<LoginPage> {
  const start = new URL('/account', issuer);
  const { url, page } = await follow(browser, await browser.get(start), start);
  assert.equal(page.status, 200);
  assert.match(url.pathname, /^\/interaction\/[^/]+$/, 'the login page');
  return { url, html: page.html, csrf: formValue(page.html, 'csrf'), action: new URL(formAction(page.html, '/login'), url) };
}

/** The password step on a fresh login page: 303 when that is enough, else the page shown. */
async function passwordStep(browser: Browser, issuer: string, username: string, password: string): Promise<{ login: LoginPage; response: Response }> {
  const login = await openLoginPage(browser, issuer);
  return { login, response: await browser.post(login.action, { csrf: login.csrf, username, password }) };
}

interface SecondFactorPage {
  readonly action: URL;
  readonly csrf: string;
  readonly pending: string;
}

/** The password step for an account with two-factor authentication: the second-factor page. */
async function secondFactorPage(browser: Browser, issuer: string, username: string, password: string): Promise<SecondFactorPage> {
  const { login, response } = await passwordStep(browser, issuer, username, password);
  const page = await answer(response);
  assert.equal(page.status, 200, 'the right password shows the second-factor page');
  assert.match(page.html, /name="pending"/);
  return { action: new URL(formAction(page.html, '/second-factor'), login.url), csrf: formValue(page.html, 'csrf'), pending: formValue(page.html, 'pending') };
}

function submitCode(browser: Browser, step: SecondFactorPage, code: string, pending = step.pending): Promise<Response> {
  return browser.post(step.action, { csrf: step.csrf, pending, code });
}

/** After a 303 from the login page: follows it to the account page, which must show. */
async function landOnAccount(browser: Browser, response: Response, issuer: string): Promise<Answer> {
  assert.equal(response.status, 303, 'signed in');
  const { url, page } = await follow(browser, response, new URL(issuer));
  assert.equal(url.pathname, '/account');
  assert.equal(page.status, 200);
  assert.match(page.html, /<h1>Your account<\/h1>/);
  return page;
}

/** Signs this browser in to the account pages with a password (no second factor). */
async function signIn(browser: Browser, issuer: string, username: string, password: string): Promise<Answer> {
  const { response } = await passwordStep(browser, issuer, username, password);
  return landOnAccount(browser, response, issuer);
}

/** Whether this browser is signed in: /account shows the page rather than sending it to sign in. */
async function isSignedIn(browser: Browser, issuer: string): Promise<boolean> {
  const response = await browser.get(`${issuer}/account`);
  await response.arrayBuffer();
  return response.status === 200;
}

/** Turns two-factor on through the account pages, as a person with an authenticator app would. */
async function enableTwoFactor(browser: Browser, issuer: string): Promise<{ secret: string; recoveryCodes: string[] }> {
  const enrol = await answer(browser.get(`${issuer}/account/two-factor`));
  assert.equal(enrol.status, 200);
  const secret = /id="totp-secret">([^<]+)</.exec(enrol.html)![1]!.replace(/\s/g, '');
  assert.match(secret, /^[A-Z2-7]{32}$/);
  const enabled = await answer(browser.post(`${issuer}/account/two-factor/enable`, { csrf: formValue(enrol.html, 'csrf'), code: totpCode(secret), current: JOHN.password }));
  assert.equal(enabled.status, 200);
  const recoveryCodes = [...enabled.html.matchAll(/<li><code>([^<]+)<\/code><\/li>/g)].map((m) => m[1]!);
  assert.equal(recoveryCodes.length, 10);
  return { secret, recoveryCodes };
}

/** The same base64url value with one character changed (in the middle: every bit of it counts). */
function alter(value: string): string {
  const i = Math.floor(value.length / 2);
  return `${value.slice(0, i)}${value[i] === 'A' ? 'B' : 'A'}${value.slice(i + 1)}`;
}

/** A 6-digit code that is not valid now (none of the codes of the accepted window). */
function wrongCode(secret: string): string {
  const now = Date.now();
  const valid = new Set([-60_000, -30_000, 0, 30_000, 60_000].map((d) => totpCode(secret, now + d)));
  for (let n = 0; ; n++) {
    const code = String(n).padStart(6, '0');
    if (!valid.has(code)) return code;
  }
}

// ── 1. Registration ───────────────────────────────────────────────────────────────────────────

test('registering with an email that has an account looks like a new registration; the owner is told by mail; a taken username is said', async (t) => {
  const gh = await setup(t);
  const login = await openLoginPage(createBrowser(), gh.issuer);
  assert.match(login.html, /<a href="\/register\?interaction=[^"]+">Create an account<\/a>/, 'registration is offered on the login page');
  const before = await userCount(gh);

  const fresh = await post(`${gh.issuer}/register`, { username: 'newbie', email: 'newbie@example.com', password: 'newbie password' });
  const taken = await post(`${gh.issuer}/register`, { username: 'somebody', email: 'JohnDoe@Example.com', password: 'somebody password' });
  assert.equal(fresh.status, 200);
  assert.equal(taken.status, fresh.status, 'same status');
  assert.match(fresh.html, /Check your email/);
  assert.equal(pageText(taken.html, 'JohnDoe@Example.com'), pageText(fresh.html, 'newbie@example.com'), 'same page, but for the address');
  assert.equal(await userCount(gh), before + 1, 'only the new address got an account');
  assert.equal(await users.findUser(gh.db, 'somebody'), undefined);

  const owner = await gh.mailbox.waitFor((m) => m.to === JOHN.email);
  assert.match(owner.subject, /Your Gatehouse account/);
  assert.match(owner.text, /already has one/);
  assert.ok(linkIn(owner, `${gh.issuer}/forgot-password`));

  // A username is public (people sign in with it): a taken one is reported on its field.
  const sameName = await post(`${gh.issuer}/register`, { username: 'JohnDoe', email: 'other@example.com', password: 'other password' });
  assert.equal(sameName.status, 400);
  assert.match(sameName.html, /id="username-error" class="field-error">This username is taken/);
  assert.doesNotMatch(sameName.html, /Check your email/);
  assert.equal(await userCount(gh), before + 1);

  const mail = await allMail(gh);
  assert.deepEqual(
    mail.map((m) => `${m.to}: ${m.subject}`).sort(),
    ['johndoe@example.com: Your Gatehouse account', 'newbie@example.com: Verify your email address for Gatehouse'],
    'one verification mail for the new account, one notice to the existing owner, nothing else',
  );
});

test('registration is off by default (GATEHOUSE_REGISTRATION=false): /register answers 404, creates nobody, and the login page does not offer it', async (t) => {
  const gh = await startInProcess(t);
  const before = await userCount(gh);
  const page = await get(`${gh.issuer}/register`);
  assert.equal(page.status, 404);
  assert.match(page.html, /Registration is closed/);
  const posted = await post(`${gh.issuer}/register`, { username: 'newbie', email: 'newbie@example.com', password: 'newbie password' });
  assert.equal(posted.status, 404);
  assert.equal(await users.findUser(gh.db, 'newbie'), undefined);
  assert.equal(await userCount(gh), before);
  const login = await openLoginPage(createBrowser(), gh.issuer);
  assert.doesNotMatch(login.html, /Create an account/);
  assert.doesNotMatch(login.html, /\/register/);
  assert.match(login.html, /Forgot your password\?/, 'the rest of the page is there');
});

test('GATEHOUSE_REGISTRATION_ROLES: a self-registered user gets those roles; a role that does not exist stops the server at start, naming the setting', async (t) => {
  const databaseUrl = `sqlite:${join(tempDir(t), 'gatehouse.db')}`;
  const storage = openStorage(databaseUrl);
  await migrate(storage.db);
  await createRole(storage.db, { name: 'newcomer', scopes: 'me' });
  await storage.close();

  await assert.rejects(
    startInProcess(t, { GATEHOUSE_DATABASE_URL: databaseUrl, GATEHOUSE_REGISTRATION: 'true', GATEHOUSE_REGISTRATION_ROLES: 'newcomer, ghost' }),
    (error: Error) => error instanceof ConfigError && /GATEHOUSE_REGISTRATION_ROLES: no role named ghost/.test(error.message),
  );

  const gh = await setup(t, { GATEHOUSE_DATABASE_URL: databaseUrl, GATEHOUSE_REGISTRATION_ROLES: 'newcomer' });
  const fresh = await post(`${gh.issuer}/register`, { username: 'newbie', email: 'newbie@example.com', password: 'newbie password' });
  assert.equal(fresh.status, 200);
  assert.deepEqual((await users.findUser(gh.db, 'newbie'))?.roles, ['newcomer']);
});

// ── 2. Email verification ─────────────────────────────────────────────────────────────────────

test('a verification link: GET only shows a button, POST works once, expired, foreign and malformed tokens are refused; the password grant waits for it', async (t) => {
  const gh = await setup(t);
  const maria = { username: 'maria', email: 'maria@example.com', password: 'maria password' };
  assert.equal((await post(`${gh.issuer}/register`, maria)).status, 200);
  const link = linkIn(await gh.mailbox.waitFor((m) => m.to === maria.email), `${gh.issuer}/verify-email?token=`);
  const token = new URL(link).searchParams.get('token')!;
  const user = (await users.findUser(gh.db, 'maria'))!;
  const verified = async () => (await users.findUser(gh.db, user.id))!.emailVerified;

  const before = await passwordGrant(gh, maria.username, maria.password);
  assert.equal(before.status, 400);
  assert.equal(before.body.error, 'invalid_grant');
  assert.match(before.body.error_description, /not verified/);

  // Mail scanners open links: a GET uses nothing, however many times.
  for (let i = 0; i < 2; i++) {
    const shown = await get(link);
    assert.equal(shown.status, 200);
    assert.match(shown.html, /Verify my email address/);
    assert.equal(formValue(shown.html, 'token'), token);
  }
  assert.equal(await verified(), false);

  // An expired link: valid, then its expiry passes (set in the table), then refused either way.
  const expiring = await issueAccountToken(gh.db, { purpose: 'verify_email', userId: user.id, email: maria.email, ttlSeconds: 3600 });
  assert.equal((await get(`${gh.issuer}/verify-email?token=${expiring}`)).status, 200);
  await gh.db.updateTable('account_tokens').set({ expires_at: Date.now() - 1 }).where('id', '=', sha256(expiring)).execute();
  assert.equal((await get(`${gh.issuer}/verify-email?token=${expiring}`)).status, 400);
  const expired = await post(`${gh.issuer}/verify-email`, { token: expiring });
  assert.equal(expired.status, 400);
  assert.match(expired.html, /does not work/);

  // A password-reset link is not a verification link.
  const reset = await issueAccountToken(gh.db, { purpose: 'reset_password', userId: user.id, email: maria.email, ttlSeconds: 3600 });
  assert.equal((await get(`${gh.issuer}/verify-email?token=${reset}`)).status, 400);
  assert.equal((await post(`${gh.issuer}/verify-email`, { token: reset })).status, 400);
  assert.equal(await verified(), false);

  // Malformed tokens: a clean 400, never a 500.
  const unknownButWellFormed = 'A'.repeat(43);
  for (const query of ['', '?token=', '?token=abc', `?token=${unknownButWellFormed}`, `?token=${token}&token=${token}`, '?token[a]=1', `?token=${'%00'.repeat(43)}`, `?token=${'x'.repeat(4000)}`]) {
    for (const path of ['/verify-email', '/reset-password']) {
      const page = await get(`${gh.issuer}${path}${query}`);
      assert.equal(page.status, 400, `GET ${path}${query.slice(0, 40)}`);
      assert.match(page.html, /does not work/);
    }
  }
  for (const path of ['/verify-email', '/reset-password']) {
    const bodies: [string, string][] = [
      ['application/x-www-form-urlencoded', ''],
      ['application/x-www-form-urlencoded', `token=${token}&token=${token}`],
      ['application/x-www-form-urlencoded', `token=${'%FF'.repeat(50)}&password=long%20enough%201&confirm=long%20enough%201`],
      ['application/json', JSON.stringify({ token: { $ne: null }, password: 'long enough 1', confirm: 'long enough 1' })],
      ['application/json', JSON.stringify([token])],
    ];
    for (const [type, body] of bodies) {
      const response = await fetch(`${gh.issuer}${path}`, { method: 'POST', headers: { 'content-type': type }, body });
      assert.equal(response.status, 400, `POST ${path} ${type} ${body.slice(0, 40)}`);
      await response.arrayBuffer();
    }
  }
  assert.equal(await verified(), false);

  // The real link, by POST: once.
  const used = await post(`${gh.issuer}/verify-email`, { token });
  assert.equal(used.status, 200);
  assert.match(used.html, /Email address verified/);
  assert.equal(await verified(), true);
  const again = await post(`${gh.issuer}/verify-email`, { token });
  assert.equal(again.status, 400);
  assert.match(again.html, /does not work/);
  assert.equal((await get(link)).status, 400, 'a used link no longer shows its button');

  const after = await passwordGrant(gh, maria.username, maria.password);
  assert.equal(after.status, 200, JSON.stringify(after.body));
  assert.ok(after.body.access_token);
});

// ── 3. Forgotten password and reset ──────────────────────────────────────────────────────────

test('forgot password: the same answer for known and unknown addresses, mail only to the known one, 3 requests per address per hour', async (t) => {
  const gh = await setup(t);
  const known = await post(`${gh.issuer}/forgot-password`, { email: JOHN.email });
  const unknown = await post(`${gh.issuer}/forgot-password`, { email: 'nobody@example.com' });
  assert.equal(known.status, 200);
  assert.equal(unknown.status, known.status);
  assert.equal(pageText(unknown.html, 'nobody@example.com'), pageText(known.html, JOHN.email));
  assert.match(linkIn(await gh.mailbox.waitFor((m) => m.to === JOHN.email), `${gh.issuer}/reset-password?token=`), /token=[\w-]{43}$/);

  // Two more for johndoe (the address counted case-insensitively), then refused; unknown alike.
  for (const email of [JOHN.email, 'JOHNDOE@example.com']) assert.equal((await post(`${gh.issuer}/forgot-password`, { email })).status, 200);
  for (const email of ['nobody@example.com', 'nobody@example.com']) assert.equal((await post(`${gh.issuer}/forgot-password`, { email })).status, 200);
  for (const email of ['johndoe@example.com', 'nobody@example.com']) {
    const limited = await post(`${gh.issuer}/forgot-password`, { email });
    assert.equal(limited.status, 429, email);
    const retryAfter = Number(limited.headers.get('retry-after'));
    assert.ok(retryAfter > 0 && retryAfter <= 3600, `Retry-After: ${retryAfter}`);
  }
  assert.equal((await post(`${gh.issuer}/forgot-password`, { email: 'someone.else@example.com' })).status, 200, 'other addresses are not limited');

  const mail = await allMail(gh);
  assert.equal(mail.filter((m) => m.to === JOHN.email && /Reset your/.test(m.subject)).length, 3, 'three reset mails, none past the limit');
  assert.deepEqual(mail.filter((m) => m.to !== JOHN.email), [], 'no mail to addresses without an account');
});

test('a password reset ends refresh tokens and other reset links; the old password stops working; a mismatched confirmation uses nothing', async (t) => {
  const gh = await setup(t);
  const tokens = await passwordGrant(gh, JOHN.username, JOHN.password);
  assert.equal(tokens.status, 200);
  assert.ok(tokens.body.refresh_token);

  const resetLink = async () => {
    assert.equal((await post(`${gh.issuer}/forgot-password`, { email: JOHN.email })).status, 200);
    const token = new URL(linkIn(await gh.mailbox.waitFor((m) => m.to === JOHN.email && /Reset your/.test(m.subject)), `${gh.issuer}/reset-password?token=`)).searchParams.get('token')!;
    return token;
  };
  const first = await resetLink();
  const second = await resetLink();
  assert.notEqual(first, second);

  // A mismatched confirmation: 400, nothing changes, the link still works.
  const form = await get(`${gh.issuer}/reset-password?token=${first}`);
  assert.equal(form.status, 200);
  assert.equal(formValue(form.html, 'token'), first);
  const mismatch = await post(`${gh.issuer}/reset-password`, { token: first, password: NEW_PASSWORD, confirm: 'another new password' });
  assert.equal(mismatch.status, 400);
  assert.match(mismatch.html, /id="confirm-error"/);
  assert.equal((await get(`${gh.issuer}/reset-password?token=${first}`)).status, 200, 'the link is still usable');

  const done = await post(`${gh.issuer}/reset-password`, { token: first, password: NEW_PASSWORD, confirm: NEW_PASSWORD });
  assert.equal(done.status, 200);
  assert.match(done.html, /Password changed/);

  assert.equal((await post(`${gh.issuer}/reset-password`, { token: first, password: 'yet another password', confirm: 'yet another password' })).status, 400, 'the link worked once');
  const other = await post(`${gh.issuer}/reset-password`, { token: second, password: 'yet another password', confirm: 'yet another password' });
  assert.equal(other.status, 400, 'the link sent earlier no longer works');
  assert.match(other.html, /does not work/);

  const refresh = await tokenRequest(gh.issuer, { grant_type: 'refresh_token', refresh_token: tokens.body.refresh_token }, gh.seed.passwordClient);
  assert.equal(refresh.status, 400);
  assert.equal(refresh.body.error, 'invalid_grant', 'the refresh token issued before the reset is dead');

  const old = await passwordGrant(gh, JOHN.username, JOHN.password);
  assert.equal(old.status, 400);
  assert.equal(old.body.error, 'invalid_grant');
  assert.equal((await passwordGrant(gh, JOHN.username, NEW_PASSWORD)).status, 200);
  assert.ok(await gh.mailbox.waitFor((m) => m.to === JOHN.email && /password was changed/.test(m.subject)));
});

// ── 4. Two-factor authentication ─────────────────────────────────────────────────────────────

test('two-factor: no password grant, the password leads to the code page, a code and a recovery code work once, a forged pending value signs nobody in', async (t) => {
  const gh = await setup(t, { GATEHOUSE_LOGIN_MAX_FAILURES_PER_IP: '100' });
  const browser = createBrowser();
  await signIn(browser, gh.issuer, JOHN.username, JOHN.password);
  const { secret, recoveryCodes } = await enableTwoFactor(browser, gh.issuer);
  const john = (await users.findUser(gh.db, JOHN.username))!;

  const grant = await passwordGrant(gh, JOHN.username, JOHN.password);
  assert.equal(grant.status, 400);
  assert.equal(grant.body.error, 'invalid_grant');
  assert.match(grant.body.error_description, /two-factor/);

  // The password alone signs nobody in.
  const alice = createBrowser();
  const step = await secondFactorPage(alice, gh.issuer, JOHN.username, JOHN.password);
  assert.equal(await isSignedIn(alice, gh.issuer), false);

  // The next time step's code (the enrolment used the current one): valid, but only with the
  // pending value the server signed for this interaction.
  const code = totpCode(secret, Date.now() + 30_000);
  const [body, mac] = step.pending.split('.') as [string, string];
  const longer = Buffer.from(JSON.stringify({ v: john.id, e: Date.now() + 86_400_000 })).toString('base64url');
  const otherInteraction = await secondFactorPage(createBrowser(), gh.issuer, JOHN.username, JOHN.password);
  for (const forged of [`${body}.${alter(mac)}`, `${longer}.${mac}`, body, '', otherInteraction.pending]) {
    const refused = await submitCode(alice, step, code, forged);
    assert.equal(refused.status, 400, `pending ${forged.slice(0, 20)}…`);
    assert.match(await refused.text(), /sign in again/);
  }
  assert.equal(await isSignedIn(alice, gh.issuer), false);

  // The code, now with the real pending value: signed in (so the forged attempts did not use it).
  const step2 = await secondFactorPage(alice, gh.issuer, JOHN.username, JOHN.password);
  await landOnAccount(alice, await submitCode(alice, step2, code), gh.issuer);

  // The same code again, in another browser: refused.
  const bob = createBrowser();
  const replay = await submitCode(bob, await secondFactorPage(bob, gh.issuer, JOHN.username, JOHN.password), code);
  assert.equal(replay.status, 401);
  assert.match(await replay.text(), /not right/);
  assert.equal(await isSignedIn(bob, gh.issuer), false);

  // A recovery code, typed as people do (upper case, no dashes): once.
  const recovery = recoveryCodes[0]!;
  const carol = createBrowser();
  await landOnAccount(carol, await submitCode(carol, await secondFactorPage(carol, gh.issuer, JOHN.username, JOHN.password), recovery.replaceAll('-', '').toUpperCase()), gh.issuer);
  assert.equal((await twoFactorState(gh.db, john.id))!.recoveryCodesLeft, 9);
  const dave = createBrowser();
  const reused = await submitCode(dave, await secondFactorPage(dave, gh.issuer, JOHN.username, JOHN.password), recovery);
  assert.equal(reused.status, 401);
  assert.equal(await isSignedIn(dave, gh.issuer), false);
  assert.equal((await twoFactorState(gh.db, john.id))!.recoveryCodesLeft, 9);
});

test('two-factor: wrong codes are throttled per account; past the limit even a right code gets 429, and the password does not reset it', async (t) => {
  const gh = await setup(t, { GATEHOUSE_LOGIN_MAX_FAILURES_PER_ACCOUNT: '3', GATEHOUSE_LOGIN_MAX_FAILURES_PER_IP: '100' });
  const owner = createBrowser();
  await signIn(owner, gh.issuer, JOHN.username, JOHN.password);
  const { secret, recoveryCodes } = await enableTwoFactor(owner, gh.issuer);
  const john = (await users.findUser(gh.db, JOHN.username))!;

  const attacker = createBrowser();
  const step = await secondFactorPage(attacker, gh.issuer, JOHN.username, JOHN.password);
  for (let i = 0; i < 3; i++) {
    const wrong = await submitCode(attacker, step, wrongCode(secret));
    assert.equal(wrong.status, 401, `wrong code ${i + 1}`);
    await wrong.arrayBuffer();
  }
  // An unused recovery code is a right code: refused before it is even looked at.
  const limited = await submitCode(attacker, step, recoveryCodes[0]!);
  assert.equal(limited.status, 429);
  const retryAfter = Number(limited.headers.get('retry-after'));
  assert.ok(retryAfter > 0 && retryAfter <= 900, `Retry-After: ${retryAfter}`);
  await limited.arrayBuffer();
  assert.equal((await twoFactorState(gh.db, john.id))!.recoveryCodesLeft, 10, 'the recovery code was not used');
  const totp = await submitCode(attacker, step, totpCode(secret, Date.now() + 30_000));
  assert.equal(totp.status, 429);
  await totp.arrayBuffer();
  assert.equal(await isSignedIn(attacker, gh.issuer), false);

  // The codes have a counter of their own: the right password is still accepted, and does not
  // clear it (issue #10, item 1): the next code is refused all the same.
  const again = createBrowser();
  const next = await secondFactorPage(again, gh.issuer, JOHN.username, JOHN.password);
  const stillLimited = await submitCode(again, next, totpCode(secret, Date.now() + 30_000));
  assert.equal(stillLimited.status, 429);
  await stillLimited.arrayBuffer();
});

// ── 5. The account pages ─────────────────────────────────────────────────────────────────────

test('account pages: no session → sign in through /authorize; changing the password needs the CSRF token and the current password', async (t) => {
  const gh = await setup(t);
  const anonymous = await createBrowser().get(`${gh.issuer}/account`);
  assert.equal(anonymous.status, 303);
  const location = new URL(anonymous.headers.get('location')!, gh.issuer);
  assert.equal(location.pathname, '/authorize');
  assert.equal(location.searchParams.get('client_id'), 'gatehouse-account');
  assert.equal(location.searchParams.get('response_type'), 'none');
  assert.equal(location.searchParams.get('redirect_uri'), `${gh.issuer}/account/signed-in`);
  // A cross-site POST without the session is not processed either.
  const blind = await createBrowser().post(`${gh.issuer}/account/password`, { current: JOHN.password, password: NEW_PASSWORD, confirm: NEW_PASSWORD });
  assert.equal(blind.status, 303);
  assert.match(blind.headers.get('location')!, /^\/authorize\?client_id=gatehouse-account/);

  const browser = createBrowser();
  await signIn(browser, gh.issuer, JOHN.username, JOHN.password);
  const form = await answer(browser.get(`${gh.issuer}/account/password`));
  assert.equal(form.status, 200);
  const csrf = formValue(form.html, 'csrf');
  // Another session of the same user has another token.
  const other = createBrowser();
  await signIn(other, gh.issuer, JOHN.username, JOHN.password);
  const otherCsrf = formValue((await answer(other.get(`${gh.issuer}/account/password`))).html, 'csrf');
  assert.notEqual(otherCsrf, csrf);

  const change = { current: JOHN.password, password: NEW_PASSWORD, confirm: NEW_PASSWORD };
  for (const token of [undefined, '', 'x', alter(csrf), otherCsrf]) {
    const refused = await answer(browser.post(`${gh.issuer}/account/password`, token === undefined ? change : { ...change, csrf: token }));
    assert.equal(refused.status, 403, `csrf ${String(token)}`);
    assert.match(refused.html, /Form expired/);
  }
  assert.equal((await passwordGrant(gh, JOHN.username, JOHN.password)).status, 200, 'the password did not change');

  const wrongCurrent = await answer(browser.post(`${gh.issuer}/account/password`, { ...change, csrf, current: 'not my password' }));
  assert.equal(wrongCurrent.status, 400);
  assert.match(wrongCurrent.html, /id="current-error" class="field-error">This is not your current password/);
  assert.equal((await passwordGrant(gh, JOHN.username, JOHN.password)).status, 200, 'the password did not change');

  const changed = await browser.post(`${gh.issuer}/account/password`, { ...change, csrf });
  assert.equal(changed.status, 303);
  assert.equal(changed.headers.get('location'), '/account?done=password-changed');
  await changed.arrayBuffer();
  assert.equal(await isSignedIn(browser, gh.issuer), true, 'this browser stays signed in');
  assert.equal(await isSignedIn(other, gh.issuer), false, 'the other session ended');
  assert.equal((await passwordGrant(gh, JOHN.username, JOHN.password)).body.error, 'invalid_grant');
  assert.equal((await passwordGrant(gh, JOHN.username, NEW_PASSWORD)).status, 200);
});

// ── 6. Mail in the log, and no password in the log ──────────────────────────────────────────

test('without GATEHOUSE_SMTP_URL mail is written to the log with its link; no submitted password is ever logged', async (t) => {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  // The production logger options (redaction, request serializer), at debug level, into `stream`.
  const logger = { ...(loggerOptions({ logLevel: 'debug' }) as object), stream } as BuildOptions['logger'];
  const gh = await startInProcess(t, { GATEHOUSE_DEFAULT_API: ITEMS_API, GATEHOUSE_REGISTRATION: 'true' }, { logger });
  const seed = await seedDemo(gh.db);

  assert.equal((await post(`${gh.issuer}/forgot-password`, { email: JOHN.email })).status, 200);
  const mailLine = lines.find((line) => line.includes('reset-password?token='));
  assert.ok(mailLine, 'the reset mail is in the log');
  const logged = JSON.parse(mailLine) as { mail: { to: string; text: string } };
  assert.equal(logged.mail.to, JOHN.email);
  const link = /(http:\/\/\S+\/reset-password\?token=[\w-]{43})/.exec(logged.mail.text)![1]!;
  assert.ok(link.startsWith(`${gh.issuer}/reset-password?token=`));

  // Passwords through every form and the password grant, right and wrong.
  const passwords = ['first reset pass', 'mismatched pass', 'wrong login pass', 'registered pass', 'account new pass', 'grant wrong pass'];
  const token = new URL(link).searchParams.get('token')!;
  assert.equal((await post(`${gh.issuer}/reset-password`, { token, password: passwords[0]!, confirm: passwords[1]! })).status, 400);
  assert.equal((await post(`${gh.issuer}/reset-password`, { token, password: passwords[0]!, confirm: passwords[0]! })).status, 200);
  assert.equal((await passwordStep(createBrowser(), gh.issuer, JOHN.username, passwords[2]!)).response.status, 401);
  assert.equal((await post(`${gh.issuer}/register`, { username: 'maria', email: 'maria@example.com', password: passwords[3]! })).status, 200);
  const browser = createBrowser();
  await signIn(browser, gh.issuer, JOHN.username, passwords[0]!);
  const form = await answer(browser.get(`${gh.issuer}/account/password`));
  const changed = await browser.post(`${gh.issuer}/account/password`, { csrf: formValue(form.html, 'csrf'), current: passwords[0]!, password: passwords[4]!, confirm: passwords[4]! });
  assert.equal(changed.status, 303);
  assert.equal((await tokenRequest(gh.issuer, { grant_type: 'password', username: JOHN.username, password: passwords[5]! }, seed.passwordClient)).status, 400);
  assert.equal((await tokenRequest(gh.issuer, { grant_type: 'password', username: JOHN.username, password: passwords[4]! }, seed.passwordClient)).status, 200);

  await gh.close();
  assert.ok(lines.some((line) => line.includes('verify-email?token=')), 'the verification mail was logged too');
  assert.ok(lines.length > 10, `the log was written (${lines.length} lines)`);
  for (const password of passwords) {
    const leaks = lines.filter((line) => line.includes(password) || line.includes(encodeURIComponent(password)));
    assert.deepEqual(leaks, [], `"${password}" is not in the log`);
  }
});
