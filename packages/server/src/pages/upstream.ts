// Signing in with another identity provider (docs/adr/0017-upstream-identity-providers.md).
//
//   login page ──GET /interaction/:uid/upstream/:provider?csrf=…──► 303 to the provider (code + PKCE, state, nonce)
//     (a link, not a form: browsers hold a form's redirects to the page's CSP form-action, and the
//     provider's authorization endpoint is not known when the page is drawn)
//   provider ──GET /upstream/:provider/callback──► code redeemed, ID token checked, user found or made
//     ──a page that goes on by itself──► /interaction/:uid/upstream/done?result=…  (under the interaction's path, where its cookie is)
//     or ──the same──► /interaction/:uid/upstream/link?proposal=…  (an account with that verified email: its password first)
//
// Between the two legs the browser carries a signed cookie bound to the interaction (state, nonce,
// PKCE verifier): the callback refuses an answer this browser did not ask for. Everything the
// local login checks still applies: a disabled user is refused, two-factor is asked (unless the
// provider's own second factor is trusted and its `amr` says so), every attempt is audited.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { INTERACTION_PATH } from '../engine/configuration.ts';
import { originOf } from '../html/layout.ts';
import type { InteractionApi, InteractionView } from '../engine/interactions.ts';
import type { PasswordLogin } from '../passwords/password-login.ts';
import type { AuditEventInput } from '../storage/audit.ts';
import type { Db } from '../storage/database.ts';
import { findUpstreamProvider, linkIdentity, upstreamClientSecret, type UpstreamProvider } from '../storage/upstream.ts';
import { accountRecord } from '../storage/users.ts';
import { UpstreamClients, UpstreamSignInError, type PendingSignIn } from '../upstream/client.ts';
import { upstreamUser } from '../upstream/accounts.ts';
import type { CsrfTokens, SignedValues } from './csrf.ts';
import { formField } from './self-service.ts';

export const UPSTREAM_CALLBACK_PATH = '/upstream/:provider/callback';

/** How long the provider may take (the signed cookie's life), and the hand-over after it. */
const SIGN_IN_SECONDS = 600;
const HANDOVER_SECONDS = 120;

export interface UpstreamRouteContext {
  readonly db: Db;
  readonly publicUrl: string;
  readonly interactions: InteractionApi;
  readonly passwordLogin: PasswordLogin;
  readonly csrf: CsrfTokens;
  readonly signed: SignedValues;
  readonly audit: (event: AuditEventInput) => Promise<void>;
  readonly sendPage: (reply: FastifyReply, status: number, body: string, formTargets?: (string | undefined)[]) => FastifyReply;
  readonly messagePage: (title: string, message: string, link?: { href: string; text: string }) => string;
  readonly loginPage: (uid: string, view: InteractionView, extra?: { error?: string; username?: string }) => Promise<string>;
  readonly linkPage: (input: { action: string; csrf: string; proposal: string; providerName: string; email: string; username: string; error?: string | undefined }) => string;
  /** The second-factor page after an upstream sign-in (factor `fed`). */
  readonly secondFactor: (uid: string, userId: string, factor: 'fed' | 'pwd') => string;
  readonly formExpired: (reply: FastifyReply) => FastifyReply;
  /** A page that goes on to `target` by itself (meta refresh). */
  readonly continuing: (target: string, providerName: string) => string;
}

type Params = { Params: { uid: string; provider: string } };

export async function upstreamRoutes(app: FastifyInstance, ctx: UpstreamRouteContext): Promise<void> {
  const { db, interactions, csrf, signed, audit, sendPage, messagePage } = ctx;
  const clients = new UpstreamClients();
  const https = ctx.publicUrl.startsWith('https:');
  const cookieName = https ? '__Host-upstream' : 'gatehouse-upstream';
  const redirectUri = (provider: UpstreamProvider) => `${ctx.publicUrl}/upstream/${provider.id}/callback`;
  const enabled = async (id: string) => {
    const provider = await findUpstreamProvider(db, id);
    return provider?.enabled ? provider : undefined;
  };
  const record = (provider: UpstreamProvider, outcome: 'success' | 'failure', result: string, ip: string, user?: { id: string; username?: string | undefined }, clientId?: string) =>
    audit({
      type: 'login.upstream',
      outcome,
      actor: user ? { kind: 'user', id: user.id } : { kind: 'anonymous' },
      target: user ? { kind: 'user', id: user.id } : undefined,
      ip,
      details: { provider: provider.id, result, ...(user?.username ? { username: user.username } : {}), ...(clientId ? { client_id: clientId } : {}) },
    });
  // A page with a form whose answer redirects on to the application (the link, the second factor,
  // the login page): its CSP form-action names the application's origin too, as the login page's
  // does, or Chromium stops that redirect (it checks a form's whole redirect chain).
  const formPage = (reply: FastifyReply, view: InteractionView, status: number, body: string) => sendPage(reply, status, body, [originOf(view.redirectUri)]);
  const failed = (reply: FastifyReply, uid: string | undefined, message: string) =>
    sendPage(reply, 400, messagePage('Sign-in did not work', message, uid ? { href: `${INTERACTION_PATH}/${uid}`, text: 'Back to the sign-in page' } : undefined));

  // 1. The login page's button: to the provider.
  app.get<Params & { Querystring: { csrf?: string } }>(`${INTERACTION_PATH}/:uid/upstream/:provider`, async (request, reply) => {
    const { uid } = request.params;
    const view = await interactions.load(request.raw, reply.raw, uid);
    if (!csrf.verify(uid, 'interaction', request.query.csrf ?? '')) return ctx.formExpired(reply);
    if (view.prompt !== 'login') return failed(reply, uid, 'This sign-in page is no longer valid. Go back to the application and start again.');
    const provider = await enabled(request.params.provider);
    if (!provider) return sendPage(reply, 404, messagePage('Unknown provider', 'This way of signing in is not offered here.'));
    let started: { url: string; pending: PendingSignIn };
    try {
      started = await clients.begin(provider, redirectUri(provider));
    } catch (error) {
      request.log.warn({ err: error, provider: provider.id }, 'upstream sign-in could not start');
      await record(provider, 'failure', 'unreachable', request.ip, undefined, view.clientId);
      return failed(reply, uid, `${provider.name} cannot be reached right now. Try again, or sign in another way.`);
    }
    const value = signed.sign(`upstream:${provider.id}`, JSON.stringify({ u: uid, ...started.pending }), SIGN_IN_SECONDS);
    // SameSite=Lax: sent on the provider's top-level redirect back here, not on anything else cross-site.
    reply.header('set-cookie', `${cookieName}=${value}; Path=/; Max-Age=${SIGN_IN_SECONDS}; HttpOnly; SameSite=Lax${https ? '; Secure' : ''}`);
    return reply.redirect(started.url, 303);
  });

  // 2. The provider's answer.
  app.get<{ Params: { provider: string } }>(UPSTREAM_CALLBACK_PATH, async (request, reply) => {
    reply.header('set-cookie', `${cookieName}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax${https ? '; Secure' : ''}`);
    reply.header('cache-control', 'no-store');
    const provider = await enabled(request.params.provider);
    if (!provider) return sendPage(reply, 404, messagePage('Unknown provider', 'This way of signing in is not offered here.'));
    const pending = readPending(signed.verify(`upstream:${provider.id}`, cookieOf(request, cookieName)));
    if (!pending) {
      await record(provider, 'failure', 'no_pending_sign_in', request.ip);
      return failed(reply, undefined, 'This answer does not belong to a sign-in started in this browser, or it took too long. Go back to the application and start again.');
    }
    const { uid } = pending;
    let account;
    try {
      account = await clients.complete(provider, await upstreamClientSecret(db, provider.id), redirectUri(provider), new URL(request.url, ctx.publicUrl), pending);
    } catch (error) {
      if (!(error instanceof UpstreamSignInError)) throw error;
      request.log.warn({ err: error, provider: provider.id }, 'upstream sign-in failed');
      await record(provider, 'failure', error.code ?? 'invalid_answer', request.ip);
      return failed(reply, uid, error.code === 'access_denied' ? `The sign-in at ${provider.name} was cancelled.` : `${provider.name} did not sign you in. Try again, or sign in another way.`);
    }
    const found = await upstreamUser(db, provider, account);
    if (found.kind === 'link_required') {
      await record(provider, 'failure', 'link_required', request.ip, { id: found.userId, username: found.username });
      const proposal = signed.sign(`upstream-link:${uid}`, JSON.stringify({ p: provider.id, s: account.subject, e: found.email, u: found.userId }), SIGN_IN_SECONDS);
      return sendPage(reply, 200, ctx.continuing(`${INTERACTION_PATH}/${uid}/upstream/link?proposal=${encodeURIComponent(proposal)}`, provider.name));
    }
    const mfa = provider.trustMfa && account.amr.includes('mfa');
    const result = signed.sign(`upstream-done:${uid}`, JSON.stringify({ p: provider.id, u: found.userId, m: mfa, c: found.kind === 'created' }), HANDOVER_SECONDS);
    // A page, not a redirect: the provider's sign-in was a form post, and browsers hold every
    // redirect after a form post to that page's CSP form-action (Chromium does), which names this
    // server but not the application the sign-in goes on to. A new navigation starts here.
    return sendPage(reply, 200, ctx.continuing(`${INTERACTION_PATH}/${uid}/upstream/done?result=${encodeURIComponent(result)}`, provider.name));
  });

  // 3. Back under the interaction's path: the same checks as every login, then on.
  app.get<{ Params: { uid: string }; Querystring: { result?: string } }>(`${INTERACTION_PATH}/:uid/upstream/done`, async (request, reply) => {
    const { uid } = request.params;
    const view = await interactions.load(request.raw, reply.raw, uid);
    const done = parse<{ p: string; u: string; m: boolean; c: boolean }>(signed.verify(`upstream-done:${uid}`, request.query.result));
    const provider = done && (await enabled(done.p));
    if (!done || !provider || view.prompt !== 'login') return failed(reply, uid, 'This sign-in is no longer valid. Start again.');
    return finish(request, reply, uid, view, provider, done.u, done.m ? ['fed', 'mfa'] : ['fed'], done.c ? 'created' : 'ok');
  });

  // 4. An account here has the email the provider verified: its password links the two.
  app.get<{ Params: { uid: string }; Querystring: { proposal?: string } }>(`${INTERACTION_PATH}/:uid/upstream/link`, async (request, reply) => {
    const { uid } = request.params;
    const view = await interactions.load(request.raw, reply.raw, uid);
    const proposal = request.query.proposal ?? '';
    const link = await readProposal(uid, proposal);
    if (!link || view.prompt !== 'login') return failed(reply, uid, 'This sign-in is no longer valid. Start again.');
    return formPage(reply, view, 200, linkPageFor(uid, proposal, link));
  });

  app.post<{ Params: { uid: string }; Body: Record<string, string | string[] | undefined> }>(`${INTERACTION_PATH}/:uid/upstream/link`, async (request, reply) => {
    const { uid } = request.params;
    const view = await interactions.load(request.raw, reply.raw, uid);
    if (!csrf.verify(uid, 'interaction', formField(request.body, 'csrf'))) return ctx.formExpired(reply);
    const proposal = formField(request.body, 'proposal');
    const link = await readProposal(uid, proposal);
    if (!link || view.prompt !== 'login') return failed(reply, uid, 'This sign-in is no longer valid. Start again.');
    const outcome = await ctx.passwordLogin.authenticate(link.username, formField(request.body, 'password'), request.ip, { kind: 'login_page' });
    if (outcome.kind === 'throttled') {
      reply.header('retry-after', String(outcome.retryAfter));
      return formPage(reply, view, 429, linkPageFor(uid, proposal, link, `Too many failed attempts. Try again in ${Math.ceil(outcome.retryAfter / 60)} minute(s).`));
    }
    if (outcome.kind === 'invalid' || outcome.kind === 'unverified') return formPage(reply, view, 401, linkPageFor(uid, proposal, link, 'This is not the password of that account.'));
    if (outcome.kind === 'disabled') {
      await record(link.provider, 'failure', 'disabled', request.ip, { id: link.userId, username: link.username }, view.clientId);
      return formPage(reply, view, 403, await ctx.loginPage(uid, view, { error: 'This account is disabled.' }));
    }
    // The password is right (a second factor may still be due): link, then sign in as any upstream sign-in does.
    await linkIdentity(db, { providerId: link.provider.id, subject: link.subject, userId: link.userId, email: link.email }).catch((error: unknown) => {
      if (!(error instanceof Error && 'code' in error && error.code === 'conflict')) throw error;
    });
    await audit({
      type: 'account.upstream_linked',
      actor: { kind: 'user', id: link.userId },
      target: { kind: 'user', id: link.userId },
      ip: request.ip,
      details: { provider: link.provider.id },
    });
    return finish(request, reply, uid, view, link.provider, link.userId, ['fed', 'pwd'], 'linked');
  });

  async function readProposal(uid: string, proposal: string) {
    const value = parse<{ p: string; s: string; e: string; u: string }>(signed.verify(`upstream-link:${uid}`, proposal));
    const provider = value && (await enabled(value.p));
    const user = value && (await accountRecord(db, value.u));
    return value && provider && user ? { provider, subject: value.s, email: value.e, userId: value.u, username: user.username } : undefined;
  }

  function linkPageFor(uid: string, proposal: string, link: { provider: UpstreamProvider; email: string; username: string }, error?: string): string {
    return ctx.linkPage({ action: `${INTERACTION_PATH}/${uid}/upstream/link`, csrf: csrf.issue(uid, 'interaction'), proposal, providerName: link.provider.name, email: link.email, username: link.username, error });
  }

  /** Disabled users refused; two-factor asked unless the provider's second factor counts; then on. */
  async function finish(request: FastifyRequest, reply: FastifyReply, uid: string, view: InteractionView, provider: UpstreamProvider, userId: string, amr: string[], result: string) {
    const user = await accountRecord(db, userId);
    if (!user || user.disabled === 1) {
      await record(provider, 'failure', 'disabled', request.ip, user ? { id: user.id, username: user.username } : undefined, view.clientId);
      return formPage(reply, view, 403, await ctx.loginPage(uid, view, { error: 'This account is disabled.' }));
    }
    if (user.totp_enabled_at !== null && !amr.includes('mfa')) {
      await record(provider, 'failure', 'second_factor', request.ip, { id: user.id, username: user.username }, view.clientId);
      return formPage(reply, view, 200, ctx.secondFactor(uid, user.id, amr.includes('pwd') ? 'pwd' : 'fed'));
    }
    await record(provider, 'success', result, request.ip, { id: user.id, username: user.username }, view.clientId);
    return reply.redirect(await interactions.finishLogin(request.raw, reply.raw, uid, user.id, amr), 303);
  }
}

function cookieOf(request: FastifyRequest, name: string): string | undefined {
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const [key, ...value] = part.trim().split('=');
    if (key === name) return value.join('=');
  }
  return undefined;
}

function parse<T>(text: string | undefined): T | undefined {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as T;
  } catch {
    return undefined;
  }
}

function readPending(text: string | undefined): (PendingSignIn & { uid: string }) | undefined {
  const value = parse<{ u?: unknown; state?: unknown; nonce?: unknown; verifier?: unknown }>(text);
  if (!value || typeof value.u !== 'string' || typeof value.state !== 'string' || typeof value.nonce !== 'string' || typeof value.verifier !== 'string') return undefined;
  return { uid: value.u, state: value.state, nonce: value.nonce, verifier: value.verifier };
}
