// The account pages: a signed-in user sees their account, changes their password, and turns
// TOTP two-factor authentication on (QR code, confirmation code, recovery codes) or off.
// Signing in is the server's own authorization request (engine/account-client.ts); the pages
// then read the login session through the engine's InteractionApi (engine/interactions.ts).
// Forms carry a CSRF token bound to that session.
import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import QRCode from 'qrcode';
import { ACCOUNT_CALLBACK_PATH, ACCOUNT_CLIENT_ID, ACCOUNT_PATH } from '../engine/account-client.ts';
import type { InteractionApi, LoginSession } from '../engine/interactions.ts';
import { ROUTES } from '../engine/configuration.ts';
import { passwordChangedMail, twoFactorChangedMail } from '../mail/messages.ts';
import { hashPassword, passwordProblem, verifyPassword } from '../passwords/hash.ts';
import { newRecoveryCodes, newTotpSecret, recoveryCodeHashes, SecretBox, totpStep, totpUri } from '../passwords/totp.ts';
import { atomically } from '../storage/scope.ts';
import { disableTwoFactor, enableTwoFactor, replaceRecoveryCodes, setPendingSecret, twoFactorState } from '../storage/two-factor.ts';
import { accountSummary, revokeUserSessions, updatePasswordHash } from '../storage/users.ts';
import type { CsrfTokens } from './csrf.ts';
import { formField, sendPage, type SelfServiceOptions } from './self-service.ts';

export const ACCOUNT_PATHS = {
  home: ACCOUNT_PATH,
  signedIn: ACCOUNT_CALLBACK_PATH,
  password: `${ACCOUNT_PATH}/password`,
  twoFactor: `${ACCOUNT_PATH}/two-factor`,
  enableTwoFactor: `${ACCOUNT_PATH}/two-factor/enable`,
  disableTwoFactor: `${ACCOUNT_PATH}/two-factor/disable`,
  recoveryCodes: `${ACCOUNT_PATH}/two-factor/recovery-codes`,
} as const;

export interface AccountOptions extends SelfServiceOptions {
  readonly interactions: InteractionApi;
  readonly csrf: CsrfTokens;
  readonly secretBox: SecretBox;
}

type Form = { Body: Record<string, string | string[] | undefined> };

const NOTICES: Record<string, string> = {
  'password-changed': 'Your password was changed. Other devices were signed out.',
  'two-factor-off': 'Two-factor authentication is off.',
};

export async function accountRoutes(app: FastifyInstance, options: AccountOptions): Promise<void> {
  const { db, layout, pages, mailer, csrf, secretBox, throttle, audit } = options;
  const brand = { name: layout.brand.name };
  const page = (reply: FastifyReply, status: number, body: string) => sendPage(reply, layout, status, body);
  const signOutUrl = `${ROUTES.end_session}?client_id=${ACCOUNT_CLIENT_ID}`;

  /** The signed-in user, or undefined after sending the browser to sign in. */
  async function signedIn(request: FastifyRequest, reply: FastifyReply) {
    const session = await options.interactions.loginSession(request.raw, reply.raw);
    const user = session && (await accountSummary(db, session.accountId));
    if (session && user && !user.disabled) return { session, user };
    const authorize = new URL(ROUTES.authorization, options.publicUrl);
    authorize.search = new URLSearchParams({
      client_id: ACCOUNT_CLIENT_ID,
      response_type: 'none',
      scope: 'openid',
      redirect_uri: `${options.publicUrl}${ACCOUNT_CALLBACK_PATH}`,
      state: randomBytes(16).toString('base64url'),
    }).toString();
    await reply.redirect(`${authorize.pathname}${authorize.search}`, 303);
    return undefined;
  }

  const token = (session: LoginSession) => csrf.issue(session.id, 'account');
  /** Checks the form's CSRF token; answers 403 itself when it is wrong. */
  function formOk(session: LoginSession, request: FastifyRequest<Form>, reply: FastifyReply): boolean {
    if (csrf.verify(session.id, 'account', formField(request.body, 'csrf'))) return true;
    void page(reply, 403, pages.message('Form expired', 'This form could not be verified. Reload the page and try again.', { href: ACCOUNT_PATH, text: 'Back to your account' }));
    return false;
  }

  /**
   * A password check on the account pages counts against the same throttle as the login page:
   * counted before the check, released when it is right.
   */
  async function passwordOk(user: { username: string; passwordHash: string | null }, password: string, ip: string): Promise<boolean | { retryAfter: number }> {
    // Nothing typed: no check, no failure counted.
    if (password === '') return false;
    const attempt = await throttle.attempt('password', user.username, ip);
    if (attempt.limited) return { retryAfter: attempt.retryAfter };
    let ok: boolean;
    try {
      ok = user.passwordHash !== null && (await verifyPassword(user.passwordHash, password));
    } catch (error) {
      await attempt.release().catch(() => {});
      throw error;
    }
    if (ok) await attempt.release();
    return ok;
  }

  app.get<{ Querystring: { done?: string } }>(ACCOUNT_PATHS.home, async (request, reply) => {
    const current = await signedIn(request, reply);
    if (!current) return reply;
    const state = await twoFactorState(db, current.user.id);
    const notice = typeof request.query.done === 'string' ? NOTICES[request.query.done] : undefined;
    return page(
      reply,
      200,
      pages.account({
        view: { ...current.user, twoFactor: current.user.twoFactor, recoveryCodesLeft: state?.recoveryCodesLeft ?? 0 },
        notice,
        signOutUrl,
        links: { password: ACCOUNT_PATHS.password, twoFactor: ACCOUNT_PATHS.twoFactor },
      }),
    );
  });

  // Back from signing in (response_type=none carries nothing but `state` or an error).
  app.get<{ Querystring: { error?: string } }>(ACCOUNT_PATHS.signedIn, async (request, reply) => {
    if (request.query.error !== undefined) {
      return page(reply, 400, pages.message('Not signed in', 'Signing in was cancelled or did not work.', { href: ACCOUNT_PATH, text: 'Try again' }));
    }
    return reply.redirect(ACCOUNT_PATH, 303);
  });

  // ── Change password ─────────────────────────────────────────────────────────────────────────
  app.get(ACCOUNT_PATHS.password, async (request, reply) => {
    const current = await signedIn(request, reply);
    if (!current) return reply;
    return page(reply, 200, pages.changePassword({ action: ACCOUNT_PATHS.password, csrf: token(current.session), username: current.user.username, errors: {}, backUrl: ACCOUNT_PATH }));
  });

  app.post<Form>(ACCOUNT_PATHS.password, async (request, reply) => {
    const current = await signedIn(request, reply);
    if (!current || !formOk(current.session, request, reply)) return reply;
    const { session, user } = current;
    const again = (status: number, errors: Record<string, string | undefined>) =>
      page(reply, status, pages.changePassword({ action: ACCOUNT_PATHS.password, csrf: token(session), username: user.username, errors, backUrl: ACCOUNT_PATH }));

    const password = formField(request.body, 'password');
    const weak = passwordProblem(password);
    const errors = {
      password: weak ? `The password ${weak}.` : undefined,
      confirm: !weak && password !== formField(request.body, 'confirm') ? 'The two passwords are not the same.' : undefined,
    };
    if (errors.password || errors.confirm) return again(400, errors);
    const check = await passwordOk(user, formField(request.body, 'current'), request.ip);
    if (typeof check === 'object') {
      reply.header('retry-after', String(check.retryAfter));
      return again(429, { current: `Too many failed attempts. Try again in ${Math.ceil(check.retryAfter / 60)} minute(s).` });
    }
    if (!check) return again(400, { current: 'This is not your current password.' });

    const hash = await hashPassword(password);
    const notice = await options.sessionsEnding?.(user.id, { keepSession: session.id });
    await atomically(db, async () => {
      await updatePasswordHash(db, user.id, hash);
      // Every other session, grant and refresh token ends; this browser stays signed in.
      await revokeUserSessions(db, user.id, { keepSession: session.id });
    });
    // The applications of the other sessions are told (Back-Channel Logout); never fails the change.
    await notice?.send();
    if (user.email) mailer.send(passwordChangedMail(brand, user.email, user.username));
    await audit({ type: 'account.password_changed', actor: { kind: 'user', id: user.id }, target: { kind: 'user', id: user.id }, ip: request.ip });
    return reply.redirect(`${ACCOUNT_PATH}?done=password-changed`, 303);
  });

  // ── Two-factor authentication ───────────────────────────────────────────────────────────────
  async function enrolPage(reply: FastifyReply, status: number, session: LoginSession, user: { id: string; username: string }, error?: { code?: string; current?: string }) {
    const state = await twoFactorState(db, user.id);
    // One pending secret until it is confirmed: reloading the page shows the same QR code.
    let secret = state?.sealedPendingSecret ? secretBox.open(state.sealedPendingSecret) : undefined;
    if (secret === undefined) {
      secret = newTotpSecret();
      await setPendingSecret(db, user.id, secretBox.seal(secret));
    }
    const qrSvg = await QRCode.toString(totpUri(secret, layout.brand.name, user.username), { type: 'svg', errorCorrectionLevel: 'M', margin: 1 });
    return page(reply, status, pages.enrolTwoFactor({ action: ACCOUNT_PATHS.enableTwoFactor, csrf: token(session), qrSvg, secret, username: user.username, error, backUrl: ACCOUNT_PATH }));
  }

  async function managePage(reply: FastifyReply, status: number, session: LoginSession, user: { id: string; username: string }, error?: string, regenerateError?: string) {
    const state = await twoFactorState(db, user.id);
    return page(
      reply,
      status,
      pages.manageTwoFactor({
        action: ACCOUNT_PATHS.disableTwoFactor,
        regenerateAction: ACCOUNT_PATHS.recoveryCodes,
        csrf: token(session),
        username: user.username,
        recoveryCodesLeft: state?.recoveryCodesLeft ?? 0,
        error,
        regenerateError,
        backUrl: ACCOUNT_PATH,
      }),
    );
  }

  app.get(ACCOUNT_PATHS.twoFactor, async (request, reply) => {
    const current = await signedIn(request, reply);
    if (!current) return reply;
    if (current.user.twoFactor) return managePage(reply, 200, current.session, current.user);
    return enrolPage(reply, 200, current.session, current.user);
  });

  app.post<Form>(ACCOUNT_PATHS.enableTwoFactor, async (request, reply) => {
    const current = await signedIn(request, reply);
    if (!current || !formOk(current.session, request, reply)) return reply;
    const { session, user } = current;
    if (user.twoFactor) return reply.redirect(ACCOUNT_PATHS.twoFactor, 303);
    const state = await twoFactorState(db, user.id);
    const secret = state?.sealedPendingSecret ? secretBox.open(state.sealedPendingSecret) : undefined;
    if (secret === undefined) return enrolPage(reply, 400, session, user, { code: 'The setup expired. Scan this new QR code.' });
    // Recent authentication (OWASP ASVS 5 §7.5.1): a session cookie alone (a borrowed laptop, a
    // stolen cookie) must not decide how the account signs in from now on.
    const check = await passwordOk(user, formField(request.body, 'current'), request.ip);
    if (typeof check === 'object') {
      reply.header('retry-after', String(check.retryAfter));
      return enrolPage(reply, 429, session, user, { current: `Too many failed attempts. Try again in ${Math.ceil(check.retryAfter / 60)} minute(s).` });
    }
    if (!check) return enrolPage(reply, 400, session, user, { current: 'This is not your password.' });
    const step = totpStep(secret, formField(request.body, 'code'));
    if (step === undefined) return enrolPage(reply, 400, session, user, { code: 'This code is not right. Check the time on your device and enter the current code.' });

    const codes = newRecoveryCodes();
    await enableTwoFactor(db, user.id, secretBox.seal(secret), step, recoveryCodeHashes(codes));
    if (user.email) mailer.send(twoFactorChangedMail(brand, user.email, user.username, true));
    await audit({ type: 'account.two_factor_enabled', actor: { kind: 'user', id: user.id }, target: { kind: 'user', id: user.id }, ip: request.ip });
    return page(reply, 200, pages.recoveryCodes({ codes, backUrl: ACCOUNT_PATH }));
  });

  app.post<Form>(ACCOUNT_PATHS.recoveryCodes, async (request, reply) => {
    const current = await signedIn(request, reply);
    if (!current || !formOk(current.session, request, reply)) return reply;
    const { session, user } = current;
    if (!user.twoFactor) return reply.redirect(ACCOUNT_PATHS.twoFactor, 303);
    // New codes are a way in: only for someone who knows the password now, not a session alone.
    const check = await passwordOk(user, formField(request.body, 'regenerate-current'), request.ip);
    if (typeof check === 'object') {
      reply.header('retry-after', String(check.retryAfter));
      return managePage(reply, 429, session, user, undefined, `Too many failed attempts. Try again in ${Math.ceil(check.retryAfter / 60)} minute(s).`);
    }
    if (!check) return managePage(reply, 400, session, user, undefined, 'This is not your password.');
    const codes = newRecoveryCodes();
    await replaceRecoveryCodes(db, user.id, recoveryCodeHashes(codes));
    await audit({ type: 'account.recovery_codes_replaced', actor: { kind: 'user', id: user.id }, target: { kind: 'user', id: user.id }, ip: request.ip });
    return page(reply, 200, pages.recoveryCodes({ codes, backUrl: ACCOUNT_PATH }));
  });

  app.post<Form>(ACCOUNT_PATHS.disableTwoFactor, async (request, reply) => {
    const current = await signedIn(request, reply);
    if (!current || !formOk(current.session, request, reply)) return reply;
    const { session, user } = current;
    if (!user.twoFactor) return reply.redirect(ACCOUNT_PATHS.twoFactor, 303);
    const check = await passwordOk(user, formField(request.body, 'current'), request.ip);
    if (typeof check === 'object') {
      reply.header('retry-after', String(check.retryAfter));
      return managePage(reply, 429, session, user, `Too many failed attempts. Try again in ${Math.ceil(check.retryAfter / 60)} minute(s).`);
    }
    if (!check) return managePage(reply, 400, session, user, 'This is not your password.');
    await disableTwoFactor(db, user.id);
    if (user.email) mailer.send(twoFactorChangedMail(brand, user.email, user.username, false));
    await audit({ type: 'account.two_factor_disabled', actor: { kind: 'user', id: user.id }, target: { kind: 'user', id: user.id }, ip: request.ip });
    return reply.redirect(`${ACCOUNT_PATH}?done=two-factor-off`, 303);
  });
}
