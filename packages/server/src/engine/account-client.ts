// The server's own account pages (/account) are an application like any other: a visitor without
// a login session is sent to /authorize as this built-in client, signs in on the usual page (with
// its throttling and two-factor step), and comes back with oidc-provider's session cookie, which
// the account pages then read. `response_type=none` (OAuth 2.0 Multiple Response Types §5): no
// code and no token are issued, there is nothing to steal on the way back.
import type { ClientMetadata } from 'oidc-provider';

export const ACCOUNT_CLIENT_ID = 'gatehouse-account';
export const ACCOUNT_PATH = '/account';
export const ACCOUNT_CALLBACK_PATH = '/account/signed-in';

export function accountClientMetadata(publicUrl: string, brandName: string): ClientMetadata {
  return {
    client_id: ACCOUNT_CLIENT_ID,
    client_name: `${brandName} account`,
    token_endpoint_auth_method: 'none',
    redirect_uris: [`${publicUrl}${ACCOUNT_CALLBACK_PATH}`],
    post_logout_redirect_uris: [`${publicUrl}${ACCOUNT_PATH}`],
    grant_types: [],
    response_types: ['none'],
    scope: 'openid',
    api_scopes: [],
    apis: [],
    cors_origins: [],
    first_party: true,
  };
}
