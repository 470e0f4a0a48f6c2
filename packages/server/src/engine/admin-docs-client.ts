// The admin API's Swagger UI (/admin/docs) signs in like the console: authorization code + PKCE as
// this built-in public client, first-party (no consent page), granted the admin API alone with
// every admin scope as the most it may ask for — the user's roles still decide what a token
// carries (docs/adr/0004-scopes-and-roles.md). No pasted token, no secret in the browser.
import type { ClientMetadata } from 'oidc-provider';

export const ADMIN_DOCS_CLIENT_ID = 'gatehouse-admin-docs';
/** Where @fastify/swagger-ui serves its OAuth redirect page under /admin/docs. */
export const ADMIN_DOCS_REDIRECT_PATH = '/admin/docs/static/oauth2-redirect.html';

export interface AdminDocsClientOptions {
  readonly publicUrl: string;
  readonly brandName: string;
  /** The admin API's identifier (`${publicUrl}/admin/api`) and its scopes, as stored. */
  readonly adminApi: string;
  readonly adminScopes: readonly string[];
}

export function adminDocsClientMetadata({ publicUrl, brandName, adminApi, adminScopes }: AdminDocsClientOptions): ClientMetadata {
  return {
    client_id: ADMIN_DOCS_CLIENT_ID,
    client_name: `${brandName} admin API docs`,
    token_endpoint_auth_method: 'none',
    application_type: 'web',
    redirect_uris: [`${publicUrl}${ADMIN_DOCS_REDIRECT_PATH}`],
    // The token lives in the page; when it expires, Authorize again (answered from the login session).
    grant_types: ['authorization_code'],
    response_types: ['code'],
    scope: 'openid',
    id_token_signed_response_alg: 'ES256',
    api_scopes: [...adminScopes],
    apis: [adminApi],
    // Swagger UI exchanges the code from the docs page: this server's own origin.
    cors_origins: [new URL(publicUrl).origin],
    first_party: true,
  };
}
