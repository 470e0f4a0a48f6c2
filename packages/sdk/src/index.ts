/**
 * @gatehouse/sdk — check every request to your API: bearer tokens, cookies, API keys, scopes,
 * RFC 6750 errors, OpenAPI security. Framework-free core (Web APIs + jose); adapters live in
 * the `./fastify`, `./express` and `./hono` subpaths, test helpers in `./testing`.
 */
export { createAuthenticator } from './authenticator.ts';
export type { Authenticator, AuthenticatorDescription, AuthOutcome } from './authenticator.ts';
export type { AuthenticatorOptions, CredentialOptions, FailureLimitOptions, IntrospectionOptions, SignalsOptions } from './options.ts';
export type { SignalsStatus, ReceiveOutcome } from './signals.ts';
export { DEFAULTS } from './options.ts';

export type { AuthRequest, SourceName } from './credentials.ts';
export type { AuthRequirement } from './requirement.ts';
export { ResolvedRequirement } from './requirement.ts';

export type { Principal, PrincipalKind, Claims } from './principal.ts';
export { principalKind } from './principal.ts';

export { AuthError, AUTH_ERRORS, toErrorResponse } from './errors.ts';
export type { AuthErrorCode, ChallengeScheme, ErrorResponse, ChallengeOptions } from './errors.ts';

export { metadataLocation, metadataResponse } from './protected-resource.ts';
export type { ProtectedResourceMetadata, ProtectedResourceOptions, ResolvedProtectedResource } from './protected-resource.ts';

export type { IssuerMetadata } from './discovery.ts';
export type { JsonWebKeySet } from './jwks.ts';
export type { JwsAlgorithm } from './algorithms.ts';
export { SUPPORTED_ALGORITHMS } from './algorithms.ts';
export type { FetchLike } from './upstream.ts';

export {
  SECURITY_SCHEMES,
  AUTH_ERROR_SCHEMA_ID,
  authErrorExample,
  authErrorSchema,
  errorResponses,
  oauthFlows,
  oauthSchemeNames,
  securitySchemes,
  securityRequirements,
  withAuthErrorExamples,
  withFlowSchemes,
} from './openapi.ts';
export type { ErrorResponseDoc, OAuthDocsOptions, OAuthFlowName, SecurityScheme, SecurityRequirementObject } from './openapi.ts';
