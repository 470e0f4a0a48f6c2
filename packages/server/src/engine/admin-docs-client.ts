// The admin API's Swagger UI (/admin/docs) signs in like the console: authorization code + PKCE as
// this built-in public client, first-party (no consent page), granted the admin API alone with
// every admin scope as the most it may ask for — the user's roles still decide what a token
// carries (docs/adr/0004-scopes-and-roles.md). No pasted token, no secret in the browser.
import type { ClientMetadata } from 'oidc-provider';
import { adminClientMetadata, type ConsoleClientOptions } from './console-client.ts';

export const ADMIN_DOCS_CLIENT_ID = 'gatehouse-admin-docs';
/** Where @fastify/swagger-ui serves its OAuth redirect page under /admin/docs. */
export const ADMIN_DOCS_REDIRECT_PATH = '/admin/docs/static/oauth2-redirect.html';

export function adminDocsClientMetadata(options: ConsoleClientOptions): ClientMetadata {
  return adminClientMetadata(options, {
    clientId: ADMIN_DOCS_CLIENT_ID,
    name: `${options.brandName} admin API docs`,
    redirectUri: `${options.publicUrl}${ADMIN_DOCS_REDIRECT_PATH}`,
  });
}
