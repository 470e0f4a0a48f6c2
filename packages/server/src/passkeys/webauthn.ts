// The two passkey ceremonies (WebAuthn Level 3) on @simplewebauthn/server: enrolling a passkey
// (registration) and signing in with one (authentication). The relying party is the public URL:
// its hostname is the RP ID, its origin the only origin accepted (docs/adr/0015-passkeys.md).
// The challenge is made here and handed back by the caller, which keeps it between the two steps.
import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticationResponseJSON,
  type AuthenticatorTransport,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
} from '@simplewebauthn/server';
import type { Db } from '../storage/database.ts';
import { findPasskeyByCredentialId, recordPasskeyUse, type Passkey } from '../storage/passkeys.ts';

export type UserVerification = 'preferred' | 'required';

export interface RelyingParty {
  /** The RP ID: the public URL's hostname. Passkeys are bound to it by the authenticator. */
  readonly id: string;
  /** The one origin whose pages may use them: the public URL's. */
  readonly origin: string;
  /** What the authenticator shows beside the passkey: the brand name. */
  readonly name: string;
  readonly userVerification: UserVerification;
}

export function relyingPartyFor(publicUrl: string, name: string, userVerification: UserVerification): RelyingParty {
  const url = new URL(publicUrl);
  return { id: url.hostname, origin: url.origin, name, userVerification };
}

/**
 * The key algorithms accepted (COSE): EdDSA, ES256, RS256, what authenticators make. Named here,
 * not left to the library's default, which probes Node for ML-DSA through an experimental API
 * (a warning on standard error) to offer a post-quantum algorithm no authenticator uses yet.
 */
const ALGORITHMS = [-8, -7, -257];

/** How long the browser may take for a ceremony (the signed challenge lives as long). */
export const CEREMONY_SECONDS = 300;

/**
 * Options to create a passkey for this user: discoverable (resident key required), so it can
 * sign in without a username; none of the user's passkeys again (excludeCredentials); no
 * attestation (the server trusts the person enrolling, not a make of authenticator).
 */
export function registrationOptions(rp: RelyingParty, user: { id: string; username: string }, existing: readonly Passkey[]): Promise<PublicKeyCredentialCreationOptionsJSON> {
  return generateRegistrationOptions({
    rpName: rp.name,
    rpID: rp.id,
    userName: user.username,
    // The user handle: the user's id (a random UUID, nothing personal), checked again at sign-in.
    userID: new TextEncoder().encode(user.id),
    timeout: CEREMONY_SECONDS * 1000,
    attestationType: 'none',
    excludeCredentials: existing.map((p) => ({ id: p.credentialId, transports: p.transports as AuthenticatorTransport[] })),
    authenticatorSelection: { residentKey: 'required', userVerification: rp.userVerification },
    supportedAlgorithmIDs: ALGORITHMS,
  });
}

export interface NewCredential {
  readonly credentialId: string;
  readonly publicKey: string;
  readonly signCount: number;
  readonly transports: readonly string[];
}

/** The credential a registration response creates, once verified; undefined when it does not verify. */
export async function verifyRegistration(rp: RelyingParty, response: unknown, expectedChallenge: string): Promise<NewCredential | undefined> {
  try {
    const result = await verifyRegistrationResponse({
      response: response as RegistrationResponseJSON,
      expectedChallenge,
      expectedOrigin: rp.origin,
      expectedRPID: rp.id,
      requireUserVerification: rp.userVerification === 'required',
      supportedAlgorithmIDs: ALGORITHMS,
    });
    if (!result.verified) return undefined;
    const { credential } = result.registrationInfo;
    return {
      credentialId: credential.id,
      publicKey: Buffer.from(credential.publicKey).toString('base64url'),
      signCount: credential.counter,
      transports: credential.transports ?? [],
    };
  } catch {
    // A malformed response, another origin or RP ID, a wrong challenge: all the same refusal.
    return undefined;
  }
}

/** Options to sign in with any passkey of this RP: no allowCredentials, the authenticator offers its own. */
export function authenticationOptions(rp: RelyingParty): Promise<PublicKeyCredentialRequestOptionsJSON> {
  return generateAuthenticationOptions({ rpID: rp.id, timeout: CEREMONY_SECONDS * 1000, userVerification: rp.userVerification });
}

/**
 * What a passkey proves, as RFC 8176 names it: `hwk`, proof of possession of a hardware-secured
 * key, for a device-bound passkey (the authenticator's backup-eligible flag off: the private key
 * never leaves it); `swk`, a software-secured key, for a synced one (backup eligible: the key is
 * copied through a cloud keychain). docs/adr/0015-passkeys.md.
 */
export type PasskeyAmr = 'hwk' | 'swk';

export type PasskeySignIn =
  | { readonly kind: 'ok'; readonly passkey: Passkey; readonly userVerified: boolean; readonly keyAmr: PasskeyAmr }
  /** No stored passkey has the credential id the assertion names (never enrolled, or removed). */
  | { readonly kind: 'unknown_passkey' }
  /** The passkey is known, but the assertion does not verify (origin, RP ID, challenge, signature, counter, user). */
  | { readonly kind: 'invalid'; readonly passkey: Passkey }
  | { readonly kind: 'malformed' };

/**
 * Checks an assertion: the passkey it names, the user handle (the passkey's user), then origin,
 * RP ID hash, challenge, user presence (and verification when required), the signature under the
 * stored public key, and the counter where the authenticator keeps one (it must grow). A verified
 * use is recorded against the counter it was checked with, so the same assertion passes once.
 */
export async function verifyPasskeySignIn(db: Db, rp: RelyingParty, response: unknown, expectedChallenge: string): Promise<PasskeySignIn> {
  const assertion = response as Partial<AuthenticationResponseJSON> | null;
  if (typeof assertion?.id !== 'string' || typeof assertion.response !== 'object' || assertion.response === null) return { kind: 'malformed' };
  const passkey = await findPasskeyByCredentialId(db, assertion.id);
  if (!passkey) return { kind: 'unknown_passkey' };
  const userHandle = assertion.response.userHandle;
  if (userHandle !== undefined && Buffer.from(String(userHandle), 'base64url').toString('utf8') !== passkey.userId) return { kind: 'invalid', passkey };
  let newCounter: number;
  let userVerified: boolean;
  let keyAmr: PasskeyAmr;
  try {
    const result = await verifyAuthenticationResponse({
      response: assertion as AuthenticationResponseJSON,
      expectedChallenge,
      expectedOrigin: rp.origin,
      expectedRPID: rp.id,
      credential: {
        id: passkey.credentialId,
        publicKey: Buffer.from(passkey.publicKey, 'base64url'),
        counter: passkey.signCount,
        transports: passkey.transports as AuthenticatorTransport[],
      },
      requireUserVerification: rp.userVerification === 'required',
    });
    if (!result.verified) return { kind: 'invalid', passkey };
    ({ newCounter, userVerified } = result.authenticationInfo);
    keyAmr = result.authenticationInfo.credentialDeviceType === 'singleDevice' ? 'hwk' : 'swk';
  } catch {
    return { kind: 'invalid', passkey };
  }
  if (!(await recordPasskeyUse(db, passkey.id, passkey.signCount, newCounter))) return { kind: 'invalid', passkey };
  return { kind: 'ok', passkey, userVerified, keyAmr };
}
