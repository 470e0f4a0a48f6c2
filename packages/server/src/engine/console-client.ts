// The admin console (/admin) signs in like any browser application: authorization code + PKCE as
// this built-in public client, then calls only the admin API with the token it gets. It is
// first-party (no consent page: it is the server's own application) and granted the admin API
// alone (docs/adr/0008-client-api-grants.md) with every admin scope as the most it may ask for;
// what a token carries is still limited by the user's roles (docs/adr/0004-scopes-and-roles.md),
// so an operator whose roles grant read scopes only gets a read-only token.
import type { ClientMetadata } from 'oidc-provider';

export const CONSOLE_CLIENT_ID = 'gatehouse-console';
export const CONSOLE_PATH = '/admin';
export const CONSOLE_CALLBACK_PATH = '/admin/callback';

export interface ConsoleClientOptions {
  readonly publicUrl: string;
  readonly brandName: string;
  /** The admin API's identifier (`${publicUrl}/admin/api`) and its scopes, as stored. */
  readonly adminApi: string;
  readonly adminScopes: readonly string[];
}

export function consoleClientMetadata(options: ConsoleClientOptions): ClientMetadata {
  return adminClientMetadata(options, {
    clientId: CONSOLE_CLIENT_ID,
    name: `${options.brandName} admin console`,
    redirectUri: `${options.publicUrl}${CONSOLE_CALLBACK_PATH}`,
    postLogoutRedirectUri: `${options.publicUrl}${CONSOLE_PATH}`,
  });
}

/**
 * A built-in browser client of the admin API (the console, the admin docs): public, first-party,
 * authorization code only (no refresh token: the token lives in the page), granted the admin API
 * alone with every admin scope as the most it may ask for, on this server's own origin.
 */
export function adminClientMetadata(
  { publicUrl, adminApi, adminScopes }: ConsoleClientOptions,
  client: { readonly clientId: string; readonly name: string; readonly redirectUri: string; readonly postLogoutRedirectUri?: string },
): ClientMetadata {
  return {
    client_id: client.clientId,
    client_name: client.name,
    token_endpoint_auth_method: 'none',
    application_type: 'web',
    redirect_uris: [client.redirectUri],
    ...(client.postLogoutRedirectUri === undefined ? {} : { post_logout_redirect_uris: [client.postLogoutRedirectUri] }),
    grant_types: ['authorization_code'],
    response_types: ['code'],
    scope: 'openid',
    id_token_signed_response_alg: 'ES256',
    api_scopes: [...adminScopes],
    apis: [adminApi],
    // The browser sends the page's Origin with its token request: this server's own.
    cors_origins: [new URL(publicUrl).origin],
    first_party: true,
  };
}
