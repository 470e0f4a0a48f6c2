// Checks a username and password: the single routine behind the login page and the password
// grant, so both are throttled and timed alike. Unknown users cost the same argon2id verify as
// known ones, and the outcome never says which part was wrong.
import type { Db } from '../storage/database.ts';
import { findLoginRecord, updatePasswordHash } from '../storage/users.ts';
import * as hashing from './hash.ts';
import type { LoginThrottle } from './throttle.ts';

export type PasswordLoginOutcome =
  | { readonly kind: 'ok'; readonly userId: string; readonly username: string }
  /** The password is right, and the account has two-factor authentication: a code must follow. */
  | { readonly kind: 'second_factor'; readonly userId: string; readonly username: string }
  /** The password is right, but the self-registered account's email is not verified yet. */
  | { readonly kind: 'unverified'; readonly userId: string; readonly email: string | null }
  | { readonly kind: 'invalid' }
  | { readonly kind: 'disabled' }
  | { readonly kind: 'throttled'; readonly retryAfter: number };

/** Where a password was checked: the login page, or the password grant (with the client). */
export type PasswordLoginChannel = { readonly kind: 'login_page' } | { readonly kind: 'password_grant'; readonly clientId: string };

export interface PasswordLoginEvent {
  readonly channel: PasswordLoginChannel;
  /**
   * The account's username, when one matched what was typed; never the typed text otherwise
   * (people paste passwords into the username field, and audit events keep no secret).
   */
  readonly username: string | undefined;
  readonly ip: string;
  readonly outcome: PasswordLoginOutcome['kind'];
  readonly userId: string | undefined;
}

export interface PasswordLogin {
  authenticate(username: string, password: string, ip: string, channel: PasswordLoginChannel): Promise<PasswordLoginOutcome>;
}

/** The hashing functions used; replaceable so a test can observe which ones run. */
export type PasswordFunctions = Pick<typeof hashing, 'hashPassword' | 'needsRehash' | 'verifyDummy' | 'verifyPassword'>;

export interface PasswordLoginDeps {
  readonly db: Db;
  readonly throttle: LoginThrottle;
  readonly passwords?: PasswordFunctions;
  readonly onRehashError?: (error: unknown) => void;
  /** Every check, whatever its outcome, for the audit log (never the password). */
  readonly onAuthentication?: (event: PasswordLoginEvent) => Promise<void>;
}

export function createPasswordLogin({ db, throttle, passwords = hashing, onRehashError, onAuthentication }: PasswordLoginDeps): PasswordLogin {
  const { hashPassword, needsRehash, verifyDummy, verifyPassword } = passwords;
  const check = async (username: string, password: string, ip: string): Promise<{ outcome: PasswordLoginOutcome; known?: string }> => {
    // The attempt is counted before the password is checked (atomically, so a parallel burst
    // gets no more checks than the limit), and released only once it turned out right.
    const attempt = await throttle.attempt('password', username, ip);
    if (attempt.limited) return { outcome: { kind: 'throttled', retryAfter: attempt.retryAfter } };

    let record: Awaited<ReturnType<typeof findLoginRecord>>;
    let ok: boolean;
    try {
      record = await findLoginRecord(db, username);
      ok = record?.passwordHash ? await verifyPassword(record.passwordHash, password) : await verifyDummy(password);
    } catch (error) {
      // No check was made: not a failure of the account's (storage is down, say).
      await attempt.release().catch(() => {});
      throw error;
    }
    if (!record || !ok) return { outcome: { kind: 'invalid' }, ...(record ? { known: record.username } : {}) };
    await attempt.succeeded();

    // Imported bcrypt hashes (and argon2id hashes with weaker parameters) become argon2id now,
    // while the plain password is at hand. A failure here must not fail the login.
    if (needsRehash(record.passwordHash!)) {
      try {
        await updatePasswordHash(db, record.id, await hashPassword(password), 'rehash');
      } catch (error) {
        onRehashError?.(error);
      }
    }
    const known = record.username;
    // Only someone who knows the password learns that the account is disabled.
    if (record.disabled) return { outcome: { kind: 'disabled' }, known };
    if (record.unverified) return { outcome: { kind: 'unverified', userId: record.id, email: record.email }, known };
    if (record.twoFactor) return { outcome: { kind: 'second_factor', userId: record.id, username: record.username }, known };
    return { outcome: { kind: 'ok', userId: record.id, username: record.username }, known };
  };
  return {
    async authenticate(username, password, ip, channel) {
      const { outcome, known } = await check(username, password, ip);
      await onAuthentication?.({
        channel,
        username: known,
        ip,
        outcome: outcome.kind,
        userId: 'userId' in outcome ? outcome.userId : undefined,
      });
      return outcome;
    },
  };
}
