/**
 * The web-app sign-in flow for a server-rendered app (a confidential client): created once per
 * app, it answers its own three routes (login, callback, logout) and, for every other route that
 * needs a signed-in visitor, says whether to go on (with the session) or what to answer instead.
 * Framework-free (Web APIs, oauth4webapi, jose); adapters only translate.
 */
import type { Authenticator } from '../authenticator.ts';
import { readHeader, type AuthRequest } from '../credentials.ts';
import { isSafeMethod, isSameOriginRequest } from '../cross-origin.ts';
import { AuthError } from '../errors.ts';
import { authorize, ResolvedRequirement, type AuthRequirement } from '../requirement.ts';
import { BackchannelLogout, MAX_TOKEN_AGE_SECONDS } from './backchannel-logout.ts';
import { finishLogin } from './callback.ts';
import type { WebAppContext } from './context.ts';
import { errorResponse, WebAppError, type WebAppResponse } from './errors.ts';
import { IssuerClient } from './issuer-client.ts';
import { safeReturnTo, startLogin } from './login.ts';
import { logout } from './logout.ts';
import { resolveWebAppOptions, type ResolvedWebAppOptions, type WebAppOptions } from './options.ts';
import { Refresher } from './refresh.ts';
import { CookieSealer } from './sealed-cookie.ts';
import { SeenTokenIds, SessionRevocations } from './revocations.ts';
import { currentSession, type WebSession } from './session.ts';

/** What a page requires of the signed-in visitor. Sessions are always users', from the session cookie. */
export type WebRequirement = Omit<AuthRequirement, 'sources'>;

export type ProtectOutcome =
  | {
      readonly ok: true;
      /** Undefined only on `optional` routes without a session. */
      readonly session: WebSession | undefined;
      /** `Set-Cookie` values the answer must carry (a refreshed or cleared session). */
      readonly cookies: readonly string[];
    }
  | { readonly ok: false; readonly error: WebAppError | undefined; readonly response: WebAppResponse };

/** What adapters need to know about the configuration. */
export interface WebAppDescription {
  readonly origin: string;
  readonly paths: ResolvedWebAppOptions['paths'];
  readonly redirectUri: string;
  readonly postLogoutRedirectUri: string;
  readonly cookies: ResolvedWebAppOptions['cookies'];
  /** The back-channel logout endpoint's path and full URI (the client's `backchannel_logout_uri`), when on. */
  readonly backchannelLogout: { readonly path: string; readonly uri: string } | undefined;
}

export interface WebApp {
  /**
   * Answers the flow's own routes: `GET paths.login` (`?returnTo=/path`), `GET paths.callback`,
   * `POST paths.logout`. Undefined for any other request. Never throws for request problems.
   */
  handle(request: AuthRequest): Promise<WebAppResponse | undefined>;
  /**
   * For a route that needs a signed-in visitor: CSRF check on unsafe methods, the session
   * (refreshed when due), then the requirement. Without a session a page view is redirected to
   * Gatehouse and anything else is refused (401). Never throws for request problems.
   */
  protect(request: AuthRequest, requirement?: WebRequirement | ResolvedRequirement): Promise<ProtectOutcome>;
  /** Validates a requirement once, at route declaration; throws a TypeError naming the problem. */
  requirement(input?: WebRequirement, label?: string): ResolvedRequirement;
  /**
   * Answers a `POST` to `description.backchannelLogout.path`: `body` is the raw request body, with
   * its `Content-Type`. 200 when the logout token is valid (the sessions it names are over), else
   * 400 `invalid_request`. Never throws. 404 when the option is off.
   */
  backchannelLogout(body: string, contentType: string | undefined): Promise<WebAppResponse>;
  readonly description: WebAppDescription;
}

export function createWebApp(options: WebAppOptions): WebApp {
  return new GatehouseWebApp(resolveWebAppOptions(options));
}

class GatehouseWebApp implements WebApp {
  readonly #options: ResolvedWebAppOptions;
  readonly #authenticator: Authenticator;
  readonly #context: WebAppContext;
  readonly #refresher: Refresher;
  readonly #defaultRequirement: ResolvedRequirement;
  readonly #backchannel: BackchannelLogout | undefined;
  readonly description: WebAppDescription;

  constructor(options: ResolvedWebAppOptions) {
    this.#options = options;
    this.#authenticator = options.authenticator;
    const bounds = options.backchannelLogout && { maxEntries: options.backchannelLogout.maxRevocations, now: options.now };
    this.#context = {
      options,
      issuer: new IssuerClient({
        issuer: options.issuer,
        clientId: options.clientId,
        clientSecret: options.clientSecret,
        fetch: options.fetch,
        timeoutMs: options.timeoutMs,
      }),
      sealer: new CookieSealer(options.secrets, options.now),
      // A session can be used until its absolute end: an ended one is remembered that long.
      revocations: bounds && new SessionRevocations({ ...bounds, ttlMs: options.sessionMaxAge * 1000 }),
      respond: (error, cookies) => errorResponse(error, cookies, options.errorPage, options.paths.login),
      report: (error) => options.onError(error instanceof Error ? error : new Error(String(error))),
    };
    this.#refresher = new Refresher(this.#context);
    this.#backchannel =
      bounds &&
      new BackchannelLogout({
        context: this.#context,
        revocations: this.#context.revocations!,
        // A token older than MAX_TOKEN_AGE is refused anyway: its jti need not be kept longer.
        seen: new SeenTokenIds({ ...bounds, ttlMs: (MAX_TOKEN_AGE_SECONDS + 60) * 1000 }),
      });
    this.description = Object.freeze({
      origin: options.origin,
      paths: options.paths,
      redirectUri: options.redirectUri,
      postLogoutRedirectUri: options.postLogoutRedirectUri,
      cookies: options.cookies,
      backchannelLogout: options.backchannelLogout && Object.freeze({ path: options.backchannelLogout.path, uri: options.backchannelLogout.uri }),
    });
    this.#defaultRequirement = this.requirement({});
  }

  requirement(input: WebRequirement = {}, label = 'session'): ResolvedRequirement {
    if (typeof input === 'object' && input !== null && 'sources' in input) {
      throw new TypeError(`${label}.sources: a web session always comes from the session cookie`);
    }
    // The authenticator's default sources are irrelevant here: the principal comes from the cookie.
    return this.#authenticator.requirement(input, label);
  }

  async handle(request: AuthRequest): Promise<WebAppResponse | undefined> {
    const { paths } = this.#options;
    const url = new URL(request.url, this.#options.origin);
    const method = request.method.toUpperCase();
    try {
      switch (url.pathname) {
        case paths.login:
          if (method !== 'GET' && method !== 'HEAD') return undefined;
          return await startLogin(this.#context, safeReturnTo(url.searchParams.get('returnTo') ?? undefined));
        case paths.callback:
          if (method !== 'GET' && method !== 'HEAD') return undefined;
          return await finishLogin(this.#context, request);
        case paths.logout:
          // Logout changes state: POST only, and only from this app's own pages.
          if (method !== 'POST') return this.#context.respond(new WebAppError('method_not_allowed'), []);
          if (!this.#sameOrigin(request)) return this.#context.respond(new WebAppError('cross_site_request'), []);
          return await logout(this.#context, request);
        default:
          return undefined;
      }
    } catch (error) {
      return this.#unavailable(error, []);
    }
  }

  async backchannelLogout(body: string, contentType: string | undefined): Promise<WebAppResponse> {
    if (this.#backchannel === undefined) return { status: 404, headers: { 'cache-control': 'no-store' }, cookies: [], body: '' };
    return this.#backchannel.handle(body, contentType);
  }

  async protect(request: AuthRequest, requirement?: WebRequirement | ResolvedRequirement): Promise<ProtectOutcome> {
    const route =
      requirement === undefined ? this.#defaultRequirement : requirement instanceof ResolvedRequirement ? requirement : this.requirement(requirement);
    const fail = (error: WebAppError, cookies: readonly string[]): ProtectOutcome => ({
      ok: false,
      error,
      response: this.#context.respond(error, cookies),
    });

    // 1. cross-origin: an unsafe method must come from the app's own pages (CSRF), before anything
    //    else runs, session or not.
    if (!this.#sameOrigin(request)) return fail(new WebAppError('cross_site_request'), []);

    // 2. session: the sealed cookie, refreshed when due, its access token verified.
    let lookup;
    try {
      lookup = await currentSession(this.#context, this.#refresher, request);
    } catch (error) {
      if (error instanceof WebAppError) return fail(error, []);
      return { ok: false, error: undefined, response: this.#unavailable(error, []) };
    }
    const { session, cookies } = lookup;

    // 3. sign-in: a page view goes to Gatehouse and comes back; anything else is refused.
    if (session === undefined) {
      if (route.optional) return { ok: true, session: undefined, cookies };
      if (!isPageView(request)) return fail(new WebAppError('login_required'), cookies);
      const url = new URL(request.url, this.#options.origin);
      try {
        const response = await startLogin(this.#context, url.pathname + url.search);
        return { ok: false, error: undefined, response: { ...response, cookies: [...cookies, ...response.cookies] } };
      } catch (error) {
        return { ok: false, error: undefined, response: this.#unavailable(error, cookies) };
      }
    }

    // 4. authorize: principal kind, then scopes (403).
    try {
      authorize(session.principal, route);
    } catch (error) {
      if (error instanceof AuthError) return fail(new WebAppError('insufficient_scope', { cause: error }), cookies);
      throw error;
    }
    return { ok: true, session, cookies };
  }

  #sameOrigin(request: AuthRequest): boolean {
    return isSameOriginRequest(request, this.#options.origin, this.#options.trustedOrigins);
  }

  /** Gatehouse could not be reached, or something unexpected failed: 503, reported, fail closed. */
  #unavailable(error: unknown, cookies: readonly string[]): WebAppResponse {
    // A WebAppError was reported where it was raised.
    if (error instanceof WebAppError) return this.#context.respond(error, cookies);
    this.#context.report(error);
    return this.#context.respond(new WebAppError('temporarily_unavailable', { cause: error }), cookies);
  }
}

/**
 * A top-level page view, which a redirect to the login page can serve: GET or HEAD, and either
 * `Sec-Fetch-Mode: navigate` or no Fetch Metadata at all (older browsers). A script's `fetch`
 * would follow the redirect into Gatehouse's HTML instead, so it gets a 401.
 */
function isPageView(request: AuthRequest): boolean {
  if (!isSafeMethod(request.method) || request.method.toUpperCase() === 'OPTIONS') return false;
  const mode = readHeader(request.headers, 'sec-fetch-mode');
  return mode === undefined || mode === 'navigate';
}
