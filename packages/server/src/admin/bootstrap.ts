// What the admin API needs to exist before it can check a single request, ensured at every start:
//
// - the admin API itself, an API in Gatehouse's own `apis` table (identifier
//   `${publicUrl}/admin/api`, its scopes with their descriptions), so clients, roles and API keys
//   are given admin access exactly as they are given access to any other API;
// - a confidential client it introspects API keys and JWTs with (RFC 7662 §2.1 wants the caller
//   authenticated). Its secret lives in `server_secrets` (purpose `admin-introspection`), like the
//   cookie and CSRF keys: every instance reads the same one, so starting a second instance never
//   breaks the first. If its hash in `clients` no longer matches (rotated by hand, say), the next
//   start puts it back;
// - the @gatehouse/sdk authenticator, whose discovery, JWKS and introspection requests reach this
//   very server through `app.inject` (inject-fetch.ts), never the network.
import type { FastifyInstance } from 'fastify';
import { createAuthenticator, type Authenticator } from '@gatehouse/sdk';
import type { Config } from '../config/schema.ts';
import { ensureApi, type Api } from '../storage/apis.ts';
import { ensureInternalClient } from '../storage/clients.ts';
import type { Db } from '../storage/database.ts';
import { ensureSecrets } from '../storage/keys.ts';
import { injectFetch } from './inject-fetch.ts';
import { ADMIN_INTROSPECTION_CLIENT_ID, ADMIN_SCOPES, adminApiIdentifier } from './scopes.ts';

/** Where API keys are read from: the same header every Gatehouse-protected API uses by default. */
export const API_KEY_HEADER = 'X-API-Key';
export const REALM = 'gatehouse-admin';

export interface AdminSetup {
  readonly api: Api;
  readonly authenticator: Authenticator;
}

/**
 * The admin API's row in `apis`, with every admin scope: made at every start, and by whoever needs
 * to grant it to a client before the server first ran (the demo's items API receives security events).
 */
export function ensureAdminApi(db: Db, publicUrl: string): Promise<Api> {
  return ensureApi(db, {
    identifier: adminApiIdentifier(publicUrl),
    name: 'Gatehouse admin API',
    scopes: Object.entries(ADMIN_SCOPES).map(([name, description]) => ({ name, description })),
  });
}

export async function setUpAdmin(app: FastifyInstance, db: Db, config: Config): Promise<AdminSetup> {
  const identifier = adminApiIdentifier(config.publicUrl);
  const api = await ensureAdminApi(db, config.publicUrl);
  const [secret] = await ensureSecrets(db, 'admin-introspection');
  await ensureInternalClient(db, {
    clientId: ADMIN_INTROSPECTION_CLIENT_ID,
    name: 'Gatehouse admin API (introspection)',
    secret: secret!,
    // It needs no grant at all, but every client has one; with no API scopes it can obtain nothing useful.
    grantTypes: ['client_credentials'],
  });
  const authenticator = createAuthenticator({
    issuer: config.publicUrl,
    audience: identifier,
    // Whatever an API is configured with: the admin API accepts both algorithms the server signs with.
    algorithms: ['ES256', 'RS256'],
    realm: REALM,
    // An http public URL is harmless here: every request to the issuer stays in this process.
    allowHttpIssuer: true,
    fetch: injectFetch(app, config.publicUrl),
    credentials: { bearer: true, apiKey: { header: API_KEY_HEADER } },
    introspection: {
      clientId: ADMIN_INTROSPECTION_CLIENT_ID,
      clientSecret: secret!,
      // JWTs are introspected too: one whose user was disabled, or whose client or grant was
      // revoked, since it was issued must not keep admin access until it expires.
      checkJwts: true,
      // And not for a moment longer either: every admin request asks (in process, through
      // app.inject), so a disabled admin, a revoked client or a revoked API key is refused at once.
      // The admin API is not on any hot path; this is one introspection per request.
      cacheTtl: 0,
      // A refusal may be reused for a moment: it grants nothing.
      negativeCacheTtl: Math.min(config.cacheTtl, 5),
      // Guessed API keys and tokens: the SDK's default failure limit per client address
      // (request.ip: behind a proxy, GATEHOUSE_TRUST_PROXY says which X-Forwarded-For entry is the client;
      // IPv6 addresses count per /64).
    },
    onError: (error) => app.log.warn({ err: error }, 'admin API: the authorization server could not be reached'),
  });
  return { api, authenticator };
}
