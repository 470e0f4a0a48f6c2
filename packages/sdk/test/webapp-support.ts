/**
 * Support for the web-app flow tests: a real Gatehouse server in this process (an API, a role, a
 * user, a confidential client per app), a Fastify app using the SDK's helper, and a sign-in driven
 * through Gatehouse's real login page. Only Gatehouse listens; the app is reached with inject(),
 * so its public URL needs no socket.
 */
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify';
import * as apis from '@gatehouse/server/internal/storage/apis';
import * as clients from '@gatehouse/server/internal/storage/clients';
import * as roles from '@gatehouse/server/internal/storage/roles';
import { withPasswordHash } from '@gatehouse/server/internal/passwords/user-passwords';
import * as users from '@gatehouse/server/internal/storage/users';
import { startInProcess, type Env, type InProcessServer } from '@gatehouse/test-support/gatehouse';
import { createBrowser, loginThroughForm, type Browser } from '@gatehouse/test-support/browser';
import { createAuthenticator, type Authenticator } from '@gatehouse/sdk';
import { gatehouseWebApp } from '@gatehouse/sdk/fastify';
import { createWebApp, type WebApp, type WebAppOptions } from '@gatehouse/sdk/webapp';
import { countingFetch, type CountingFetch } from './helpers.ts';

export const API = 'https://notes.example.test';
export const USER = { username: 'johndoe', password: 'correct horse' };
export const SECRET = 'a test secret that is long enough: 0123456789abcdef';

export interface Gatehouse extends InProcessServer {
  /** Registers a confidential client for an app served at `publicUrl`. */
  client(publicUrl: string): Promise<{ clientId: string; clientSecret: string }>;
  authenticator(): Authenticator;
}

let clientCount = 0;

/** Gatehouse with the notes API (scopes `notes`, `admin`), a role granting `notes`, and johndoe. */
export async function startGatehouse(t: Pick<TestContext, 'after'>, env: Env = {}): Promise<Gatehouse> {
  const gh = await startInProcess(t, env);
  await apis.createApi(gh.db, { identifier: API, name: 'Notes API', scopes: 'notes admin' });
  await roles.createRole(gh.db, { name: 'writer', scopes: 'notes' });
  await users.createUser(gh.db, await withPasswordHash({ username: USER.username, password: USER.password, roles: ['writer'] }));
  return {
    ...gh,
    async client(publicUrl) {
      const clientId = `web-${++clientCount}`;
      const { clientSecret } = await clients.createClient(gh.db, {
        clientId,
        name: 'Notes web app',
        grantTypes: 'authorization_code refresh_token',
        redirectUris: [`${publicUrl}/auth/callback`],
        postLogoutRedirectUris: [`${publicUrl}/`],
        scopes: 'notes admin',
        apis: [API],
        firstParty: true,
      });
      return { clientId, clientSecret: clientSecret! };
    },
    authenticator: () => createAuthenticator({ issuer: gh.issuer, audience: API, algorithms: ['ES256'] }),
  };
}

export interface TestApp {
  readonly app: FastifyInstance;
  readonly webApp: WebApp;
  readonly publicUrl: string;
  readonly clientId: string;
  readonly fetch: CountingFetch;
  readonly errors: Error[];
  /** Calls to Gatehouse's token endpoint made by the app. */
  tokenCalls(): number;
  /** Times the POST handler ran. */
  posts(): number;
}

/** A Fastify app with a public page, a protected page, a protected form handler and an admin page. */
export async function buildTestApp(
  t: Pick<TestContext, 'after'>,
  gh: Gatehouse,
  options: Partial<WebAppOptions> & { publicUrl?: string } = {},
): Promise<TestApp> {
  const publicUrl = options.publicUrl ?? 'http://localhost:3000';
  const { clientId, clientSecret } = options.clientId ? { clientId: options.clientId, clientSecret: options.clientSecret! } : await gh.client(publicUrl);
  const counting = countingFetch();
  const errors: Error[] = [];
  const webApp = createWebApp({
    authenticator: gh.authenticator(),
    clientId,
    clientSecret,
    publicUrl,
    secret: SECRET,
    scopes: ['notes'],
    fetch: counting.fetch,
    onError: (error) => errors.push(error),
    ...options,
  });
  let posts = 0;
  const app = Fastify();
  await app.register(gatehouseWebApp, { webApp });
  app.get('/', { session: { optional: true } }, async (request) => ({ user: request.auth?.claims.preferred_username ?? null }));
  app.get('/profile', { session: {} }, async (request) => ({
    user: request.auth!.claims.preferred_username,
    subject: request.auth!.subject,
    kind: request.auth!.kind,
    clientId: request.auth!.clientId,
    scopes: [...request.auth!.scopes],
    tokenTail: request.webSession!.accessToken.slice(-12),
    expiresAt: request.webSession!.expiresAt.getTime(),
  }));
  for (const method of ['POST', 'PUT', 'PATCH', 'DELETE'] as const) {
    app.route({ method, url: '/notes', session: {}, handler: async () => ({ saved: ++posts }) });
  }
  app.get('/admin', { session: { scopes: ['admin'] } }, async () => ({ admin: true }));
  await app.ready();
  t.after(() => app.close());
  return {
    app,
    webApp,
    publicUrl,
    clientId,
    fetch: counting,
    errors,
    tokenCalls: () => counting.count((url) => url.endsWith('/token')),
    posts: () => posts,
  };
}

/** The `Set-Cookie` values of a response. */
export function setCookies(response: LightMyRequestResponse): string[] {
  const value = response.headers['set-cookie'];
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}

/** `name=value` of the cookie `name` set by a response (the value may be empty: a cleared cookie). */
export function cookieSet(response: LightMyRequestResponse, name: string): { value: string; header: string } | undefined {
  const header = setCookies(response).find((cookie) => cookie.startsWith(`${name}=`));
  return header === undefined ? undefined : { value: header.slice(name.length + 1).split(';')[0]!, header };
}

export interface SignIn {
  /** `name=value` for the session cookie, to send back. */
  readonly cookie: string;
  readonly value: string;
  /** The 303 the callback answered. */
  readonly callback: LightMyRequestResponse;
  /** Where Gatehouse sent the browser back (the redirect URI with code, state and iss). */
  readonly callbackUrl: URL;
  /** The sign-in cookie the app set when the sign-in started. */
  readonly loginCookie: string;
  /** The browser's Gatehouse cookies (its single sign-on session). */
  readonly gatehouse: Browser;
}

/** A page visit without a session, through Gatehouse's login page, back to the app's callback. */
export async function signIn(test: TestApp, options: { path?: string; gatehouse?: Browser; tamper?: (url: URL) => void } = {}): Promise<SignIn> {
  const { session, login } = test.webApp.description.cookies;
  const first = await test.app.inject({ url: options.path ?? '/profile' });
  assert.equal(first.statusCode, 303, 'a page view without a session is redirected to sign in');
  const loginCookie = cookieSet(first, login)!.value;
  const authorize = new URL(first.headers.location as string);
  options.tamper?.(authorize);
  const gatehouse = options.gatehouse ?? createBrowser();
  const { callback: callbackUrl } = await loginThroughForm(gatehouse, authorize, USER, test.webApp.description.redirectUri);
  const callback = await test.app.inject({ url: callbackUrl.pathname + callbackUrl.search, headers: { cookie: `${login}=${loginCookie}` } });
  const set = cookieSet(callback, session);
  return { cookie: set ? `${session}=${set.value}` : '', value: set?.value ?? '', callback, callbackUrl, loginCookie, gatehouse };
}

/**
 * `after` for resources created in a `before` hook: node:test's `after` called inside a hook runs
 * when that hook ends, so cleanups are collected and run once the file's tests are done.
 */
export function suiteScope(after: (fn: () => Promise<void>) => void): Pick<TestContext, 'after'> {
  const cleanups: (() => unknown)[] = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });
  return { after: (fn: () => unknown) => void cleanups.push(fn) } as Pick<TestContext, 'after'>;
}

/**
 * A settable clock (milliseconds) for the web app's refresh decisions. A frozen clock stands
 * still at the moment of its last `reset()` (plus what was advanced): what it computes from the
 * time (cookie Max-Age, expiries) is then the same in every run, whatever second boundaries the
 * real clock crosses meanwhile.
 */
export function clock(options: { frozen?: boolean } = {}): { now: () => number; advance: (seconds: number) => void; reset: () => void } {
  let offset = 0;
  let frozenAt = Date.now();
  const base = () => (options.frozen ? frozenAt : Date.now());
  return {
    now: () => base() + offset,
    advance: (seconds) => void (offset += seconds * 1000),
    reset: () => {
      offset = 0;
      frozenAt = Date.now();
    },
  };
}
