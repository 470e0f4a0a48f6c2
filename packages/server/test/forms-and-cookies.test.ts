// The pages' forms and cookies (issue #10, items 8, 21 and 22):
// - turning two-factor on, or making new recovery codes, needs the password again, not only a
//   session cookie;
// - a form posted with a valid CSRF token but from another site (Origin, Sec-Fetch-Site) is refused;
// - under an https issuer the session cookie is `__Host-session`, the interaction cookies `__Secure-…`.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formAction, formValue } from '@gatehouse/test-support/browser';
import { linkIn, startMailbox } from '@gatehouse/test-support/smtp';
import { totpCode } from '../src/passwords/totp.ts';
import { twoFactorState } from '../src/storage/two-factor.ts';
import * as users from '../src/storage/users.ts';
import { answer, client, enableTwoFactor, follow, JOHN, landOnAccount, openLoginPage, passwordStep, secondFactorPage, setup, signIn, type Client } from './interaction-support.ts';

test('a session alone cannot turn two-factor on or make new recovery codes: the password is asked again', async (t) => {
  const gh = await setup(t);
  const owner = client();
  await signIn(owner, gh.issuer, JOHN.username, JOHN.password);
  // Someone with the owner's session cookie (a borrowed laptop), not the password.
  const intruder = client({}, owner.jar);
  const john = (await users.findUser(gh.db, JOHN.username))!;

  const enrol = await answer(intruder.get(`${gh.issuer}/account/two-factor`));
  assert.equal(enrol.status, 200);
  assert.match(enrol.html, /name="current" type="password" autocomplete="current-password"/);
  const secret = /id="totp-secret">([^<]+)</.exec(enrol.html)![1]!.replace(/\s/g, '');
  const csrf = formValue(enrol.html, 'csrf');
  for (const current of [undefined, '', 'not the password']) {
    const refused = await answer(intruder.post(`${gh.issuer}/account/two-factor/enable`, { csrf, code: totpCode(secret), ...(current === undefined ? {} : { current }) }));
    assert.equal(refused.status, 400, `current=${String(current)}`);
    assert.match(refused.html, /id="current-error" class="field-error">This is not your password/);
  }
  assert.equal((await users.findUser(gh.db, JOHN.username))!.twoFactor, false, 'two-factor is still off');

  const { recoveryCodes } = await enableTwoFactor(owner, gh.issuer, JOHN.password);
  const manage = await answer(intruder.get(`${gh.issuer}/account/two-factor`));
  assert.match(manage.html, /name="regenerate-current" type="password"/);
  for (const current of [undefined, 'not the password']) {
    const refused = await answer(intruder.post(`${gh.issuer}/account/two-factor/recovery-codes`, { csrf: formValue(manage.html, 'csrf'), ...(current === undefined ? {} : { 'regenerate-current': current }) }));
    assert.equal(refused.status, 400);
    assert.doesNotMatch(refused.html, /id="recovery-codes"/, 'no codes shown');
  }
  // The old codes still work, so none were replaced.
  const other = client();
  const step = await secondFactorPage(other, gh.issuer, JOHN.username, JOHN.password);
  assert.equal((await answer(other.post(step.action, { csrf: step.csrf, pending: step.pending, code: recoveryCodes[0]! }))).status, 303);

  const fresh = await answer(owner.post(`${gh.issuer}/account/two-factor/recovery-codes`, { csrf: formValue(manage.html, 'csrf'), 'regenerate-current': JOHN.password }));
  assert.equal(fresh.status, 200);
  assert.equal([...fresh.html.matchAll(/<li><code>/g)].length, 10);
  assert.equal((await twoFactorState(gh.db, john.id))!.recoveryCodesLeft, 10);
});

const FOREIGN: Record<string, string>[] = [
  { origin: 'https://evil.example' },
  { 'sec-fetch-site': 'cross-site' },
  { 'sec-fetch-site': 'same-site' },
  { origin: 'https://evil.example', 'sec-fetch-site': 'same-origin' },
];

async function refusedWith(browser: Client, url: string | URL, form: Record<string, string>): Promise<void> {
  for (const headers of FOREIGN) {
    const refused = await answer(browser.post(url, form, headers));
    assert.equal(refused.status, 403, `${String(url)} with ${JSON.stringify(headers)}: ${refused.status}`);
    assert.match(refused.html, /sent from another site/);
  }
}

test('a form posted from another site is refused even with a valid CSRF token, on every form', async (t) => {
  const mailbox = await startMailbox(t);
  const gh = await setup(t, { GATEHOUSE_SMTP_URL: mailbox.url });

  // The login page: the right password and a valid token, but posted from elsewhere.
  const browser = client();
  const login = await openLoginPage(browser, gh.issuer);
  await refusedWith(browser, login.action, { csrf: login.csrf, username: JOHN.username, password: JOHN.password });
  // Our own pages post with Origin: null (Referrer-Policy: no-referrer) and Sec-Fetch-Site: same-origin.
  const ok = await browser.post(login.action, { csrf: login.csrf, username: JOHN.username, password: JOHN.password }, { origin: 'null', 'sec-fetch-site': 'same-origin' });
  assert.equal(ok.status, 303);
  await ok.arrayBuffer();

  // The account pages.
  const owner = client();
  await signIn(owner, gh.issuer, JOHN.username, JOHN.password);
  const form = await answer(owner.get(`${gh.issuer}/account/password`));
  await refusedWith(owner, `${gh.issuer}/account/password`, { csrf: formValue(form.html, 'csrf'), current: JOHN.password, password: 'a brand new passphrase', confirm: 'a brand new passphrase' });
  assert.equal((await users.findUser(gh.db, JOHN.username)) !== undefined, true);
  const enrol = await answer(owner.get(`${gh.issuer}/account/two-factor`));
  const secret = /id="totp-secret">([^<]+)</.exec(enrol.html)![1]!.replace(/\s/g, '');
  await refusedWith(owner, `${gh.issuer}/account/two-factor/enable`, { csrf: formValue(enrol.html, 'csrf'), code: totpCode(secret), current: JOHN.password });
  assert.equal((await users.findUser(gh.db, JOHN.username))!.twoFactor, false);

  // The second factor (same-origin from here on, to get there).
  const { secret: realSecret } = await enableTwoFactor(owner, gh.issuer, JOHN.password);
  const second = client();
  const step = await secondFactorPage(second, gh.issuer, JOHN.username, JOHN.password);
  await refusedWith(second, step.action, { csrf: step.csrf, pending: step.pending, code: totpCode(realSecret, Date.now() + 30_000) });

  // Self-service forms: registration, forgotten password, reset.
  await refusedWith(client(), `${gh.issuer}/register`, { username: 'jane', email: 'jane@example.com', password: 'kettle-orbit-mango' });
  assert.equal(await users.findUser(gh.db, 'jane'), undefined);
  await refusedWith(client(), `${gh.issuer}/forgot-password`, { email: JOHN.email });
  assert.equal((await answer(client().post(`${gh.issuer}/forgot-password`, { email: JOHN.email }, { 'sec-fetch-site': 'same-origin', origin: gh.issuer }))).status, 200);
  const token = new URL(linkIn(await mailbox.waitFor((m) => /Reset your/.test(m.subject)), `${gh.issuer}/reset-password?token=`)).searchParams.get('token')!;
  await refusedWith(client(), `${gh.issuer}/reset-password`, { token, password: 'a brand new passphrase', confirm: 'a brand new passphrase' });
  assert.equal((await answer(client().get(`${gh.issuer}/reset-password?token=${token}`))).status, 200, 'the link was not used');
  assert.equal((await users.findUser(gh.db, 'johndoe'))!.twoFactor, true);
});

test('under an https public URL the session cookie is __Host-session and the interaction cookies __Secure-…, and signing in works', async (t) => {
  const publicUrl = 'https://auth.example.test';
  const gh = await setup(t, { GATEHOUSE_PUBLIC_URL: publicUrl });
  const local = gh.server.app.server.address() as { port: number };
  const base = `http://127.0.0.1:${local.port}`;
  // The proxy in front would serve the public URL: here it is reached directly.
  const here = (location: string) => new URL(location.replace(publicUrl, base), base);
  const browser = client();
  const setCookies: string[] = [];
  const visit = async (response: Response) => {
    setCookies.push(...response.headers.getSetCookie());
    return response;
  };

  let response = await visit(await browser.get(`${base}/account`));
  while (response.status === 303 && !new URL(response.headers.get('location')!, base).pathname.startsWith('/interaction/')) {
    response = await visit(await browser.get(here(response.headers.get('location')!)));
  }
  const loginUrl = here(response.headers.get('location')!);
  const page = await answer(visit(await browser.get(loginUrl)));
  response = await visit(await browser.post(new URL(`${loginUrl.pathname}/login`, base), { csrf: formValue(page.html, 'csrf'), username: JOHN.username, password: JOHN.password }));
  for (let hops = 0; hops < 10 && response.status === 303; hops++) response = await visit(await browser.get(here(response.headers.get('location')!)));
  assert.equal(response.status, 200, 'signed in to the account page');
  assert.match(await response.text(), /<h1>Your account<\/h1>/);

  const names = [...new Set(setCookies.map((c) => c.split('=')[0]!))].sort();
  assert.deepEqual(names.filter((n) => !n.endsWith('.sig')), ['__Host-session', '__Secure-interaction', '__Secure-interaction_resume']);
  for (const cookie of setCookies) {
    assert.match(cookie, /;\s*secure/i, cookie);
    assert.match(cookie, /;\s*httponly/i, cookie);
    assert.doesNotMatch(cookie, /;\s*domain=/i, cookie);
    if (cookie.startsWith('__Host-')) assert.match(cookie, /;\s*path=\/(;|$)/i, `__Host- needs Path=/: ${cookie}`);
  }
  assert.ok(browser.jar.get('__Host-session'));
});

test('under an http public URL (development) the cookies keep plain names: browsers refuse prefixed ones without Secure', async (t) => {
  const gh = await setup(t);
  const browser = client();
  const { response } = await passwordStep(browser, gh.issuer, JOHN.username, JOHN.password);
  assert.equal(response.status, 303);
  await response.arrayBuffer();
  const names = browser.jar.names();
  assert.ok(names.includes('_interaction'), names.join(' '));
  assert.ok(names.every((n) => !n.startsWith('__')), names.join(' '));
});

test('the interaction and session cookies are signed: the same values without their signatures open nothing', async (t) => {
  const gh = await setup(t);
  const owner = client();
  const login = await openLoginPage(owner, gh.issuer);
  // Someone who learnt the cookies' values (not the keys that sign them) sends them unsigned.
  const unsigned = (from: Client, names: string[]) => {
    const thief = client();
    thief.jar.store(new Response(null, { headers: names.map((name) => ['set-cookie', `${name}=${from.jar.get(name)!}`] as [string, string]) }));
    return thief;
  };
  assert.ok(owner.jar.get('_interaction.sig'), 'oidc-provider signs the interaction cookie');
  const stranger = await answer(unsigned(owner, ['_interaction']).get(login.url));
  assert.notEqual(stranger.status, 200, 'no login page for an unsigned interaction cookie');
  assert.doesNotMatch(stranger.html, /name="csrf"/);
  assert.equal((await answer(owner.get(login.url))).status, 200, 'the signed one still opens it');

  await landOnAccount(owner, await owner.post(login.action, { csrf: login.csrf, username: JOHN.username, password: JOHN.password }), gh.issuer);
  assert.ok(owner.jar.get('_session.sig'), 'oidc-provider signs the session cookie');
  const thief = unsigned(owner, ['_session']);
  const start = new URL('/account', gh.issuer);
  const { url } = await follow(thief, await thief.get(start), start);
  assert.match(url.pathname, /^\/interaction\//, 'an unsigned session cookie is no session: the login page again');
});

test('signed out from the account page: the browser keeps a session cookie with no one in it, and the account page asks to sign in again', async (t) => {
  const gh = await setup(t);
  const browser = client();
  await signIn(browser, gh.issuer, JOHN.username, JOHN.password);
  const account = await answer(browser.get(`${gh.issuer}/account`));
  const signOutLink = /href="(\/logout[^"]*)">Sign out</.exec(account.html)![1]!.replace(/&amp;/g, '&');
  const signOutPage = await answer(browser.get(new URL(signOutLink, gh.issuer)));
  const confirm = new URL(formAction(signOutPage.html, '/logout/confirm'), gh.issuer);
  const done = await follow(browser, await browser.post(confirm, { xsrf: formValue(signOutPage.html, 'xsrf'), logout: 'yes' }), confirm);
  assert.equal(done.page.status, 200);
  assert.match(done.page.html, /<h1>You are signed out<\/h1>/, 'the page says so, in Gatehouse\'s layout');
  const start = new URL('/account', gh.issuer);
  const { url, page } = await follow(browser, await browser.get(start), start);
  assert.match(url.pathname, /^\/interaction\//, 'the login page, not an account page for nobody');
  assert.match(page.html, /name="password"/);
});
