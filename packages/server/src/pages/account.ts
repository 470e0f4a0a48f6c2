// The account pages: a signed-in user sees their account, changes their password, and turns
// TOTP two-factor authentication on (QR code, confirmation code, recovery codes) or off, and
// enrols and removes passkeys.
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
import { addPasskey, listPasskeys, removePasskey } from '../storage/passkeys.ts';
import { listLinkedIdentities, unlinkIdentity } from '../storage/upstream.ts';
import { GatehouseError } from '../errors.ts';
import { CEREMONY_SECONDS, registrationOptions, verifyRegistration, type RelyingParty } from '../passkeys/webauthn.ts';
import type { CsrfTokens, SignedValues } from './csrf.ts';
import { formField, sendPage, type SelfServiceOptions } from './self-service.ts';

export const ACCOUNT_PATHS = {
  home: ACCOUNT_PATH,
  signedIn: ACCOUNT_CALLBACK_PATH,
  password: `${ACCOUNT_PATH}/password`,
  twoFactor: `${ACCOUNT_PATH}/two-factor`,
  enableTwoFactor: `${ACCOUNT_PATH}/two-factor/enable`,
  disableTwoFactor: `${ACCOUNT_PATH}/two-factor/disable`,
  recoveryCodes: `${ACCOUNT_PATH}/two-factor/recovery-codes`,
  passkeys: `${ACCOUNT_PATH}/passkeys`,
  passkeyOptions: `${ACCOUNT_PATH}/passkeys/options`,
  removePasskey: `${ACCOUNT_PATH}/passkeys/remove`,
  removeIdentity: `${ACCOUNT_PATH}/identities/remove`,
} as const;

export interface AccountOptions extends SelfServiceOptions {
  readonly interactions: InteractionApi;
  readonly csrf: CsrfTokens;
  readonly secretBox: SecretBox;
  readonly signed: SignedValues;
  /** Who passkeys are for: the public URL's hostname and origin (passkeys/webauthn.ts). */
  readonly relyingParty: RelyingParty;
}

type Form = { Body: Record<string, string | string[] | undefined> };

const NOTICES: Record<string, string> = {
  'password-changed': 'Your password was changed. Other devices were signed out.',
  'two-factor-off': 'Two-factor authentication is off.',
  'passkey-added': 'The passkey was added. You can sign in with it now.',
  'passkey-removed': 'The passkey was removed.',
  'identity-removed': 'The other account was unlinked: it no longer signs you in here.',
};

/** A passkey's name as people type it: trimmed, at most 64 characters, "Passkey" when empty. */
function passkeyName(typed: string): string {
  const name = typed.replace(/\s+/g, ' ').trim().slice(0, 64);
  return name === '' ? 'Passkey' : name;
}

export async function accountRoutes(app: FastifyInstance, options: AccountOptions): Promise<void> {
  const { db, layout, pages, mailer, csrf, secretBox, throttle, audit, signed, relyingParty } = options;
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
    return accountPage(reply, 200, current, { notice });
  });

  async function accountPage(reply: FastifyReply, status: number, current: { session: LoginSession; user: NonNullable<Awaited<ReturnType<typeof accountSummary>>> }, extra: { notice?: string | undefined; error?: string }) {
    const state = await twoFactorState(db, current.user.id);
    const passkeys = await listPasskeys(db, current.user.id);
    const identities = await listLinkedIdentities(db, current.user.id);
    return page(
      reply,
      status,
      pages.account({
        view: { ...current.user, twoFactor: current.user.twoFactor, recoveryCodesLeft: state?.recoveryCodesLeft ?? 0, passkeys: passkeys.length },
        identities: identities.map((identity) => ({ id: identity.id, provider: identity.providerName, email: identity.email, linkedAt: identity.createdAt, lastUsedAt: identity.lastUsedAt })),
        removeIdentityAction: ACCOUNT_PATHS.removeIdentity,
        csrf: token(current.session),
        notice: extra.notice,
        error: extra.error,
        signOutUrl,
        links: { password: ACCOUNT_PATHS.password, twoFactor: ACCOUNT_PATHS.twoFactor, passkeys: ACCOUNT_PATHS.passkeys },
      }),
    );
  }

  // ── Other identity providers (ADR 0017): unlink one, never the last way in ───────────────────
  app.post<Form>(ACCOUNT_PATHS.removeIdentity, async (request, reply) => {
    const current = await signedIn(request, reply);
    if (!current || !formOk(current.session, request, reply)) return reply;
    const removal = await unlinkIdentity(db, current.user.id, formField(request.body, 'id'));
    if (removal.kind === 'not_found') return accountPage(reply, 404, current, { error: 'This linked account does not exist (any more).' });
    if (removal.kind === 'last_way_in') return accountPage(reply, 400, current, { error: 'This is your only way to sign in: set a password or add a passkey before you unlink it.' });
    await audit({ type: 'account.upstream_unlinked', actor: { kind: 'user', id: current.user.id }, target: { kind: 'user', id: current.user.id }, ip: request.ip, details: { identity_id: formField(request.body, 'id') } });
    return reply.redirect(`${ACCOUNT_PATH}?done=identity-removed`, 303);
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
      await updatePasswordHash(db, user.id, hash, 'change');
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

  // ── Passkeys (docs/adr/0015-passkeys.md) ────────────────────────────────────────────────────
  async function passkeysPage(reply: FastifyReply, status: number, session: LoginSession, user: { id: string; username: string; passwordHash: string | null }, messages: { notice?: string | undefined; error?: string | undefined } = {}) {
    const passkeys = await listPasskeys(db, user.id);
    return page(
      reply,
      status,
      pages.passkeys({
        action: ACCOUNT_PATHS.passkeys,
        optionsAction: ACCOUNT_PATHS.passkeyOptions,
        removeAction: ACCOUNT_PATHS.removePasskey,
        csrf: token(session),
        username: user.username,
        askPassword: user.passwordHash !== null,
        passkeys,
        ...messages,
        backUrl: ACCOUNT_PATH,
      }),
    );
  }

  app.get<{ Querystring: { done?: string } }>(ACCOUNT_PATHS.passkeys, async (request, reply) => {
    const current = await signedIn(request, reply);
    if (!current) return reply;
    const notice = typeof request.query.done === 'string' ? NOTICES[request.query.done] : undefined;
    return passkeysPage(reply, 200, current.session, current.user, { notice });
  });

  // The first step of enrolling: the options for the browser, after the password (a new way into
  // the account is decided by someone who knows the password now, not by a session cookie alone,
  // as for two-factor). Answered in JSON for the passkey script; the challenge goes with them,
  // HMAC-signed and bound to this login session, and comes back with the new credential.
  app.post<Form>(ACCOUNT_PATHS.passkeyOptions, async (request, reply) => {
    reply.header('cache-control', 'no-store');
    const session = await options.interactions.loginSession(request.raw, reply.raw);
    const user = session && (await accountSummary(db, session.accountId));
    if (!session || !user || user.disabled) return reply.status(401).send({ error: 'You are signed out. Reload the page and sign in again.' });
    if (!csrf.verify(session.id, 'account', formField(request.body, 'csrf'))) return reply.status(403).send({ error: 'This form could not be verified. Reload the page and try again.' });
    if (user.passwordHash !== null) {
      const check = await passwordOk(user, formField(request.body, 'current'), request.ip);
      if (typeof check === 'object') {
        reply.header('retry-after', String(check.retryAfter));
        return reply.status(429).send({ error: `Too many failed attempts. Try again in ${Math.ceil(check.retryAfter / 60)} minute(s).` });
      }
      if (!check) return reply.status(400).send({ error: 'This is not your password.' });
    }
    const creation = await registrationOptions(relyingParty, user, await listPasskeys(db, user.id));
    return reply.send({ options: creation, state: signed.sign(`passkey-enrol:${session.id}`, creation.challenge, CEREMONY_SECONDS) });
  });

  // The second step: the browser's new credential, verified (origin, RP ID, challenge, user
  // presence), stored as its public key.
  app.post<Form>(ACCOUNT_PATHS.passkeys, async (request, reply) => {
    const current = await signedIn(request, reply);
    if (!current || !formOk(current.session, request, reply)) return reply;
    const { session, user } = current;
    const challenge = signed.verify(`passkey-enrol:${session.id}`, formField(request.body, 'state'));
    if (challenge === undefined) return passkeysPage(reply, 400, session, user, { error: 'Adding the passkey took too long, or did not start. Please try again.' });
    let response: unknown;
    try {
      response = JSON.parse(formField(request.body, 'response'));
    } catch {
      response = undefined;
    }
    const credential = await verifyRegistration(relyingParty, response, challenge);
    if (!credential) {
      await audit({ type: 'account.passkey_added', outcome: 'failure', actor: { kind: 'user', id: user.id }, target: { kind: 'user', id: user.id }, ip: request.ip, details: { result: 'invalid' } });
      return passkeysPage(reply, 400, session, user, { error: 'The passkey could not be verified. Please try again.' });
    }
    let passkey;
    try {
      passkey = await addPasskey(db, { userId: user.id, ...credential, name: passkeyName(formField(request.body, 'name')) });
    } catch (error) {
      if (error instanceof GatehouseError && error.code === 'conflict') return passkeysPage(reply, 400, session, user, { error: 'This passkey is registered already.' });
      throw error;
    }
    await audit({ type: 'account.passkey_added', actor: { kind: 'user', id: user.id }, target: { kind: 'user', id: user.id }, ip: request.ip, details: { passkey_id: passkey.id, name: passkey.name } });
    return reply.redirect(`${ACCOUNT_PATHS.passkeys}?done=passkey-added`, 303);
  });

  app.post<Form>(ACCOUNT_PATHS.removePasskey, async (request, reply) => {
    const current = await signedIn(request, reply);
    if (!current || !formOk(current.session, request, reply)) return reply;
    const { session, user } = current;
    const removal = await removePasskey(db, user.id, formField(request.body, 'id'));
    if (removal.kind === 'not_found') return passkeysPage(reply, 404, session, user, { error: 'This passkey does not exist (any more).' });
    if (removal.kind === 'last_way_in') return passkeysPage(reply, 400, session, user, { error: 'This is your only way to sign in: add another passkey before you remove this one.' });
    await audit({ type: 'account.passkey_removed', actor: { kind: 'user', id: user.id }, target: { kind: 'user', id: user.id }, ip: request.ip, details: { passkey_id: removal.passkey.id, name: removal.passkey.name } });
    return reply.redirect(`${ACCOUNT_PATHS.passkeys}?done=passkey-removed`, 303);
  });
}
