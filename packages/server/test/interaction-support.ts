// Driving the login, second-factor and account pages over HTTP, as a browser would, with the
// headers a test needs to set (a forwarded address behind a trusted proxy, an Origin).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { CookieJar, formAction, formValue } from '@gatehouse/test-support/browser';
import { ITEMS_API, seedDemo, startInProcess, type DemoSeed, type Env, type InProcessServer } from '@gatehouse/test-support/gatehouse';
import type { BuildOptions } from '../src/app.ts';
import { totpCode } from '../src/passwords/totp.ts';

export const JOHN = { username: 'johndoe', email: 'johndoe@example.com', password: 'correct horse' };

/** Where throttle counts live: each test runs against both. */
export const STORES = ['memory', 'redis'] as const;
export type StoreKind = (typeof STORES)[number];

/** Settings for a throttle store: Redis under a prefix of this test's own. */
export function storeEnv(kind: StoreKind): Env {
  return kind === 'redis' ? { GATEHOUSE_REDIS_URL: 'redis://127.0.0.1:6379', GATEHOUSE_REDIS_PREFIX: `test-${randomBytes(6).toString('hex')}` } : {};
}

export interface Fixture extends InProcessServer {
  readonly seed: DemoSeed;
}

export async function setup(t: { after: (fn: () => unknown) => void }, env: Env = {}, options: Omit<BuildOptions, 'config'> = {}): Promise<Fixture> {
  const gh = await startInProcess(t, { GATEHOUSE_DEFAULT_API: ITEMS_API, ...env }, options);
  return { ...gh, seed: await seedDemo(gh.db) };
}

export interface Answer {
  readonly status: number;
  readonly html: string;
  readonly headers: Headers;
}

export async function answer(response: Response | Promise<Response>): Promise<Answer> {
  const r = await response;
  return { status: r.status, html: await r.text(), headers: r.headers };
}

/** A cookie-keeping client that sends the same extra headers (X-Forwarded-For, Origin…) on every request. */
export interface Client {
  readonly jar: CookieJar;
  get(url: string | URL, headers?: Record<string, string>): Promise<Response>;
  post(url: string | URL, form: Record<string, string>, headers?: Record<string, string>): Promise<Response>;
}

export function client(headers: Record<string, string> = {}, jar = new CookieJar()): Client {
  const send = async (url: string | URL, init: RequestInit, extra: Record<string, string> = {}) => {
    const response = await fetch(url, { ...init, redirect: 'manual', headers: { ...headers, ...(init.headers as Record<string, string>), ...extra, cookie: jar.header() } });
    jar.store(response);
    return response;
  };
  return {
    jar,
    get: (url, extra) => send(url, { method: 'GET', headers: { accept: 'text/html' } }, extra),
    post: (url, form, extra) =>
      send(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' }, body: new URLSearchParams(form).toString() }, extra),
  };
}

/** Follows redirects with GETs until a page. */
export async function follow(browser: Client, response: Response, from: URL): Promise<{ url: URL; page: Answer }> {
  let url = from;
  for (let hops = 0; hops < 10; hops++) {
    const location = response.headers.get('location');
    if (response.status < 300 || response.status >= 400 || !location) return { url, page: await answer(response) };
    url = new URL(location, url);
    response = await browser.get(url);
  }
  throw new Error('too many redirects');
}

export interface LoginPage {
  readonly url: URL;
  readonly html: string;
  readonly csrf: string;
  readonly action: URL;
}

/** GET /account without a session: the login page of the account client's authorization request. */
export async function openLoginPage(browser: Client, issuer: string): Promise<LoginPage> {
  const start = new URL('/account', issuer);
  const { url, page } = await follow(browser, await browser.get(start), start);
  assert.equal(page.status, 200, page.html.slice(0, 300));
  assert.match(url.pathname, /^\/interaction\/[^/]+$/, 'the login page');
  return { url, html: page.html, csrf: formValue(page.html, 'csrf'), action: new URL(formAction(page.html, '/login'), url) };
}

export async function passwordStep(browser: Client, issuer: string, username: string, password: string): Promise<{ login: LoginPage; response: Response }> {
  const login = await openLoginPage(browser, issuer);
  return { login, response: await browser.post(login.action, { csrf: login.csrf, username, password }) };
}

export interface SecondFactorPage {
  readonly action: URL;
  readonly csrf: string;
  readonly pending: string;
}

/** The password step of an account with two-factor authentication: the second-factor page. */
export async function secondFactorPage(browser: Client, issuer: string, username: string, password: string): Promise<SecondFactorPage> {
  const { login, response } = await passwordStep(browser, issuer, username, password);
  const page = await answer(response);
  assert.equal(page.status, 200, 'the right password shows the second-factor page');
  assert.match(page.html, /name="pending"/);
  return { action: new URL(formAction(page.html, '/second-factor'), login.url), csrf: formValue(page.html, 'csrf'), pending: formValue(page.html, 'pending') };
}

export function submitCode(browser: Client, step: SecondFactorPage, code: string): Promise<Response> {
  return browser.post(step.action, { csrf: step.csrf, pending: step.pending, code });
}

export async function landOnAccount(browser: Client, response: Response, issuer: string): Promise<Answer> {
  assert.equal(response.status, 303, 'signed in');
  const { url, page } = await follow(browser, response, new URL(issuer));
  assert.equal(url.pathname, '/account');
  assert.equal(page.status, 200);
  return page;
}

export async function signIn(browser: Client, issuer: string, username: string, password: string): Promise<Answer> {
  const { response } = await passwordStep(browser, issuer, username, password);
  return landOnAccount(browser, response, issuer);
}

export async function isSignedIn(browser: Client, issuer: string): Promise<boolean> {
  const response = await browser.get(`${issuer}/account`);
  await response.arrayBuffer();
  return response.status === 200;
}

/** Turns two-factor on through the account pages (confirming the password where the form asks for it). */
export async function enableTwoFactor(browser: Client, issuer: string, password: string): Promise<{ secret: string; recoveryCodes: string[] }> {
  const enrol = await answer(browser.get(`${issuer}/account/two-factor`));
  assert.equal(enrol.status, 200);
  const secret = /id="totp-secret">([^<]+)</.exec(enrol.html)![1]!.replace(/\s/g, '');
  const enabled = await answer(browser.post(`${issuer}/account/two-factor/enable`, { csrf: formValue(enrol.html, 'csrf'), code: totpCode(secret), current: password }));
  assert.equal(enabled.status, 200, enabled.html.slice(0, 500));
  const recoveryCodes = [...enabled.html.matchAll(/<li><code>([^<]+)<\/code><\/li>/g)].map((m) => m[1]!);
  assert.equal(recoveryCodes.length, 10);
  return { secret, recoveryCodes };
}

/** A 6-digit code that is not valid now (none of the codes of the accepted window). */
export function wrongCode(secret: string, skip = 0): string {
  const now = Date.now();
  const valid = new Set([-60_000, -30_000, 0, 30_000, 60_000].map((d) => totpCode(secret, now + d)));
  let skipped = 0;
  for (let n = 0; ; n++) {
    const code = String(n).padStart(6, '0');
    if (!valid.has(code) && skipped++ >= skip) return code;
  }
}

/** How many answers had each status, e.g. { 401: 5, 429: 20 }. */
export function statusCounts(statuses: readonly number[]): Record<number, number> {
  const counts: Record<number, number> = {};
  for (const status of statuses) counts[status] = (counts[status] ?? 0) + 1;
  return counts;
}
