// Self-service pages around the login page: registration, email verification, forgotten and
// reset passwords. What they never do: say whether an email address has an account (the same
// page, and the same work, either way), consume a link on GET (mail scanners open links), or
// leave half a change behind (each change is one transaction).
//
// CSRF: these forms act on no session of the visitor; what they change is authorised by what is
// posted (a new account's details, a link's 256-bit token), which a forging site does not have.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { GatehouseError } from '../errors.ts';
import type { Mailer } from '../mail/mailer.ts';
import { alreadyRegisteredMail, passwordChangedMail, passwordResetMail, verificationMail } from '../mail/messages.ts';
import { hashPassword, passwordProblem } from '../passwords/hash.ts';
import { addressKey, type LoginThrottle, type RateLimiter } from '../passwords/throttle.ts';
import { withPasswordHash } from '../passwords/user-passwords.ts';
import { consumeAccountToken, invalidateAccountTokens, issueAccountToken, peekAccountToken } from '../storage/account-tokens.ts';
import type { AuditEventInput } from '../storage/audit.ts';
import type { Db } from '../storage/database.ts';
import { atomically } from '../storage/scope.ts';
import { createUser, findUser, findUserByEmail, markEmailVerified, revokeUserSessions, updatePasswordHash } from '../storage/users.ts';
import * as validate from '../storage/validate.ts';
import { INTERACTION_PATH } from '../engine/configuration.ts';
import { ACCOUNT_PATH } from '../engine/account-client.ts';
import { PASSKEY_SCRIPT_PATH, type Layout } from '../html/layout.ts';
import type { Pages } from './templates.ts';

export const SELF_SERVICE_PATHS = {
  register: '/register',
  verifyEmail: '/verify-email',
  forgotPassword: '/forgot-password',
  resetPassword: '/reset-password',
} as const;

export interface SelfServiceOptions {
  readonly db: Db;
  readonly layout: Layout;
  readonly pages: Pages;
  readonly mailer: Mailer;
  readonly throttle: LoginThrottle;
  readonly limiter: RateLimiter;
  readonly audit: (event: AuditEventInput) => Promise<void>;
  readonly publicUrl: string;
  readonly registration: boolean;
  /** The roles a self-registered user receives (GATEHOUSE_REGISTRATION_ROLES). */
  readonly registrationRoles: readonly string[];
  readonly emailVerificationTtl: number;
  readonly passwordResetTtl: number;
  /** Engine#sessionsEnding: the clients of sessions about to end, sent logout tokens after (Back-Channel Logout). */
  readonly sessionsEnding?: (userId: string, options?: { keepSession?: string }) => Promise<{ send(): Promise<void> }>;
}

type Form = { Body: Record<string, string | string[] | undefined> };
type Query = { Querystring: Record<string, string | string[] | undefined> };

const HOUR = 3600;
/** Budgets per hour: generous for people, useless for a script. */
const LIMITS = { registrationsPerIp: 10, resetMailsPerIp: 20, resetMailsPerEmail: 3, verificationMailsPerUser: 5 } as const;

export function formField(body: Form['Body'] | undefined, name: string): string {
  const value = body?.[name];
  return typeof value === 'string' ? value : '';
}

function queryField(query: Query['Querystring'] | undefined, name: string): string {
  const value = query?.[name];
  return typeof value === 'string' ? value : '';
}

/** `?interaction=<uid>`: where to go back to sign in (the login page the visitor came from). */
function interactionReturn(value: string): string | undefined {
  return /^[A-Za-z0-9_-]{1,64}$/.test(value) ? `${INTERACTION_PATH}/${value}` : undefined;
}

function withInteraction(path: string, uid: string | undefined): string {
  return uid ? `${path}?interaction=${encodeURIComponent(uid)}` : path;
}

/** Email addresses are compared as the database's unique index does: whatever their case. */
function sameAddress(current: string | null | undefined, sentTo: string): boolean {
  return typeof current === 'string' && current.toLowerCase() === sentTo.toLowerCase();
}

/** `message` when `check` refuses the value (validate.ts throws GatehouseError). */
function problem(check: () => unknown, message: string): string | undefined {
  try {
    check();
    return undefined;
  } catch (error) {
    if (error instanceof GatehouseError) return message;
    throw error;
  }
}

const BAD_USERNAME = 'Use 1 to 64 letters, digits or . _ @ + - characters, starting with a letter or digit.';
const BAD_EMAIL = 'Enter an email address, like name@example.com.';

/** An HTML page with the layout's headers; `formTargets` are origins a form's redirect may reach. */
export function sendPage(reply: FastifyReply, layout: Layout, status: number, body: string, formTargets: readonly (string | undefined)[] = []): FastifyReply {
  // Only a page that loads the passkey script may run scripts (this server's files, never inline).
  const scripts = body.includes(`<script type="module" src="${PASSKEY_SCRIPT_PATH}">`);
  return reply
    .status(status)
    .headers(layout.headers(formTargets.filter((t): t is string => t !== undefined), { scripts }))
    .send(body);
}

/** Issues a verification link for the user's current address and mails it (in the background). */
export async function sendVerification(options: SelfServiceOptions, user: { id: string; username: string; email: string }, returnTo: string | undefined): Promise<void> {
  const token = await issueAccountToken(options.db, { purpose: 'verify_email', userId: user.id, email: user.email, returnTo, ttlSeconds: options.emailVerificationTtl });
  const url = `${options.publicUrl}${SELF_SERVICE_PATHS.verifyEmail}?token=${token}`;
  options.mailer.send(verificationMail({ name: options.layout.brand.name }, user.email, user.username, url, options.emailVerificationTtl));
}

export async function selfServiceRoutes(app: FastifyInstance, options: SelfServiceOptions): Promise<void> {
  const { db, layout, pages, mailer, limiter, audit } = options;
  const brand = { name: layout.brand.name };
  const page = (reply: FastifyReply, status: number, body: string) => sendPage(reply, layout, status, body);
  const tooMany = (reply: FastifyReply, retryAfter: number) => {
    reply.header('retry-after', String(retryAfter));
    return page(reply, 429, pages.message('Too many requests', `Please wait ${Math.ceil(retryAfter / 60)} minute(s) and try again.`));
  };
  const invalidLink = (reply: FastifyReply) =>
    page(reply, 400, pages.message('This link does not work', 'It has expired or has been used already. You can ask for a new one.', { href: ACCOUNT_PATH, text: 'Go to your account' }));

  // ── Registration ──────────────────────────────────────────────────────────────────────────
  const registerPage = (request: FastifyRequest<Query & Form>, reply: FastifyReply, status: number, values: { username?: string; email?: string }, errors: Record<string, string | undefined>) => {
    const uid = queryField(request.query, 'interaction') || undefined;
    return page(
      reply,
      status,
      pages.register({
        action: withInteraction(SELF_SERVICE_PATHS.register, uid),
        values,
        errors,
        signInUrl: uid ? interactionReturn(uid) : ACCOUNT_PATH,
      }),
    );
  };

  app.get<Query & Form>(SELF_SERVICE_PATHS.register, async (request, reply) => {
    if (!options.registration) return page(reply, 404, pages.message('Registration is closed', 'Ask an administrator for an account.'));
    return registerPage(request, reply, 200, {}, {});
  });

  app.post<Query & Form>(SELF_SERVICE_PATHS.register, async (request, reply) => {
    if (!options.registration) return page(reply, 404, pages.message('Registration is closed', 'Ask an administrator for an account.'));
    const username = formField(request.body, 'username').trim();
    const email = formField(request.body, 'email').trim();
    const password = formField(request.body, 'password');
    const errors = {
      username: problem(() => validate.username(username), BAD_USERNAME),
      email: problem(() => validate.email(email), BAD_EMAIL),
      password: passwordProblem(password) ? `The password ${passwordProblem(password)}.` : undefined,
    };
    if (Object.values(errors).some(Boolean)) return registerPage(request, reply, 400, { username, email }, errors);

    const limit = await limiter.take([{ key: `register:ip:${addressKey(request.ip)}`, max: LIMITS.registrationsPerIp }], HOUR);
    if (limit.limited) return tooMany(reply, limit.retryAfter);

    // A username is public (it is how people sign in), so a taken one is said; an email is not.
    if (await findUser(db, username)) {
      return registerPage(request, reply, 400, { username, email }, { username: 'This username is taken. Choose another one.' });
    }
    const returnTo = interactionReturn(queryField(request.query, 'interaction'));
    const existing = await findUserByEmail(db, email);
    if (existing) {
      // Same page as a new account, and the same argon2id work, so neither the answer nor its
      // timing says the address has an account; the owner gets a mail saying what happened.
      await hashPassword(password);
      mailer.send(alreadyRegisteredMail(brand, existing.email, existing.username, `${options.publicUrl}${SELF_SERVICE_PATHS.forgotPassword}`));
      await audit({ type: 'account.register', outcome: 'failure', actor: { kind: 'anonymous' }, target: { kind: 'user', id: existing.id }, ip: request.ip, details: { result: 'email_in_use' } });
    } else {
      let user;
      try {
        user = await createUser(db, await withPasswordHash({ username, email, password, roles: options.registrationRoles, selfRegistered: true }));
      } catch (error) {
        // Lost a race for the username (the email race lands here too, and is told nothing).
        if (error instanceof GatehouseError && error.code === 'conflict') {
          return registerPage(request, reply, 400, { username, email }, { username: 'This username is taken. Choose another one.' });
        }
        throw error;
      }
      await sendVerification(options, { id: user.id, username: user.username, email }, returnTo);
      await audit({ type: 'account.register', outcome: 'success', actor: { kind: 'user', id: user.id }, target: { kind: 'user', id: user.id }, ip: request.ip, details: { username } });
    }
    return page(reply, 200, pages.message('Check your email', `We sent a link to ${email}. Open it to finish creating your account.`));
  });

  // ── Email verification: GET shows a button, POST uses the link ──────────────────────────────
  app.get<Query>(SELF_SERVICE_PATHS.verifyEmail, async (request, reply) => {
    const token = queryField(request.query, 'token');
    if (!(await peekAccountToken(db, 'verify_email', token))) return invalidLink(reply);
    return page(reply, 200, pages.verifyEmail({ action: SELF_SERVICE_PATHS.verifyEmail, token }));
  });

  app.post<Form>(SELF_SERVICE_PATHS.verifyEmail, async (request, reply) => {
    const outcome = await atomically(db, async () => {
      const link = await consumeAccountToken(db, 'verify_email', formField(request.body, 'token'));
      if (!link) return undefined;
      return { link, verified: await markEmailVerified(db, link.userId, link.email) };
    });
    if (!outcome) return invalidLink(reply);
    if (!outcome.verified) {
      return page(reply, 400, pages.message('This link does not work', 'The account\'s email address has changed since this link was sent.'));
    }
    await audit({ type: 'account.email_verified', actor: { kind: 'user', id: outcome.link.userId }, target: { kind: 'user', id: outcome.link.userId }, ip: request.ip });
    return page(reply, 200, pages.message('Email address verified', 'Thank you. You can now sign in.', { href: outcome.link.returnTo ?? ACCOUNT_PATH, text: 'Continue to sign in' }));
  });

  // ── Forgotten password: always the same answer ─────────────────────────────────────────────
  const forgotPage = (request: FastifyRequest<Query & Form>, reply: FastifyReply, status: number, email: string, errors: Record<string, string | undefined>) => {
    const uid = queryField(request.query, 'interaction') || undefined;
    return page(reply, status, pages.forgotPassword({ action: withInteraction(SELF_SERVICE_PATHS.forgotPassword, uid), email, errors, signInUrl: uid ? interactionReturn(uid) : ACCOUNT_PATH }));
  };

  app.get<Query & Form>(SELF_SERVICE_PATHS.forgotPassword, async (request, reply) => forgotPage(request, reply, 200, '', {}));

  app.post<Query & Form>(SELF_SERVICE_PATHS.forgotPassword, async (request, reply) => {
    const email = formField(request.body, 'email').trim();
    const error = problem(() => validate.email(email), BAD_EMAIL);
    if (error) return forgotPage(request, reply, 400, email, { email: error });
    const limit = await limiter.take(
      [
        { key: `reset:ip:${addressKey(request.ip)}`, max: LIMITS.resetMailsPerIp },
        { key: `reset:email:${email.toLowerCase()}`, max: LIMITS.resetMailsPerEmail },
      ],
      HOUR,
    );
    if (limit.limited) return tooMany(reply, limit.retryAfter);

    const user = await findUserByEmail(db, email);
    if (user && !user.disabled) {
      const returnTo = interactionReturn(queryField(request.query, 'interaction'));
      const token = await issueAccountToken(db, { purpose: 'reset_password', userId: user.id, email: user.email, returnTo, ttlSeconds: options.passwordResetTtl });
      mailer.send(passwordResetMail(brand, user.email, user.username, `${options.publicUrl}${SELF_SERVICE_PATHS.resetPassword}?token=${token}`, options.passwordResetTtl));
    }
    await audit({ type: 'account.password_reset_requested', actor: { kind: 'anonymous' }, ...(user ? { target: { kind: 'user', id: user.id } } : {}), ip: request.ip, details: { known: user !== undefined } });
    return page(reply, 200, pages.message('Check your email', `If an account uses ${email}, we sent it a link to choose a new password. It may take a minute to arrive.`));
  });

  // ── Reset: GET shows the form, POST uses the link ───────────────────────────────────────────
  const resetForm = async (reply: FastifyReply, status: number, token: string, errors: Record<string, string | undefined>) => {
    const link = await peekAccountToken(db, 'reset_password', token);
    const user = link && (await findUser(db, link.userId));
    if (!link || !user || !sameAddress(user.email, link.email)) return invalidLink(reply);
    return page(reply, status, pages.resetPassword({ action: SELF_SERVICE_PATHS.resetPassword, token, username: user.username, errors }));
  };

  app.get<Query>(SELF_SERVICE_PATHS.resetPassword, async (request, reply) => resetForm(reply, 200, queryField(request.query, 'token'), {}));

  app.post<Form>(SELF_SERVICE_PATHS.resetPassword, async (request, reply) => {
    const token = formField(request.body, 'token');
    const password = formField(request.body, 'password');
    const confirm = formField(request.body, 'confirm');
    const weak = passwordProblem(password);
    const errors = {
      password: weak ? `The password ${weak}.` : undefined,
      confirm: !weak && password !== confirm ? 'The two passwords are not the same.' : undefined,
    };
    if (errors.password || errors.confirm) return resetForm(reply, 400, token, errors);

    // Hash before the transaction (argon2id must not hold the write lock), then all or nothing:
    // the link is used, the password set, every other reset link and every session ended.
    const hash = await hashPassword(password);
    let notice: { send(): Promise<void> } | undefined;
    const link = await atomically(db, async () => {
      const used = await consumeAccountToken(db, 'reset_password', token);
      if (!used) return undefined;
      // The link is bound to the address it was sent to: if the account's email changed since,
      // whoever reads the old mailbox no longer speaks for the account (the link is used up).
      if (!sameAddress((await findUser(db, used.userId))?.email, used.email)) return undefined;
      await updatePasswordHash(db, used.userId, hash, 'change');
      await invalidateAccountTokens(db, used.userId, 'reset_password');
      // Opening the link proved the mailbox is theirs.
      await markEmailVerified(db, used.userId, used.email);
      notice = await options.sessionsEnding?.(used.userId);
      await revokeUserSessions(db, used.userId);
      return used;
    });
    if (!link) return invalidLink(reply);
    // Committed: the applications of the ended sessions are told (never fails the reset).
    await notice?.send();
    const user = await findUser(db, link.userId);
    if (user) {
      await options.throttle.clearPasswordFailures(user.username);
      mailer.send(passwordChangedMail(brand, link.email, user.username));
    }
    await audit({ type: 'account.password_reset', actor: { kind: 'user', id: link.userId }, target: { kind: 'user', id: link.userId }, ip: request.ip });
    return page(reply, 200, pages.message('Password changed', 'Your new password is set, and you were signed out everywhere.', { href: link.returnTo ?? ACCOUNT_PATH, text: 'Continue to sign in' }));
  });
}
