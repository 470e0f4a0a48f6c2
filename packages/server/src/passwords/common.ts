// Common and breached passwords, refused for every new password (OWASP ASVS 5 §6.2.4, NIST SP
// 800-63B §3.1.1.2: "passwords obtained from previous breach corpuses", "commonly-used").
//
// The list is @zxcvbn-ts/language-common's `passwords-common`: the 49,233 most frequent passwords
// of public breach corpora, ranked by frequency (zxcvbn's list, kept up to date by the zxcvbn-ts
// project, MIT, about 2 million downloads a month). It ships with the package: the check is
// offline, and makes no request that could leak what a user typed. Of it, the ~18,000 entries of 8
// characters or more are the ones the length rule lets through; ASVS asks for at least the top
// 3,000 that match the policy. The whole list is kept (normalised) in a Set: about 3 MB, loaded
// at the first check.
//
// Normalisation: Unicode NFKC and lower case, so `Password1`, `PASSWORD1` and `Ｐａｓｓｗｏｒｄ１`
// are all `password1`; and surrounding spaces do not disguise one.
import { dictionary } from '@zxcvbn-ts/language-common';

let common: Set<string> | undefined;

function normalize(password: string): string {
  return password.normalize('NFKC').toLowerCase().trim();
}

export const COMMON_PASSWORD_COUNT = dictionary['passwords-common'].length;

/** True when the password (whatever its case) is one of the most common ones. */
export function isCommonPassword(password: string): boolean {
  common ??= new Set(dictionary['passwords-common'].map(normalize));
  return common.has(normalize(password));
}
