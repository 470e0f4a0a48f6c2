// Self-service pages in a real browser (issue #6, Debian chromium via playwright-core), with a
// real SMTP server (smtp-server) receiving Gatehouse's mail: registration → the verification link
// from the mailbox → sign in; forgot password → the reset link → sign in with the new password;
// two-factor enrolment (QR code page, confirmation code, recovery codes) → sign in with a code →
// a wrong code refused. The account pages (/account) are the protected page: they sign in through
// the server's own authorization endpoint. Screenshots of every page, at desktop and phone width,
// go to test-results/self-service/.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import * as apis from '@gatehouse/server/internal/storage/apis';
import { withPasswordHash } from '@gatehouse/server/internal/passwords/user-passwords';
import * as users from '@gatehouse/server/internal/storage/users';
import { totpCode } from '../packages/server/src/passwords/totp.ts';
import { launchChromium } from '@gatehouse/test-support/chromium';
import { textLayoutProblems } from '@gatehouse/test-support/layout-check';
import { REPO_ROOT, startInProcess, type InProcessServer } from '@gatehouse/test-support/gatehouse';
import { linkIn, startMailbox, type TestMailbox } from '@gatehouse/test-support/smtp';

const SCREENSHOTS = `${REPO_ROOT}test-results/self-service`;
const VIEWPORTS = { desktop: { width: 1280, height: 800 }, phone: { width: 390, height: 844 } } as const;

interface Fixture {
  readonly gh: InProcessServer;
  readonly mailbox: TestMailbox;
  readonly browser: Browser;
}

async function setup(t: test.TestContext, env: Record<string, string> = {}): Promise<Fixture> {
  const mailbox = await startMailbox(t);
  const gh = await startInProcess(t, { GATEHOUSE_SMTP_URL: mailbox.url, GATEHOUSE_MAIL_FROM: 'Acme ID <id@acme.test>', GATEHOUSE_BRAND_NAME: 'Acme ID', GATEHOUSE_REGISTRATION: 'true', ...env });
  const browser = await launchChromium(t);
  mkdirSync(SCREENSHOTS, { recursive: true });
  return { gh, mailbox, browser };
}

async function newPage(browser: Browser, violations: string[]): Promise<Page> {
  const context = await browser.newContext({ viewport: VIEWPORTS.desktop });
  const page = await context.newPage();
  page.on('console', (message) => {
    if (/Content Security Policy|Refused to/i.test(message.text())) violations.push(message.text());
  });
  return page;
}

async function shoot(page: Page, name: string): Promise<void> {
  for (const [label, size] of Object.entries(VIEWPORTS)) {
    await page.setViewportSize(size);
    await page.screenshot({ path: `${SCREENSHOTS}/${name}-${label}.png`, fullPage: true });
    assert.deepEqual(await textLayoutProblems(page), [], `${name} at ${label} width: no clipped, overlapping or split text`);
    if (label === 'phone') {
      // Usable on a phone: nothing wider than the screen.
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `${name}: the page is ${overflow}px wider than a phone screen`);
    }
  }
  await page.setViewportSize(VIEWPORTS.desktop);
}

async function signIn(page: Page, username: string, password: string): Promise<void> {
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
}

test('registration → verification link from the mailbox → sign in', async (t) => {
  // As `npm start` runs it: with a default API (the account client must not get its scopes).
  const { gh, mailbox, browser } = await setup(t, { GATEHOUSE_DEFAULT_API: 'http://localhost:8001' });
  await apis.createApi(gh.db, { identifier: 'http://localhost:8001', name: 'Items API', scopes: 'me items' });
  const violations: string[] = [];
  const page = await newPage(browser, violations);

  // The protected page sends the visitor to the login page, which offers to create an account.
  await page.goto(`${gh.issuer}/account`);
  await page.waitForURL(`${gh.issuer}/interaction/**`);
  assert.equal(await page.title(), 'Sign in · Acme ID', 'the operator\'s brand name');
  await shoot(page, '01-login');
  await page.getByRole('link', { name: 'Create an account' }).click();
  assert.equal(await page.title(), 'Create an account · Acme ID');
  await shoot(page, '02-register');

  // Errors are tied to their fields and announced.
  await page.getByLabel('Username').fill('-bad');
  await page.getByLabel('Email address').fill('not an email');
  await page.getByLabel('Password').fill('short');
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.waitForSelector('[role=alert]');
  assert.match((await page.textContent('[role=alert]')) ?? '', /3 fields/);
  for (const [label, id] of [['Username', 'username'], ['Email address', 'email'], ['Password', 'password']] as const) {
    const input = page.getByLabel(label);
    assert.equal(await input.getAttribute('aria-invalid'), 'true', label);
    assert.match((await input.getAttribute('aria-describedby')) ?? '', new RegExp(`${id}-error`), label);
  }
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'username', 'the first wrong field has the focus');
  await shoot(page, '03-register-errors');

  await page.getByLabel('Username').fill('maria');
  await page.getByLabel('Email address').fill('maria@example.com');
  await page.getByLabel('Password').fill('a long enough password');
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByRole('heading', { name: 'Check your email' }).waitFor();
  await shoot(page, '04-check-email');

  // Before verifying, the right password gets "verify your email", and a new link on demand.
  await page.goto(`${gh.issuer}/account`);
  await page.waitForURL(`${gh.issuer}/interaction/**`);
  await signIn(page, 'maria', 'a long enough password');
  await page.getByRole('heading', { name: 'Verify your email address' }).waitFor();
  await shoot(page, '05-unverified');

  const mail = await mailbox.waitFor((m) => m.to === 'maria@example.com' && /Verify your email/.test(m.subject));
  assert.match(mail.from, /id@acme\.test/);
  assert.match(mail.subject, /Acme ID/);
  const link = linkIn(mail, `${gh.issuer}/verify-email?token=`);

  // The link shows a button (a mail scanner's GET uses nothing), the button verifies.
  await page.goto(link);
  await shoot(page, '06-verify-email');
  await page.getByRole('button', { name: 'Verify my email address' }).click();
  await page.getByRole('heading', { name: 'Email address verified' }).waitFor();
  await shoot(page, '07-verified');
  // Used once: the same link does nothing the second time.
  await page.goto(link);
  await page.getByRole('heading', { name: 'This link does not work' }).waitFor();
  await shoot(page, '08-link-used');

  await page.goto(`${gh.issuer}/account`);
  await page.waitForURL(`${gh.issuer}/interaction/**`);
  await signIn(page, 'maria', 'a long enough password');
  await page.waitForURL(`${gh.issuer}/account`);
  await page.getByRole('heading', { name: 'Your account' }).waitFor();
  assert.match((await page.textContent('dl.account')) ?? '', /maria@example\.com \(verified\)/);
  await shoot(page, '09-account');
  assert.deepEqual(violations, [], 'no CSP violation');

  const created = await users.findUser(gh.db, 'maria');
  assert.equal(created?.emailVerified, true);
  assert.deepEqual(created?.roles, [], 'self-registered users get no roles');
});

test('forgot password → reset link from the mailbox → sign in with the new password', async (t) => {
  const { gh, mailbox, browser } = await setup(t);
  await users.createUser(gh.db, await withPasswordHash({ username: 'johndoe', email: 'johndoe@example.com', password: 'correct horse' }));
  const violations: string[] = [];
  const page = await newPage(browser, violations);

  await page.goto(`${gh.issuer}/account`);
  await page.waitForURL(`${gh.issuer}/interaction/**`);
  await page.getByRole('link', { name: 'Forgot your password?' }).click();
  await shoot(page, '10-forgot-password');
  await page.getByLabel('Email address').fill('johndoe@example.com');
  await page.getByRole('button', { name: 'Send the link' }).click();
  await page.getByRole('heading', { name: 'Check your email' }).waitFor();
  const answer = await page.textContent('main');
  await shoot(page, '11-forgot-sent');

  // An address without an account gets the very same page (and no mail).
  const other = await newPage(browser, violations);
  await other.goto(`${gh.issuer}/forgot-password`);
  await other.getByLabel('Email address').fill('nobody@example.com');
  await other.getByRole('button', { name: 'Send the link' }).click();
  await other.getByRole('heading', { name: 'Check your email' }).waitFor();
  assert.equal((await other.textContent('main'))!.replace('nobody@example.com', 'johndoe@example.com'), answer);

  const mail = await mailbox.waitFor((m) => m.to === 'johndoe@example.com' && /Reset your/.test(m.subject));
  await page.goto(linkIn(mail, `${gh.issuer}/reset-password?token=`));
  await shoot(page, '12-reset-password');
  await page.getByLabel('New password', { exact: true }).fill('a brand new password');
  await page.getByLabel('Repeat the new password').fill('a different password');
  await page.getByRole('button', { name: 'Change password' }).click();
  await page.waitForSelector('#confirm-error');
  assert.equal(await page.getByLabel('Repeat the new password').getAttribute('aria-invalid'), 'true');
  await shoot(page, '13-reset-password-error');
  await page.getByLabel('New password', { exact: true }).fill('a brand new password');
  await page.getByLabel('Repeat the new password').fill('a brand new password');
  await page.getByRole('button', { name: 'Change password' }).click();
  await page.getByRole('heading', { name: 'Password changed' }).waitFor();
  await shoot(page, '14-password-changed');
  assert.ok(await mailbox.waitFor((m) => m.to === 'johndoe@example.com' && /password was changed/.test(m.subject)));

  await page.getByRole('link', { name: 'Continue to sign in' }).click();
  await page.waitForURL(`${gh.issuer}/interaction/**`);
  await signIn(page, 'johndoe', 'correct horse');
  await page.waitForSelector('[role=alert]');
  assert.equal((await page.textContent('[role=alert]'))?.trim(), 'Invalid username or password.', 'the old password is gone');
  await signIn(page, 'johndoe', 'a brand new password');
  await page.waitForURL(`${gh.issuer}/account`);
  await page.getByRole('heading', { name: 'Your account' }).waitFor();
  assert.deepEqual(violations, [], 'no CSP violation');
});

test('two-factor: enrol with the QR page → sign in with a code → a wrong code is refused', async (t) => {
  const { gh, browser } = await setup(t);
  await users.createUser(gh.db, await withPasswordHash({ username: 'johndoe', email: 'johndoe@example.com', password: 'correct horse' }));
  const violations: string[] = [];
  const page = await newPage(browser, violations);

  await page.goto(`${gh.issuer}/account`);
  await page.waitForURL(`${gh.issuer}/interaction/**`);
  await signIn(page, 'johndoe', 'correct horse');
  await page.waitForURL(`${gh.issuer}/account`);
  await page.getByRole('link', { name: 'Set up two-factor authentication' }).click();
  await page.getByRole('heading', { name: 'Set up two-factor authentication' }).waitFor();
  assert.equal(await page.locator('.qr svg').count(), 1, 'the QR code is on the page (inline SVG, allowed by the CSP)');
  await shoot(page, '15-two-factor-enrol');
  // What an authenticator app would do with the key shown under the QR code.
  const secret = ((await page.textContent('#totp-secret')) ?? '').replace(/\s/g, '');
  assert.match(secret, /^[A-Z2-7]{32}$/);

  // Turning it on asks for the password again (a session alone is not enough).
  await page.getByLabel('Code from the app').fill('000000');
  await page.getByLabel('Your password').fill('correct horse');
  await page.getByRole('button', { name: 'Turn on two-factor authentication' }).click();
  await page.waitForSelector('#code-error');
  await shoot(page, '16-two-factor-enrol-error');
  await page.getByLabel('Code from the app').fill(totpCode(secret));
  await page.getByLabel('Your password').fill('correct horse');
  await page.getByRole('button', { name: 'Turn on two-factor authentication' }).click();
  await page.getByRole('heading', { name: 'Save your recovery codes' }).waitFor();
  const codes = await page.locator('#recovery-codes code').allTextContents();
  assert.equal(codes.length, 10);
  await shoot(page, '17-recovery-codes');

  // Sign out, then sign in again: the password is no longer enough.
  await page.goto(`${gh.issuer}/logout?client_id=gatehouse-account`);
  await page.getByRole('button', { name: 'Yes, sign me out' }).click();
  await page.getByRole('heading', { name: 'You are signed out' }).waitFor();
  await page.goto(`${gh.issuer}/account`);
  await page.waitForURL(`${gh.issuer}/interaction/**`);
  await signIn(page, 'johndoe', 'correct horse');
  await page.getByRole('heading', { name: 'Two-factor authentication' }).waitFor();
  await shoot(page, '18-second-factor');

  await page.getByLabel('Authentication code').fill('123456' === totpCode(secret) ? '654321' : '123456');
  await page.getByRole('button', { name: 'Verify' }).click();
  await page.waitForSelector('#code-error');
  assert.equal(await page.getByLabel('Authentication code').getAttribute('aria-invalid'), 'true');
  assert.match((await page.textContent('#code-error')) ?? '', /not right/);
  await shoot(page, '19-second-factor-wrong');
  assert.notEqual(new URL(page.url()).pathname, '/account', 'a wrong code signs nobody in');

  // The code of the next time step: the one used at enrolment cannot be replayed.
  await page.getByLabel('Authentication code').fill(totpCode(secret, Date.now() + 30_000));
  await page.getByRole('button', { name: 'Verify' }).click();
  await page.waitForURL(`${gh.issuer}/account`);
  assert.match((await page.textContent('dl.account')) ?? '', /On, 10 recovery code\(s\) left/);
  await page.getByRole('link', { name: 'Manage two-factor authentication' }).click();
  await page.getByRole('heading', { name: 'Two-factor authentication is on' }).waitFor();
  await shoot(page, '20-two-factor-manage');
  assert.deepEqual(violations, [], 'no CSP violation');
});
