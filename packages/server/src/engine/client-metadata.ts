// Gatehouse clients as oidc-provider client metadata. The `client_secret` handed to the engine
// is the stored SHA-256 hash; `compareClientSecret` is replaced (provider.ts) to hash what the
// client sends before a constant-time comparison. HS* algorithms are disabled, so the engine
// never uses the secret as a key.
import type { ClientMetadata } from 'oidc-provider';
import type { StoredClient } from '../storage/clients.ts';

export function toClientMetadata(client: StoredClient): ClientMetadata {
  const grants = [...client.grantTypes];
  const oidcScopes = ['openid', 'profile', 'email', ...(grants.includes('refresh_token') ? ['offline_access'] : [])];
  return {
    client_id: client.clientId,
    client_name: client.name,
    ...(client.secretHash ? { client_secret: client.secretHash } : {}),
    token_endpoint_auth_method: client.tokenEndpointAuthMethod,
    redirect_uris: [...client.redirectUris],
    post_logout_redirect_uris: [...client.postLogoutRedirectUris],
    grant_types: grants,
    response_types: grants.includes('authorization_code') ? ['code'] : [],
    // oidc-provider enforces `scope` (OpenID scopes only); Gatehouse enforces `api_scopes`, and
    // `apis`: the only resource indicators this client gets tokens for (resources.ts).
    scope: oidcScopes.join(' '),
    api_scopes: [...client.scopes],
    apis: [...client.apis],
    application_type: client.applicationType,
    id_token_signed_response_alg: 'ES256',
    cors_origins: [...client.corsOrigins],
    first_party: client.firstParty,
    registered_dynamically: client.registeredDynamically,
    // oidc-provider POSTs the logout token (features.backchannelLogout); with session_required
    // it also puts `sid` in this client's ID tokens, which the relying party keeps to match it.
    ...(client.backchannelLogoutUri === null
      ? {}
      : { backchannel_logout_uri: client.backchannelLogoutUri, backchannel_logout_session_required: client.backchannelLogoutSessionRequired }),
  };
}
