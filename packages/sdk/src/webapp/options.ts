/**
 * Web-app options: every setting, its default and its validation in one place. A bad option
 * throws a TypeError naming it while the app is being built; nothing here can fail on a request.
 */
import type { Authenticator } from '../authenticator.ts';
import { isScopeToken } from '../scopes.ts';
import type { FetchLike } from '../upstream.ts';
import { resolveTrustedOrigins } from '../cross-origin.ts';
import { defaultErrorPage, type ErrorPage } from './errors.ts';

export interface WebAppPaths {
  /** Starts a sign-in (`GET`, `?returnTo=/path`). Default `/auth/login`. */
  readonly login?: string;
  /** The redirect URI's path, where Gatehouse sends the browser back (`GET`). Default `/auth/callback`. */
  readonly callback?: string;
  /** Ends the session here and at Gatehouse (`POST` only, CSRF-checked). Default `/auth/logout`. */
  readonly logout?: string;
  /** Where Gatehouse sends the browser after logout (the `post_logout_redirect_uri`'s path). Default `/`. */
  readonly afterLogout?: string;
}

/** OpenID Connect Back-Channel Logout 1.0: where Gatehouse POSTs logout tokens, and how much is remembered. */
export interface BackchannelLogoutOptions {
  /**
   * The endpoint's path (register `publicUrl` + path as the client's `backchannel_logout_uri`).
   * Default `/auth/backchannel-logout`.
   */
  readonly path?: string;
  /**
   * Ended sessions remembered at most, per kind (by session id, by user), until they could no longer
   * be used anyway (`sessionMaxAge`); past that, the oldest are forgotten. Default 10000.
   */
  readonly maxRevocations?: number;
}

export interface WebAppOptions {
  /**
   * Verifies the access tokens the app receives and builds the `Principal`. Its issuer is the
   * Gatehouse server visitors sign in with; its audience is the API the tokens are asked for
   * (sent as `resource`, RFC 8707). Required.
   */
  readonly authenticator: Authenticator;
  /** The app's confidential client at Gatehouse (grants `authorization_code refresh_token`). Required. */
  readonly clientId: string;
  /** Its secret, sent with client_secret_basic (RFC 6749 §2.3.1). Required. */
  readonly clientSecret: string;
  /**
   * The app's origin as browsers see it (behind a proxy: the proxy's), e.g. `https://app.example.com`.
   * The redirect URIs are built from it, the CSRF check compares with it, and an https URL makes
   * the cookies `Secure` with the `__Host-` prefix. https, or http on a loopback host. Required.
   */
  readonly publicUrl: string;
  /**
   * Secret(s) the cookies are encrypted with, each at least 32 characters (`openssl rand -base64 32`).
   * Rotation: put the new secret first; the first encrypts, every one decrypts. Required.
   */
  readonly secret: string | readonly string[];
  /** API scopes to ask for, besides `openid` and `offline_access`. Default none. */
  readonly scopes?: readonly string[];
  /**
   * `prompt` sent with the authorization request. None by default: Gatehouse issues refresh
   * tokens to first-party clients without a consent page. A third-party app (its client created
   * with --third-party) needs `'consent'`: OpenID Connect Core §11 honours `offline_access`, and so
   * a refresh token, only then.
   */
  readonly prompt?: string | false;
  readonly paths?: WebAppPaths;
  /** Base name of the cookies: `<name>` holds the session, `<name>_login` a sign-in in progress. Default `gatehouse_session`. */
  readonly cookieName?: string;
  /** Seconds a session lasts at most, refreshes included (then the visitor signs in again). Default 14 days. */
  readonly sessionMaxAge?: number;
  /** Seconds a visitor has to finish signing in at Gatehouse. Default 1800. */
  readonly loginTimeout?: number;
  /** Seconds before its expiry an access token is refreshed. Default 60. */
  readonly refreshSkew?: number;
  /** Origins allowed to send unsafe requests (POST…) with the session cookie, besides `publicUrl`'s. */
  readonly trustedOrigins?: readonly string[];
  /** Seconds before a call to Gatehouse is abandoned (→ 503). Default 5. */
  readonly timeout?: number;
  /** Used for every call to Gatehouse. Default: global fetch. */
  readonly fetch?: FetchLike;
  /** Renders error pages (fixed descriptions; see `WEBAPP_ERRORS`). Default: a minimal HTML page. */
  readonly errorPage?: ErrorPage;
  /** Told about failures that are not the visitor's fault (Gatehouse unreachable, misconfiguration). Never given a token. */
  readonly onError?: (error: Error) => void;
  /** Current time in milliseconds. Default `Date.now`. For tests. */
  readonly now?: () => number;
  /**
   * Mounts a back-channel logout endpoint (`POST`): when the visitor's Gatehouse session ends
   * (logout there, an admin ending it), Gatehouse sends a logout token and this app's sessions for
   * it end too. `true` for the defaults. Off by default.
   */
  readonly backchannelLogout?: boolean | BackchannelLogoutOptions;
}

/** Defaults, in one place (seconds unless noted). */
export const WEBAPP_DEFAULTS = {
  cookieName: 'gatehouse_session',
  sessionMaxAge: 14 * 86400,
  loginTimeout: 1800,
  refreshSkew: 60,
  timeout: 5,
  prompt: false as const,
  paths: { login: '/auth/login', callback: '/auth/callback', logout: '/auth/logout', afterLogout: '/' },
  backchannelLogout: { path: '/auth/backchannel-logout', maxRevocations: 10_000 },
} as const;

export interface ResolvedWebAppOptions {
  readonly authenticator: Authenticator;
  readonly issuer: string;
  readonly audience: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** The public URL's origin. */
  readonly origin: string;
  /** https: Secure cookies with the `__Host-` prefix. */
  readonly secure: boolean;
  readonly secrets: readonly string[];
  readonly scope: string;
  readonly prompt: string | undefined;
  readonly paths: Required<WebAppPaths>;
  readonly redirectUri: string;
  readonly postLogoutRedirectUri: string;
  readonly cookies: { readonly session: string; readonly login: string };
  readonly sessionMaxAge: number;
  readonly loginTimeout: number;
  readonly refreshSkew: number;
  readonly trustedOrigins: ReadonlySet<string>;
  readonly timeoutMs: number;
  readonly fetch: FetchLike;
  readonly errorPage: ErrorPage;
  readonly onError: (error: Error) => void;
  readonly now: () => number;
  /** Undefined when off. */
  readonly backchannelLogout: { readonly path: string; readonly uri: string; readonly maxRevocations: number } | undefined;
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);
// RFC 6265 §4.1.1 cookie-name token; the __Host-/__Secure- prefixes are added by the helper.
const COOKIE_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;
const PATH = /^\/[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*$/;

export function resolveWebAppOptions(options: WebAppOptions): ResolvedWebAppOptions {
  if (typeof options !== 'object' || options === null) throw new TypeError('Web app options: expected an object');
  const { authenticator } = options;
  if (typeof authenticator?.verify !== 'function' || typeof authenticator.description?.issuer !== 'string') {
    throw new TypeError('authenticator: required, the authenticator of the API the app calls (createAuthenticator(...))');
  }
  if (typeof options.clientId !== 'string' || options.clientId === '') throw new TypeError('clientId: required');
  if (typeof options.clientSecret !== 'string' || options.clientSecret === '') {
    throw new TypeError('clientSecret: required (the app is a confidential client)');
  }

  const publicUrl = parsePublicUrl(options.publicUrl);
  const secure = publicUrl.protocol === 'https:';
  const secrets = resolveSecrets(options.secret);

  const scopes = options.scopes ?? [];
  if (!Array.isArray(scopes)) throw new TypeError('scopes: expected an array of scope strings');
  for (const [index, scope] of scopes.entries()) {
    if (!isScopeToken(scope)) throw new TypeError(`scopes[${index}]: a scope is a non-empty string without spaces (RFC 6749 §3.3)`);
  }
  const requested = options.prompt ?? WEBAPP_DEFAULTS.prompt;
  const prompt = requested === false ? undefined : requested;
  if (prompt !== undefined && (typeof prompt !== 'string' || !/^[a-z_]+( [a-z_]+)*$/.test(prompt))) {
    throw new TypeError('prompt: expected space-separated prompt values (e.g. consent), or false');
  }

  const paths = resolvePaths(options.paths);
  const cookieName = options.cookieName ?? WEBAPP_DEFAULTS.cookieName;
  if (typeof cookieName !== 'string' || !COOKIE_NAME.test(cookieName) || /^__(host|secure)-/i.test(cookieName)) {
    throw new TypeError('cookieName: expected a cookie name made of token characters, without the __Host- prefix (added for https)');
  }
  // RFC 6265bis §4.1.3.2: a __Host- cookie is Secure, has Path=/ and no Domain, so no other host or
  // path can set or shadow it.
  const prefix = secure ? '__Host-' : '';

  const fetchImpl = options.fetch ?? globalThis.fetch;
  if (typeof fetchImpl !== 'function') throw new TypeError('fetch: expected a function');
  for (const name of ['errorPage', 'onError', 'now'] as const) {
    if (options[name] !== undefined && typeof options[name] !== 'function') throw new TypeError(`${name}: expected a function`);
  }

  const { issuer, audience } = authenticator.description;
  return Object.freeze({
    authenticator,
    issuer,
    audience,
    clientId: options.clientId,
    clientSecret: options.clientSecret,
    origin: publicUrl.origin,
    secure,
    secrets,
    scope: ['openid', 'offline_access', ...new Set(scopes)].join(' '),
    prompt,
    paths,
    redirectUri: new URL(paths.callback, publicUrl).href,
    postLogoutRedirectUri: new URL(paths.afterLogout, publicUrl).href,
    cookies: Object.freeze({ session: `${prefix}${cookieName}`, login: `${prefix}${cookieName}_login` }),
    sessionMaxAge: seconds(options.sessionMaxAge, WEBAPP_DEFAULTS.sessionMaxAge, 'sessionMaxAge', 60),
    loginTimeout: seconds(options.loginTimeout, WEBAPP_DEFAULTS.loginTimeout, 'loginTimeout', 10),
    refreshSkew: seconds(options.refreshSkew, WEBAPP_DEFAULTS.refreshSkew, 'refreshSkew', 0),
    trustedOrigins: resolveTrustedOrigins(options.trustedOrigins),
    timeoutMs: seconds(options.timeout, WEBAPP_DEFAULTS.timeout, 'timeout', 0) * 1000,
    fetch: fetchImpl.bind(globalThis) as FetchLike,
    errorPage: options.errorPage ?? defaultErrorPage,
    onError: options.onError ?? (() => undefined),
    now: options.now ?? Date.now,
    backchannelLogout: resolveBackchannelLogout(options.backchannelLogout, paths, publicUrl),
  });
}

function resolveBackchannelLogout(value: WebAppOptions['backchannelLogout'], paths: Required<WebAppPaths>, publicUrl: URL): ResolvedWebAppOptions['backchannelLogout'] {
  if (value === undefined || value === false) return undefined;
  if (value !== true && (typeof value !== 'object' || value === null)) throw new TypeError('backchannelLogout: expected true, false or { path, maxRevocations }');
  const given = value === true ? {} : value;
  const path = given.path ?? WEBAPP_DEFAULTS.backchannelLogout.path;
  if (typeof path !== 'string' || !PATH.test(path) || path.startsWith('//')) throw new TypeError('backchannelLogout.path: expected an absolute path like /auth/backchannel-logout');
  if ([paths.login, paths.callback, paths.logout].includes(path)) throw new TypeError('backchannelLogout.path: needs a path of its own (not login, callback or logout)');
  const maxRevocations = given.maxRevocations ?? WEBAPP_DEFAULTS.backchannelLogout.maxRevocations;
  if (typeof maxRevocations !== 'number' || !Number.isInteger(maxRevocations) || maxRevocations < 1) {
    throw new TypeError('backchannelLogout.maxRevocations: expected a whole number ≥ 1');
  }
  return Object.freeze({ path, uri: new URL(path, publicUrl).href, maxRevocations });
}

function parsePublicUrl(value: unknown): URL {
  let url: URL;
  try {
    url = new URL(value as string);
  } catch {
    throw new TypeError('publicUrl: required, the app\'s origin as browsers see it, e.g. https://app.example.com');
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK.has(url.hostname))) {
    throw new TypeError('publicUrl: expected an https URL (http only on localhost, 127.0.0.1 or [::1])');
  }
  // An origin only: cookies are scoped to Path=/ (the __Host- prefix requires it), so an app
  // served under a sub-path would share them with its neighbours.
  if (url.pathname !== '/' || url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') {
    throw new TypeError('publicUrl: expected an origin without path, query or credentials, e.g. https://app.example.com');
  }
  return url;
}

function resolveSecrets(value: unknown): readonly string[] {
  const list = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(list) || list.length === 0) {
    throw new TypeError('secret: required, a random string of at least 32 characters (or a list of them, newest first)');
  }
  for (const [index, secret] of list.entries()) {
    if (typeof secret !== 'string' || secret.length < 32) {
      throw new TypeError(`secret${Array.isArray(value) ? `[${index}]` : ''}: expected at least 32 characters (openssl rand -base64 32)`);
    }
  }
  return Object.freeze([...list] as string[]);
}

function resolvePaths(value: WebAppPaths | undefined): Required<WebAppPaths> {
  if (value !== undefined && (typeof value !== 'object' || value === null)) throw new TypeError('paths: expected an object');
  const paths = { ...WEBAPP_DEFAULTS.paths, ...value };
  for (const [name, path] of Object.entries(paths)) {
    if (typeof path !== 'string' || !PATH.test(path) || path.startsWith('//')) {
      throw new TypeError(`paths.${name}: expected an absolute path like /auth/${name}`);
    }
  }
  const routes = [paths.login, paths.callback, paths.logout];
  if (new Set(routes).size !== routes.length) throw new TypeError('paths: login, callback and logout need different paths');
  return Object.freeze(paths);
}

function seconds(value: unknown, fallback: number, label: string, min: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
    throw new TypeError(`${label}: expected a number of seconds ≥ ${min}`);
  }
  return value;
}
