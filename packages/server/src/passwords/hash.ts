// Password hashing: argon2id with OWASP's parameters for new hashes; imported bcrypt and
// weaker argon2id hashes still verify and are upgraded at the next successful login.
import { hash as argon2Hash, verify as argon2Verify, parseOptions, type Algorithm } from '@node-rs/argon2';
import bcrypt from 'bcryptjs';
import { COMMON_PASSWORD_COUNT, isCommonPassword } from './common.ts';

// OWASP Password Storage Cheat Sheet: argon2id, m=19 MiB, t=2, p=1.
const ARGON2ID = 2 as Algorithm; // @node-rs/argon2's `const enum Algorithm.Argon2id`
export const ARGON2_PARAMETERS = { algorithm: ARGON2ID, memoryCost: 19456, timeCost: 2, parallelism: 1 } as const;

/** Longest password we hash: argon2 takes any length, but an unbounded input is a cheap DoS. */
export const MAX_PASSWORD_LENGTH = 1024;
export const MIN_PASSWORD_LENGTH = 8;

export type HashKind = 'argon2id' | 'bcrypt';

// PHC string format: $argon2id$v=19$m=…,t=…,p=…$<salt>$<hash> (the version is absent in old hashes).
const ARGON2ID_PHC = /^\$argon2id\$(?:v=\d+\$)?m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]{11,}\$[A-Za-z0-9+/]{16,}$/;

export function hashKind(hash: string): HashKind | undefined {
  // Anything else would be accepted on import and then fail every login with an error.
  if (ARGON2ID_PHC.test(hash)) return 'argon2id';
  if (/^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/.test(hash)) return 'bcrypt';
  return undefined;
}

export function hashPassword(password: string): Promise<string> {
  return argon2Hash(password, ARGON2_PARAMETERS);
}

export async function verifyPassword(hash: string, password: string): Promise<boolean> {
  if (password.length > MAX_PASSWORD_LENGTH) return false;
  switch (hashKind(hash)) {
    case 'argon2id':
      return argon2Verify(hash, password);
    case 'bcrypt':
      // bcrypt only reads the first 72 bytes; that is the imported hash's own limit.
      return bcrypt.compare(password, hash);
    default:
      return false;
  }
}

/** True when a hash should be replaced by a fresh argon2id hash at the next login. */
export function needsRehash(hash: string): boolean {
  if (hashKind(hash) !== 'argon2id') return true;
  try {
    const options = parseOptions(hash);
    return (
      options.memoryCost < ARGON2_PARAMETERS.memoryCost ||
      options.timeCost < ARGON2_PARAMETERS.timeCost
    );
  } catch {
    return true;
  }
}

let dummy: Promise<string> | undefined;

/**
 * Verifies against a fixed dummy hash, so an unknown user (or one without a password)
 * costs the same time as a wrong password for a real one.
 */
export async function verifyDummy(password: string): Promise<false> {
  dummy ??= hashPassword('gatehouse-timing-equalizer');
  // verifyPassword refuses an over-long password at once, without hashing: so must this, or a
  // long password would answer "unknown user" (slow) apart from "known user" (instant).
  if (password.length > MAX_PASSWORD_LENGTH) return false;
  await argon2Verify(await dummy, password);
  return false;
}

/**
 * Checks a new password against the policy, for every way one is set (registration, reset,
 * change, the CLI, the admin API): NIST SP 800-63B §3.1.1.2 and OWASP ASVS 5 §6.2 — a length
 * (counted in Unicode code points, so four emoji are four characters, not eight), and not one of
 * the common or breached passwords; no composition rules.
 */
export function passwordProblem(password: string): string | undefined {
  if ([...password].length < MIN_PASSWORD_LENGTH) return `must be at least ${MIN_PASSWORD_LENGTH} characters`;
  if (password.length > MAX_PASSWORD_LENGTH) return `must be at most ${MAX_PASSWORD_LENGTH} characters`;
  if (isCommonPassword(password)) {
    return `is one of the ${COMMON_PASSWORD_COUNT.toLocaleString('en')} most common passwords, which attackers try first: choose another`;
  }
  return undefined;
}
