// The interaction routes: GET shows the page oidc-provider asked for (login or consent), POST
// handles the form and answers 303 to where the protocol continues.
import { readFile } from 'node:fs/promises';
import formbody from '@fastify/formbody';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { InteractionExpired, type InteractionView } from '../engine/interactions.ts';
import { INTERACTION_PATH } from '../engine/configuration.ts';
import type { PasswordLogin } from '../passwords/password-login.ts';
import { recoveryCodeHash, totpStep } from '../passwords/totp.ts';
import { acceptTotpStep, consumeRecoveryCode, twoFactorState } from '../storage/two-factor.ts';
import { accountRecord, accountSummary } from '../storage/users.ts';
import { authenticationOptions, CEREMONY_SECONDS, verifyPasskeySignIn, type PasskeySignIn } from '../passkeys/webauthn.ts';
import { RETRY_AFTER_SECONDS, unavailableDependency } from '../unavailable.ts';
import { crossSiteFormProblem } from './csrf.ts';
import { originOf, PASSKEY_SCRIPT_PATH } from '../html/layout.ts';
import { accountRoutes, type AccountOptions } from './account.ts';
import { upstreamRoutes } from './upstream.ts';
import { listUpstreamProviders } from '../storage/upstream.ts';
import { formField, SELF_SERVICE_PATHS, selfServiceRoutes, sendPage as sendLayoutPage, sendVerification } from './self-service.ts';

export interface InteractionRoutesOptions extends AccountOptions {
  readonly passwordLogin: PasswordLogin;
  readonly bodyLimit: number;
}

/** The passkey script, built with the console (console/build.ts; shipped in the package's console/dist). */
const PASSKEY_SCRIPT_FILE = new URL('../../console/dist/passkeys.js', import.meta.url);

/**
 * The first factor before a second-factor page, as the session's `amr` (RFC 8176) names it: a
 * password, or a passkey without user verification (`hwk` device-bound, `swk` synced).
 */
type FirstFactor = 'pwd' | 'hwk' | 'swk' | 'fed';

/** How long the second-factor page may take after the password step. */
const PENDING_TTL = 300;

type UidParams = { Params: { uid: string } };
type FormBody = { Body: Record<string, string | string[] | undefined> };

const INVALID_CREDENTIALS = 'Invalid username or password.';


export async function interactionRoutes(app: FastifyInstance, options: InteractionRoutesOptions): Promise<void> {
  const { interactions, passwordLogin, csrf, signed, layout, pages, db, throttle, audit, secretBox, relyingParty } = options;
  await app.register(formbody, { bodyLimit: options.bodyLimit });
  await passkeyScriptRoute(app);

  const sendPage = (reply: FastifyReply, status: number, body: string, formTargets: (string | undefined)[] = []): FastifyReply =>
    sendLayoutPage(reply, layout, status, body, formTargets);
  const messagePage = (title: string, message: string) => pages.message(title, message);
  const expired = (reply: FastifyReply): FastifyReply =>
    sendPage(reply, 400, messagePage('Sign-in expired', 'This sign-in page is no longer valid. Go back to the application and start again.'));

  const actions = (uid: string) => ({
    login: `${INTERACTION_PATH}/${uid}/login`,
    secondFactor: `${INTERACTION_PATH}/${uid}/second-factor`,
    resend: `${INTERACTION_PATH}/${uid}/resend-verification`,
    consent: `${INTERACTION_PATH}/${uid}/consent`,
    abort: `${INTERACTION_PATH}/${uid}/abort`,
    passkey: `${INTERACTION_PATH}/${uid}/passkey`,
    passkeyOptions: `${INTERACTION_PATH}/${uid}/passkey/options`,
  });
  // The login page names the client as the consent page does, with where it answers (its
  // redirect URI's host) and, for a client described by a metadata document, who describes it:
  // a name anyone can choose is never the only thing shown, and Cancel sends the browser there.
  // The upstream identity providers offered on the login page (ADR 0017): a link each, carrying the CSRF token.
  const upstreamLinks = async (uid: string) =>
    (await listUpstreamProviders(db, { enabledOnly: true })).map((provider) => ({
      name: provider.name,
      href: `${INTERACTION_PATH}/${uid}/upstream/${provider.id}?csrf=${encodeURIComponent(csrf.issue(uid, 'interaction'))}`,
    }));
  const loginPage = async (uid: string, view: Pick<InteractionView, 'clientName' | 'publisher' | 'redirectUri'>, extra: { username?: string; error?: string; notice?: string } = {}) =>
    pages.login({
      upstream: await upstreamLinks(uid),
      action: actions(uid).login,
      abortAction: actions(uid).abort,
      csrf: csrf.issue(uid, 'interaction'),
      clientName: view.clientName,
      publisher: view.publisher,
      destination: destinationOf(view.redirectUri),
      forgotPasswordUrl: `${SELF_SERVICE_PATHS.forgotPassword}?interaction=${uid}`,
      registerUrl: options.registration ? `${SELF_SERVICE_PATHS.register}?interaction=${uid}` : undefined,
      passkey: { action: actions(uid).passkey, optionsAction: actions(uid).passkeyOptions },
      ...extra,
    });
  const secondFactorPage = (uid: string, pending: string, error?: string) =>
    pages.secondFactor({ action: actions(uid).secondFactor, abortAction: actions(uid).abort, csrf: csrf.issue(uid, 'interaction'), pending, error });
  // "This user passed the first factor of this interaction (a password or a passkey without user
  // verification); a code is next": signed, bound to the interaction, valid PENDING_TTL.
  const secondFactorPending = (uid: string, factor: FirstFactor, userId: string) => signed.sign(`second-factor:${uid}`, `${factor} ${userId}`, PENDING_TTL);
  const readSecondFactorPending = (uid: string, pending: string): { factor: FirstFactor; userId: string } | undefined => {
    const [factor, userId] = (signed.verify(`second-factor:${uid}`, pending) ?? '').split(' ');
    return (factor === 'pwd' || factor === 'hwk' || factor === 'swk' || factor === 'fed') && userId ? { factor, userId } : undefined;
  };
  const formExpired = (reply: FastifyReply) =>
    sendPage(reply, 403, messagePage('Form expired', 'This form could not be verified. Go back to the application and start again.'));

  // Every form of these pages (login, second factor, consent, registration, reset, the account
  // pages) is refused when the browser says it was posted from another site, before the body is
  // even read: defence in depth beside the CSRF tokens.
  const publicOrigin = new URL(options.publicUrl).origin;
  app.addHook('onRequest', async (request, reply) => {
    if (request.method !== 'POST') return;
    const problem = crossSiteFormProblem(request.headers, publicOrigin);
    if (problem === undefined) return;
    request.log.info({ problem }, 'cross-site form post refused');
    return sendPage(reply, 403, messagePage('Form refused', 'This form was sent from another site. Go back to the application and start again.'));
  });

  app.setErrorHandler((error, request, reply) => {
    if (error instanceof InteractionExpired) return expired(reply);
    if ((error as { statusCode?: number }).statusCode === 413) {
      return sendPage(reply, 413, messagePage('Request too large', 'The form you sent is too large.'));
    }
    if (unavailableDependency(error)) {
      request.log.warn({ err: error }, 'page answered 503: a dependency is unavailable');
      reply.header('retry-after', String(RETRY_AFTER_SECONDS));
      return sendPage(reply, 503, messagePage('Temporarily unavailable', 'Sign-in is unavailable for a moment. Please try again shortly.'));
    }
    const status = (error as { statusCode?: number }).statusCode;
    if (status !== undefined && status >= 400 && status < 500) {
      return sendPage(reply, status, messagePage('Bad request', 'The request could not be understood. Go back to the application and try again.'));
    }
    request.log.error({ err: error }, 'interaction failed');
    return sendPage(reply, 500, messagePage('Something went wrong', 'Please go back to the application and try again.'));
  });

  app.get<UidParams>(`${INTERACTION_PATH}/:uid`, async (request, reply) => {
    const { uid } = request.params;
    const view = await interactions.load(request.raw, reply.raw, uid);
    const targets = [originOf(view.redirectUri)];
    if (view.prompt === 'login') {
      return sendPage(reply, 200, await loginPage(uid, view), targets);
    }
    if (view.prompt === 'consent') {
      const consent = await interactions.consentView(request.raw, reply.raw, uid);
      return sendPage(
        reply,
        200,
        pages.consent({ action: actions(uid).consent, abortAction: actions(uid).abort, csrf: csrf.issue(uid, 'interaction'), clientName: view.clientName, publisher: view.publisher, destination: destinationOf(view.redirectUri), ...consent }),
        targets,
      );
    }
    return sendPage(reply, 400, messagePage('Unsupported request', 'This application asked for something this server does not support.'));
  });

  app.post<UidParams & FormBody>(`${INTERACTION_PATH}/:uid/login`, async (request, reply) => {
    const { uid } = request.params;
    const view = await interactions.load(request.raw, reply.raw, uid);
    const targets = [originOf(view.redirectUri)];
    const rerender = async (status: number, error: string, username: string) => sendPage(reply, status, await loginPage(uid, view, { username, error }), targets);

    if (!csrf.verify(uid, 'interaction', formField(request.body, 'csrf'))) return formExpired(reply);
    if (view.prompt !== 'login') return expired(reply);

    const username = formField(request.body, 'username').trim();
    const password = formField(request.body, 'password');
    if (username === '' || password === '') return rerender(400, INVALID_CREDENTIALS, username);

    const outcome = await passwordLogin.authenticate(username, password, request.ip, { kind: 'login_page' });
    switch (outcome.kind) {
      case 'throttled':
        reply.header('retry-after', String(outcome.retryAfter));
        return rerender(429, `Too many failed attempts. Try again in ${Math.ceil(outcome.retryAfter / 60)} minute(s).`, username);
      case 'invalid':
        return rerender(401, INVALID_CREDENTIALS, username);
      case 'disabled':
        return rerender(403, 'This account is disabled.', username);
      case 'unverified':
        // Only after the right password: the account's state is not shown to anyone else.
        return sendPage(reply, 403, pages.unverified({ action: actions(uid).resend, csrf: csrf.issue(uid, 'interaction'), pending: signed.sign(`unverified:${uid}`, outcome.userId, PENDING_TTL), sent: false }), targets);
      case 'second_factor':
        return sendPage(reply, 200, secondFactorPage(uid, secondFactorPending(uid, 'pwd', outcome.userId)), targets);
      case 'ok': {
        // 303: the browser follows with a GET, never re-posting the password (RFC 9110 §15.4.4).
        const returnTo = await interactions.finishLogin(request.raw, reply.raw, uid, outcome.userId);
        return reply.redirect(returnTo, 303);
      }
    }
  });

  // The second step for accounts with two-factor authentication: a TOTP code or a recovery code.
  // Wrong codes count per account on a counter of their own, which only a right second factor
  // clears, and per address with wrong passwords: knowing the password buys no more guesses.
  app.post<UidParams & FormBody>(`${INTERACTION_PATH}/:uid/second-factor`, async (request, reply) => {
    const { uid } = request.params;
    const view = await interactions.load(request.raw, reply.raw, uid);
    const targets = [originOf(view.redirectUri)];
    if (!csrf.verify(uid, 'interaction', formField(request.body, 'csrf'))) return formExpired(reply);
    if (view.prompt !== 'login') return expired(reply);
    const pending = formField(request.body, 'pending');
    const firstStep = readSecondFactorPending(uid, pending);
    const user = firstStep === undefined ? undefined : await accountSummary(db, firstStep.userId);
    if (!firstStep || !user || user.disabled || !user.twoFactor) return sendPage(reply, 400, await loginPage(uid, view, { error: 'Your sign-in took too long. Please sign in again.' }), targets);

    // Counted before the code is looked at, on the second factor's own per-account counter
    // (a right password does not clear it) and the address's.
    const attempt = await throttle.attempt('second_factor', user.id, request.ip);
    if (attempt.limited) {
      reply.header('retry-after', String(attempt.retryAfter));
      return sendPage(reply, 429, secondFactorPage(uid, pending, `Too many failed attempts. Try again in ${Math.ceil(attempt.retryAfter / 60)} minute(s).`), targets);
    }
    const code = formField(request.body, 'code').trim();
    let method: 'totp' | 'recovery_code' | undefined;
    try {
      if (/^\d[\d ]*$/.test(code)) {
        const state = await twoFactorState(db, user.id);
        const secret = state?.sealedSecret ? secretBox.open(state.sealedSecret) : undefined;
        const step = secret === undefined ? undefined : totpStep(secret, code);
        // A code works once: its time step must be later than the last one accepted.
        if (step !== undefined && (await acceptTotpStep(db, user.id, step))) method = 'totp';
      } else {
        const codeHash = recoveryCodeHash(code);
        if (codeHash !== undefined && (await consumeRecoveryCode(db, user.id, codeHash))) method = 'recovery_code';
      }
    } catch (error) {
      await attempt.release().catch(() => {});
      throw error;
    }
    await audit({
      type: 'login.second_factor',
      outcome: method ? 'success' : 'failure',
      actor: { kind: 'user', id: user.id },
      target: { kind: 'user', id: user.id },
      ip: request.ip,
      details: { method: method ?? (/^\d/.test(code) ? 'totp' : 'recovery_code') },
    });
    // A wrong code (or recovery code) stays counted.
    if (!method) return sendPage(reply, 401, secondFactorPage(uid, pending, 'This code is not right. Enter the current code from your app.'), targets);
    await attempt.succeeded();
    const returnTo = await interactions.finishLogin(request.raw, reply.raw, uid, user.id, [firstStep.factor, 'otp', 'mfa']);
    return reply.redirect(returnTo, 303);
  });

  // ── Passkeys (docs/adr/0015-passkeys.md) ──────────────────────────────────────────────────
  // Username-less: the options name no credential, the authenticator offers the passkeys it holds
  // for this RP ID, and the assertion's credential id says whose it is. The challenge travels to
  // the browser and back HMAC-signed and bound to this interaction (which is bound to this
  // browser's cookie), valid for one ceremony's time: no server-side state between the two steps.
  app.post<UidParams & FormBody>(actions(':uid').passkeyOptions, async (request, reply) => {
    const { uid } = request.params;
    const view = await interactions.load(request.raw, reply.raw, uid);
    reply.header('cache-control', 'no-store');
    if (!csrf.verify(uid, 'interaction', formField(request.body, 'csrf')) || view.prompt !== 'login') {
      return reply.status(403).send({ error: 'This sign-in page is no longer valid. Go back to the application and start again.' });
    }
    const passkeyOptions = await authenticationOptions(relyingParty);
    return reply.send({ options: passkeyOptions, state: signed.sign(`passkey-sign-in:${uid}`, passkeyOptions.challenge, CEREMONY_SECONDS) });
  });

  app.post<UidParams & FormBody>(actions(':uid').passkey, async (request, reply) => {
    const { uid } = request.params;
    const view = await interactions.load(request.raw, reply.raw, uid);
    const targets = [originOf(view.redirectUri)];
    if (!csrf.verify(uid, 'interaction', formField(request.body, 'csrf'))) return formExpired(reply);
    if (view.prompt !== 'login') return expired(reply);
    const refuse = async (status: number, error: string) => sendPage(reply, status, await loginPage(uid, view, { error }), targets);
    const record = (result: string, outcome: 'success' | 'failure', found?: { userId: string; passkeyId: string; username?: string | undefined; userVerified?: boolean }) =>
      audit({
        type: 'login.passkey',
        outcome,
        actor: found ? { kind: 'user', id: found.userId } : { kind: 'anonymous' },
        target: found ? { kind: 'user', id: found.userId } : undefined,
        ip: request.ip,
        details: {
          result,
          client_id: view.clientId,
          ...(found ? { passkey_id: found.passkeyId } : {}),
          ...(found?.username ? { username: found.username } : {}),
          ...(found?.userVerified !== undefined ? { user_verified: found.userVerified } : {}),
        },
      });

    const challenge = signed.verify(`passkey-sign-in:${uid}`, formField(request.body, 'state'));
    if (challenge === undefined) {
      await record('expired', 'failure');
      return refuse(400, 'The passkey sign-in took too long. Please try again.');
    }
    const result = await verifyPasskeySignIn(db, relyingParty, parseJson(formField(request.body, 'response')), challenge);
    if (result.kind !== 'ok') {
      await record(result.kind, 'failure', passkeyOwner(result));
      return refuse(401, result.kind === 'unknown_passkey' ? 'This passkey is not registered here (it may have been removed). Sign in another way.' : 'This passkey could not sign you in.');
    }
    const { passkey, userVerified, keyAmr } = result;
    const user = await accountRecord(db, passkey.userId);
    const found = { userId: passkey.userId, passkeyId: passkey.id, username: user?.username, userVerified };
    // The same refusals as the password login, in the same order.
    if (!user || user.disabled === 1) {
      await record('disabled', 'failure', found);
      return refuse(403, 'This account is disabled.');
    }
    if (user.self_registered === 1 && user.email_verified === 0) {
      await record('unverified', 'failure', found);
      return sendPage(reply, 403, pages.unverified({ action: actions(uid).resend, csrf: csrf.issue(uid, 'interaction'), pending: signed.sign(`unverified:${uid}`, user.id, PENDING_TTL), sent: false }), targets);
    }
    // A passkey that verified its user is two factors (the device, and the PIN or biometric that
    // unlocks it): no code is asked. One that did not is one factor, like a password.
    if (!userVerified && user.totp_enabled_at !== null) {
      await record('second_factor', 'failure', found);
      return sendPage(reply, 200, secondFactorPage(uid, secondFactorPending(uid, keyAmr, user.id)), targets);
    }
    await record('ok', 'success', found);
    const returnTo = await interactions.finishLogin(request.raw, reply.raw, uid, user.id, userVerified ? [keyAmr, 'mfa'] : [keyAmr]);
    return reply.redirect(returnTo, 303);
  });

  // A self-registered user who has not verified their email yet can ask for a new link.
  app.post<UidParams & FormBody>(`${INTERACTION_PATH}/:uid/resend-verification`, async (request, reply) => {
    const { uid } = request.params;
    const view = await interactions.load(request.raw, reply.raw, uid);
    if (!csrf.verify(uid, 'interaction', formField(request.body, 'csrf'))) return formExpired(reply);
    const pending = formField(request.body, 'pending');
    const userId = signed.verify(`unverified:${uid}`, pending);
    const user = userId === undefined ? undefined : await accountSummary(db, userId);
    if (!user || user.emailVerified || !user.email) return sendPage(reply, 400, await loginPage(uid, view, { error: 'Please sign in again.' }));
    const limit = await options.limiter.take([{ key: `verify:user:${user.id}`, max: 5 }], 3600);
    if (limit.limited) {
      reply.header('retry-after', String(limit.retryAfter));
      return sendPage(reply, 429, messagePage('Too many requests', `Please wait ${Math.ceil(limit.retryAfter / 60)} minute(s) and try again.`));
    }
    await sendVerification(options, { id: user.id, username: user.username, email: user.email }, `${INTERACTION_PATH}/${uid}`);
    return sendPage(reply, 200, pages.unverified({ action: actions(uid).resend, csrf: csrf.issue(uid, 'interaction'), pending, sent: true }));
  });

  app.post<UidParams & FormBody>(`${INTERACTION_PATH}/:uid/consent`, async (request, reply) => {
    const { uid } = request.params;
    if (!csrf.verify(uid, 'interaction', formField(request.body, 'csrf'))) return formExpired(reply);
    const view = await interactions.load(request.raw, reply.raw, uid);
    if (view.prompt !== 'consent') return expired(reply);
    return reply.redirect(await interactions.finishConsent(request.raw, reply.raw, uid), 303);
  });

  app.post<UidParams & FormBody>(`${INTERACTION_PATH}/:uid/abort`, async (request: FastifyRequest<UidParams & FormBody>, reply) => {
    const { uid } = request.params;
    if (!csrf.verify(uid, 'interaction', formField(request.body, 'csrf'))) return formExpired(reply);
    return reply.redirect(await interactions.abort(request.raw, reply.raw, uid), 303);
  });

  // Registration, email verification, password reset, and the account pages: same form parsing,
  // same HTML error pages.
  await selfServiceRoutes(app, options);
  await accountRoutes(app, options);
  await upstreamRoutes(app, {
    db,
    publicUrl: options.publicUrl,
    interactions,
    passwordLogin,
    csrf,
    signed,
    audit,
    sendPage,
    messagePage: (title, message, link) => pages.message(title, message, link),
    loginPage,
    linkPage: (input) => pages.upstreamLink(input),
    secondFactor: (uid, userId, factor) => secondFactorPage(uid, secondFactorPending(uid, factor, userId)),
    formExpired,
    continuing: (target, providerName) => pages.continuing(target, providerName),
  });
}

/**
 * /assets/passkeys.js. Not built (a checkout where `npm ci` did not run the build): 404, and the
 * pages work as before, their passkey forms hidden.
 */
async function passkeyScriptRoute(app: FastifyInstance): Promise<void> {
  const script = await readFile(PASSKEY_SCRIPT_FILE, 'utf8').catch(() => undefined);
  if (script === undefined) app.log.warn('the passkey script is not built: passkeys are hidden until `npm run build:console -w @gatehouse/server` has run');
  app.get(PASSKEY_SCRIPT_PATH, async (_request, reply) => {
    if (script === undefined) return reply.status(404).header('content-type', 'text/plain; charset=utf-8').send('not built');
    return reply.header('content-type', 'text/javascript; charset=utf-8').header('cache-control', 'no-cache').header('x-content-type-options', 'nosniff').send(script);
  });
}

/** The user and passkey an unsuccessful sign-in named, when it named a stored passkey. */
function passkeyOwner(result: Exclude<PasskeySignIn, { kind: 'ok' }>): { userId: string; passkeyId: string } | undefined {
  return result.kind === 'invalid' ? { userId: result.passkey.userId, passkeyId: result.passkey.id } : undefined;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** The redirect URI's host (`app.example.com`, `127.0.0.1:8999`), or `com.example.app:` for an app's own scheme. */
function destinationOf(redirectUri: string | undefined): string {
  try {
    const url = new URL(redirectUri ?? '');
    return url.host === '' ? url.protocol : url.host;
  } catch {
    return 'an unknown address';
  }
}
