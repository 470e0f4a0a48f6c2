// Attacks on login throttling, over HTTP, with the counts in memory and in Redis (issue #10,
// items 1 and 3): guessing a second factor with the password known, rotating addresses inside
// one IPv6 /64, and bursts of parallel guesses that must get no more tries than a sequence.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as users from '../src/storage/users.ts';
import { totpCode } from '../src/passwords/totp.ts';
import { twoFactorState } from '../src/storage/two-factor.ts';
import {
  JOHN,
  STORES,
  answer,
  client,
  enableTwoFactor,
  isSignedIn,
  openLoginPage,
  passwordStep,
  secondFactorPage,
  setup,
  signIn,
  statusCounts,
  storeEnv,
  submitCode,
  wrongCode,
  type Fixture,
} from './interaction-support.ts';

function passwordGrant(gh: Fixture, username: string, password: string, headers: Record<string, string> = {}) {
  return fetch(`${gh.issuer}/token`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${gh.seed.passwordClient.clientId}:${gh.seed.passwordClient.clientSecret}`).toString('base64')}`,
      ...headers,
    },
    body: new URLSearchParams({ grant_type: 'password', username, password }).toString(),
  });
}

for (const store of STORES) {
  test(`[${store}] a second factor cannot be guessed by re-entering the password: code failures have their own counter`, async (t) => {
    const gh = await setup(t, { ...storeEnv(store), GATEHOUSE_LOGIN_MAX_FAILURES_PER_ACCOUNT: '3', GATEHOUSE_LOGIN_MAX_FAILURES_PER_IP: '1000' });
    const owner = client();
    await signIn(owner, gh.issuer, JOHN.username, JOHN.password);
    const { secret, recoveryCodes } = await enableTwoFactor(owner, gh.issuer, JOHN.password);
    const john = (await users.findUser(gh.db, JOHN.username))!;

    // The attacker knows the password. Two wrong codes, then the right password again (which
    // used to clear the only per-account count), over and over; a wrong recovery code counts too.
    const statuses: number[] = [];
    for (let round = 0; round < 6; round++) {
      const attacker = client();
      const step = await secondFactorPage(attacker, gh.issuer, JOHN.username, JOHN.password);
      for (const code of [wrongCode(secret, round * 2), round === 2 ? 'aaaa-bbbb-cccc-dddd' : wrongCode(secret, round * 2 + 1)]) {
        const response = await submitCode(attacker, step, code);
        statuses.push(response.status);
        await response.arrayBuffer();
      }
    }
    assert.deepEqual(statusCounts(statuses), { 401: 3, 429: 9 }, `three codes checked in all, whatever the password did: ${statuses.join(' ')}`);

    // The right code (and an unused recovery code) are refused too, before being looked at.
    const attacker = client();
    const step = await secondFactorPage(attacker, gh.issuer, JOHN.username, JOHN.password);
    for (const code of [totpCode(secret, Date.now() + 30_000), recoveryCodes[0]!]) {
      const refused = await submitCode(attacker, step, code);
      assert.equal(refused.status, 429);
      assert.ok(Number(refused.headers.get('retry-after')) > 0);
      await refused.arrayBuffer();
    }
    assert.equal(await isSignedIn(attacker, gh.issuer), false);
    assert.equal((await twoFactorState(gh.db, john.id))!.recoveryCodesLeft, 10, 'the recovery code was not used');
  });

  test(`[${store}] a right second factor clears its own counter, and a right password does not`, async (t) => {
    const gh = await setup(t, { ...storeEnv(store), GATEHOUSE_LOGIN_MAX_FAILURES_PER_ACCOUNT: '3', GATEHOUSE_LOGIN_MAX_FAILURES_PER_IP: '1000' });
    const owner = client();
    await signIn(owner, gh.issuer, JOHN.username, JOHN.password);
    const { secret } = await enableTwoFactor(owner, gh.issuer, JOHN.password);

    const browser = client();
    const step = await secondFactorPage(browser, gh.issuer, JOHN.username, JOHN.password);
    for (let i = 0; i < 2; i++) assert.equal((await answer(submitCode(browser, step, wrongCode(secret, i)))).status, 401);
    // The password step again: the code counter still holds its two failures.
    await secondFactorPage(client(), gh.issuer, JOHN.username, JOHN.password);
    const ok = await submitCode(browser, step, totpCode(secret, Date.now() + 30_000));
    assert.equal(ok.status, 303, 'the right code, third attempt');
    await ok.arrayBuffer();
    // Cleared by the success: three more wrong codes are checked before the limit.
    const next = client();
    const nextStep = await secondFactorPage(next, gh.issuer, JOHN.username, JOHN.password);
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await answer(submitCode(next, nextStep, wrongCode(secret, 10 + i)))).status);
    assert.deepEqual(statuses, [401, 401, 401, 429]);
  });

  test(`[${store}] 25 parallel wrong passwords for one account get 5 checks, on the password grant and on the login page`, async (t) => {
    const gh = await setup(t, { ...storeEnv(store), GATEHOUSE_LOGIN_MAX_FAILURES_PER_ACCOUNT: '5', GATEHOUSE_LOGIN_MAX_FAILURES_PER_IP: '1000' });
    const grants = await Promise.all(Array.from({ length: 25 }, (_, i) => answer(passwordGrant(gh, JOHN.username, `wrong password ${i}`))));
    assert.deepEqual(statusCounts(grants.map((g) => g.status)), { 400: 5, 429: 20 }, 'password grant');

    const other = 'alice';
    const pages = await Promise.all(Array.from({ length: 25 }, async () => {
      const browser = client();
      return { browser, login: await openLoginPage(browser, gh.issuer) };
    }));
    const posted = await Promise.all(pages.map(({ browser, login }, i) => answer(browser.post(login.action, { csrf: login.csrf, username: other, password: `wrong password ${i}` }))));
    assert.deepEqual(statusCounts(posted.map((p) => p.status)), { 401: 5, 429: 20 }, 'login page');
  });

  test(`[${store}] 25 parallel wrong codes for one account get as many checks as the limit`, async (t) => {
    const gh = await setup(t, { ...storeEnv(store), GATEHOUSE_LOGIN_MAX_FAILURES_PER_ACCOUNT: '4', GATEHOUSE_LOGIN_MAX_FAILURES_PER_IP: '1000' });
    const owner = client();
    await signIn(owner, gh.issuer, JOHN.username, JOHN.password);
    const { secret } = await enableTwoFactor(owner, gh.issuer, JOHN.password);
    const attacker = client();
    const step = await secondFactorPage(attacker, gh.issuer, JOHN.username, JOHN.password);
    const answers = await Promise.all(Array.from({ length: 25 }, (_, i) => answer(submitCode(attacker, step, wrongCode(secret, i)))));
    assert.deepEqual(statusCounts(answers.map((a) => a.status)), { 401: 4, 429: 21 });
  });

  test(`[${store}] a right password in a parallel burst neither lets the wrong ones through nor is refused before the limit`, async (t) => {
    const gh = await setup(t, { ...storeEnv(store), GATEHOUSE_LOGIN_MAX_FAILURES_PER_ACCOUNT: '5', GATEHOUSE_LOGIN_MAX_FAILURES_PER_IP: '1000' });
    // Four wrong passwords in sequence, then the right one: under the limit, so it signs in.
    for (let i = 0; i < 4; i++) assert.equal((await passwordGrant(gh, JOHN.username, `wrong password ${i}`)).status, 400);
    assert.equal((await passwordGrant(gh, JOHN.username, JOHN.password)).status, 200);
    // The success cleared the account's password failures: five more are checked.
    const burst = await Promise.all(Array.from({ length: 10 }, (_, i) => answer(passwordGrant(gh, JOHN.username, `again wrong ${i}`))));
    assert.deepEqual(statusCounts(burst.map((b) => b.status)), { 400: 5, 429: 5 });
  });

  test(`[${store}] the per-address limit groups IPv6 clients by /64, on the login page and the password grant`, async (t) => {
    const gh = await setup(t, { ...storeEnv(store), GATEHOUSE_TRUST_PROXY: 'loopback', GATEHOUSE_LOGIN_MAX_FAILURES_PER_ACCOUNT: '1000', GATEHOUSE_LOGIN_MAX_FAILURES_PER_IP: '4' });
    // Four hosts of one /64 (as one machine can have), each trying other usernames.
    for (const [i, host] of ['2001:db8:5:6::1', '2001:db8:5:6:aaaa::2', '2001:DB8:5:6:ffff:ffff:ffff:ffff', '2001:0db8:0005:0006::4'].entries()) {
      const response = i % 2 === 0
        ? await answer(passwordGrant(gh, `user${i}`, 'wrong password', { 'x-forwarded-for': host }))
        : (await (async () => {
            const browser = client({ 'x-forwarded-for': host });
            const login = await openLoginPage(browser, gh.issuer);
            return answer(browser.post(login.action, { csrf: login.csrf, username: `user${i}`, password: 'wrong password' }));
          })());
      assert.ok([400, 401].includes(response.status), `${host}: ${response.status}`);
    }
    const fifth = await answer(passwordGrant(gh, JOHN.username, JOHN.password, { 'x-forwarded-for': '2001:db8:5:6:1234::99' }));
    assert.equal(fifth.status, 429, 'another host of the same /64 is refused, even with the right password');
    const browser = client({ 'x-forwarded-for': '2001:db8:5:6::77' });
    const { response } = await passwordStep(browser, gh.issuer, JOHN.username, JOHN.password);
    assert.equal(response.status, 429, 'on the login page too');
    await response.arrayBuffer();
    assert.equal((await answer(passwordGrant(gh, JOHN.username, JOHN.password, { 'x-forwarded-for': '2001:db8:5:7::1' }))).status, 200, 'the next /64 is another client');
    assert.equal((await answer(passwordGrant(gh, JOHN.username, JOHN.password, { 'x-forwarded-for': '192.0.2.10' }))).status, 200, 'an IPv4 client is its own address');
  });

  test(`[${store}] registration and reset-mail limits count an IPv6 /64 as one address, and hold under a parallel burst`, async (t) => {
    const gh = await setup(t, { ...storeEnv(store), GATEHOUSE_TRUST_PROXY: 'loopback', GATEHOUSE_REGISTRATION: 'true' });
    const register = (i: number, host: string) =>
      answer(client({ 'x-forwarded-for': host }).post(`${gh.issuer}/register`, { username: `new${i}`, email: `new${i}@example.com`, password: `a fine passphrase ${i}` }));
    // Ten registrations an hour per address: ten hosts of one /64, at once, then an eleventh.
    const first = await Promise.all(Array.from({ length: 12 }, (_, i) => register(i, `2001:db8:9:9::${i + 1}`)));
    assert.deepEqual(statusCounts(first.map((r) => r.status)), { 200: 10, 429: 2 });
    assert.equal((await register(99, '2001:db8:9:a::1')).status, 200, 'the next /64 may register');

    // Three reset mails an hour per email, whatever the address: a parallel burst sends three.
    const forgot = await Promise.all(
      Array.from({ length: 10 }, (_, i) => answer(client({ 'x-forwarded-for': `198.51.100.${i + 1}` }).post(`${gh.issuer}/forgot-password`, { email: JOHN.email }))),
    );
    assert.deepEqual(statusCounts(forgot.map((r) => r.status)), { 200: 3, 429: 7 });
  });
}

test('the admin API\'s limit on failed API keys counts an IPv6 /64 as one address', async (t) => {
  const gh = await setup(t, { GATEHOUSE_TRUST_PROXY: 'loopback' });
  const statuses: number[] = [];
  for (let i = 0; i < 22; i++) {
    const response = await fetch(`${gh.issuer}/admin/api/users`, { headers: { 'x-api-key': `gh_guess_${i}`, 'x-forwarded-for': `2001:db8:77:1:${i.toString(16)}::1` } });
    statuses.push(response.status);
    await response.arrayBuffer();
  }
  assert.deepEqual(statusCounts(statuses), { 401: 20, 429: 2 });
  const other = await fetch(`${gh.issuer}/admin/api/users`, { headers: { 'x-api-key': 'gh_guess_x', 'x-forwarded-for': '2001:db8:77:2::1' } });
  assert.equal(other.status, 401, 'another /64 is not limited');
});
