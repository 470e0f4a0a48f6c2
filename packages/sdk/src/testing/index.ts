/**
 * @gatehouse/sdk/testing — a local issuer and assertions for your API's tests. Never use in
 * production: the issuer keeps keys in memory and trusts whatever it is asked to mint.
 */
export { createTestIssuer } from './issuer.ts';
export type { BadTokenKind, CredentialOptions, MintOptions, TestEndpoint, TestFault, TestIssuer, TestIssuerOptions } from './issuer.ts';
export { signJws, encodeSegment } from './sign.ts';
export {
  assertInsufficientScope,
  assertInvalidRequest,
  assertInvalidToken,
  assertMissingCredentials,
  assertUnavailable,
  headerOf,
  parseChallenges,
  snapshot,
} from './assertions.ts';
export type { Challenge, ChallengeExpectation, ResponseLike, ResponseSnapshot } from './assertions.ts';
