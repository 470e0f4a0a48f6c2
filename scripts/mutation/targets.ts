// Which test files run against a mutant of which source file: the tests that exercise that code
// most directly, fastest first (a mutant is killed by the first file that fails). A source file
// with no entry is reported, not mutated.

const SDK = 'packages/sdk/test';
const SERVER = 'packages/server/test';

export const TARGETS: Readonly<Record<string, readonly string[]>> = {
  // The SDK's core (packages/sdk/src/*.ts): most of it is reached through createAuthenticator.
  'packages/sdk/src/algorithms.ts': [`${SDK}/verify-jwt.test.ts`, `${SDK}/jwks.test.ts`],
  'packages/sdk/src/authenticator.ts': [`${SDK}/authorization.test.ts`, 'e2e/revocation-signals.test.ts', `${SDK}/options.test.ts`, `${SDK}/malformed.test.ts`, `${SDK}/check-jwts.test.ts`, `${SDK}/introspection.test.ts`],
  'packages/sdk/src/credentials.ts': [`${SDK}/credentials.test.ts`, `${SDK}/malformed.test.ts`],
  'packages/sdk/src/cross-origin.ts': [`${SDK}/credentials.test.ts`, `${SDK}/webapp-flow.test.ts`, `${SDK}/options.test.ts`, `${SDK}/webapp-options.test.ts`],
  'packages/sdk/src/discovery.ts': [`${SDK}/jwks.test.ts`, `${SDK}/options.test.ts`],
  'packages/sdk/src/errors.ts': [`${SDK}/errors.test.ts`, `${SDK}/authorization.test.ts`, `${SDK}/malformed.test.ts`],
  'packages/sdk/src/failure-throttle.ts': [`${SDK}/failure-limit.test.ts`],
  'packages/sdk/src/introspect.ts': [`${SDK}/introspection.test.ts`, `${SDK}/check-jwts.test.ts`],
  'packages/sdk/src/jwks.ts': [`${SDK}/jwks.test.ts`, `${SDK}/verify-jwt.test.ts`],
  'packages/sdk/src/lru.ts': [`${SDK}/cache.test.ts`],
  'packages/sdk/src/openapi.ts': [`${SDK}/openapi.test.ts`, `${SDK}/fastify.test.ts`, 'examples/items-api/test/items-api.test.ts'],
  'packages/sdk/src/options.ts': [`${SDK}/options.test.ts`],
  'packages/sdk/src/principal.ts': [`${SDK}/authorization.test.ts`, `${SDK}/check-jwts.test.ts`],
  'packages/sdk/src/protected-resource.ts': [`${SDK}/protected-resource.test.ts`],
  'packages/sdk/src/requirement.ts': [`${SDK}/authorization.test.ts`],
  'packages/sdk/src/revocations.ts': [`${SDK}/signals.test.ts`, 'e2e/revocation-signals.test.ts'],
  'packages/sdk/src/scopes.ts': [`${SDK}/authorization.test.ts`],
  'packages/sdk/src/signals.ts': [`${SDK}/signals.test.ts`, 'e2e/signals-delivery.test.ts', 'e2e/revocation-signals.test.ts'],
  'packages/sdk/src/upstream.ts': [`${SDK}/introspection.test.ts`, `${SDK}/jwks.test.ts`],
  'packages/sdk/src/verify-jwt.ts': [`${SDK}/verify-jwt.test.ts`, `${SDK}/authorization.test.ts`, `${SDK}/check-jwts.test.ts`],

  // The command line's dispatcher (packages/server/src/cli/main.ts): groups, usage, exit codes.
  'packages/server/src/cli/main.ts': [`${SERVER}/cli.test.ts`],

  // The server's protocol engine (packages/server/src/engine/).
  'packages/server/src/engine/account-client.ts': [`${SERVER}/self-service.test.ts`],
  'packages/server/src/engine/accounts.ts': [`${SERVER}/refresh-round-trips.test.ts`, `${SERVER}/engine-parts.test.ts`, `${SERVER}/login.test.ts`, `${SERVER}/stale-session.test.ts`],
  'packages/server/src/engine/admin-docs-client.ts': [`${SERVER}/attack-built-in-clients.test.ts`, `${SERVER}/client-registration.test.ts`],
  'packages/server/src/engine/authorization-code.ts': [`${SERVER}/authorization-code.test.ts`, `${SERVER}/replay.test.ts`],
  'packages/server/src/engine/backchannel-logout.ts': [`${SERVER}/backchannel-logout.test.ts`],
  'packages/server/src/engine/client-credentials.ts': [`${SERVER}/resource-grants.test.ts`],
  'packages/server/src/engine/client-metadata.ts': [`${SERVER}/client-auth.test.ts`, `${SERVER}/resource-grants.test.ts`],
  'packages/server/src/engine/configuration.ts': [`${SERVER}/provider-configuration.test.ts`, `${SERVER}/forms-and-cookies.test.ts`, `${SERVER}/client-auth.test.ts`, `${SERVER}/backchannel-logout.test.ts`, `${SERVER}/authorization-code.test.ts`],
  'packages/server/src/engine/console-client.ts': [`${SERVER}/engine-parts.test.ts`, `${SERVER}/attack-built-in-clients.test.ts`, `${SERVER}/client-registration.test.ts`],
  'packages/server/src/engine/dynamic-registration.ts': [`${SERVER}/dynamic-registration.test.ts`, `${SERVER}/attack-dynamic-clients.test.ts`],
  'packages/server/src/engine/grants.ts': [`${SERVER}/resource-grants.test.ts`, `${SERVER}/authorization-code.test.ts`, `${SERVER}/login.test.ts`, `${SERVER}/refresh-token.test.ts`],
  'packages/server/src/engine/interaction-policy.ts': [`${SERVER}/stale-session.test.ts`, `${SERVER}/login.test.ts`],
  'packages/server/src/engine/interactions.ts': [`${SERVER}/login.test.ts`, `${SERVER}/stale-session.test.ts`, `${SERVER}/self-service.test.ts`, `${SERVER}/authorization-code.test.ts`],
  'packages/server/src/engine/key-maintenance.ts': [`${SERVER}/engine-parts.test.ts`, `${SERVER}/keys.test.ts`, 'e2e/key-rotation.test.ts'],
  'packages/server/src/engine/keys.ts': [`${SERVER}/keys.test.ts`, `${SERVER}/jwt-revocation.test.ts`],
  'packages/server/src/engine/metadata-documents.ts': [`${SERVER}/metadata-documents.test.ts`, `${SERVER}/attack-metadata-documents.test.ts`, `${SERVER}/backchannel-logout.test.ts`],
  'packages/server/src/engine/mount.ts': [`${SERVER}/client-auth.test.ts`, `${SERVER}/proxy.test.ts`, `${SERVER}/http-limits.test.ts`],
  'packages/server/src/engine/oidc-adapter.ts': [`${SERVER}/refresh-token.test.ts`, `${SERVER}/authorization-code.test.ts`, `${SERVER}/storage.test.ts`, `${SERVER}/refresh-round-trips.test.ts`],
  'packages/server/src/engine/password-grant.ts': [`${SERVER}/resource-grants.test.ts`, `${SERVER}/login-throttle.test.ts`, `${SERVER}/self-service.test.ts`, `${SERVER}/login.test.ts`],
  'packages/server/src/engine/protocol-answers.ts': [`${SERVER}/client-auth.test.ts`, `${SERVER}/refresh-token.test.ts`],
  'packages/server/src/engine/provider-pages.ts': [`${SERVER}/login.test.ts`, `${SERVER}/attack-logout.test.ts`, `${SERVER}/backchannel-logout.test.ts`, `${SERVER}/proxy.test.ts`, 'e2e/oidc-relying-party.test.ts', `${SERVER}/forms-and-cookies.test.ts`],
  'packages/server/src/engine/provider.ts': [`${SERVER}/dynamic-registration.test.ts`, `${SERVER}/admin-api.test.ts`, `${SERVER}/client-auth.test.ts`, `${SERVER}/ssf-streams.test.ts`, `${SERVER}/storage-faults.test.ts`, `${SERVER}/keys.test.ts`, `${SERVER}/replay.test.ts`, `${SERVER}/attack-dynamic-clients.test.ts`, `${SERVER}/attack-built-in-clients.test.ts`, `${SERVER}/proxy.test.ts`, `${SERVER}/backchannel-logout.test.ts`],
  'packages/server/src/engine/public-client-basic.ts': [`${SERVER}/client-auth.test.ts`, `${SERVER}/metadata-documents.test.ts`],
  'packages/server/src/engine/public-url.ts': [`${SERVER}/proxy.test.ts`, `${SERVER}/forms-and-cookies.test.ts`],
  'packages/server/src/engine/refresh-read-ahead.ts': [`${SERVER}/refresh-round-trips.test.ts`, `${SERVER}/refresh-token.test.ts`],
  'packages/server/src/engine/refresh-rotation.ts': [`${SERVER}/refresh-token.test.ts`, `${SERVER}/replay.test.ts`, `${SERVER}/refresh-round-trips.test.ts`],
  'packages/server/src/engine/resources.ts': [`${SERVER}/resource-grants.test.ts`, `${SERVER}/dynamic-registration.test.ts`, `${SERVER}/attack-dynamic-clients.test.ts`, `${SERVER}/authorization-code.test.ts`],
  'packages/server/src/engine/scope-policy.ts': [`${SERVER}/resource-grants.test.ts`],
  'packages/server/src/engine/security-events.ts': [`${SERVER}/replay.test.ts`],
  'packages/server/src/engine/token-errors.ts': [`${SERVER}/client-auth.test.ts`, `${SERVER}/resource-grants.test.ts`],
  'packages/server/src/engine/token-extensions.ts': [`${SERVER}/resource-grants.test.ts`, `${SERVER}/metadata-documents.test.ts`, `${SERVER}/storage-faults.test.ts`, `${SERVER}/dynamic-registration.test.ts`, `${SERVER}/client-registration.test.ts`, `${SERVER}/api-key-lookup.test.ts`, `${SERVER}/client-auth.test.ts`, `${SERVER}/attack-built-in-clients.test.ts`, `${SERVER}/jwt-revocation.test.ts`, `${SERVER}/api-keys.test.ts`],
  'packages/server/src/engine/unavailable.ts': [`${SERVER}/storage-faults.test.ts`, `${SERVER}/jwt-revocation.test.ts`],
};
