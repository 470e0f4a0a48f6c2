// oidc-provider's configuration from Gatehouse's settings: which flows, algorithms, cookies,
// lifetimes and policies the protocol follows. Pure: what needs storage (the adapter, accounts,
// grants, APIs, token records) comes in as functions, so the policies here are tested alone.
import type { Adapter, Configuration, FindAccount, KoaContextWithOIDC } from 'oidc-provider';
import type { JWK } from 'jose';
import type { Config } from '../config/schema.ts';
import type { RateLimiter } from '../passwords/throttle.ts';
import { createInteractionPolicy } from './interaction-policy.ts';
import { mayIntrospect } from './token-extensions.ts';
import {
  constrainMetadataDocumentClient,
  METADATA_DOCUMENT_LIMIT_NAME,
  METADATA_DOCUMENT_MAX_BYTES,
  metadataDocumentFeature,
  outboundFetch,
} from './metadata-documents.ts';

/** The scopes of OpenID Connect itself: what the userinfo endpoint answers for. */
export const OPENID_SCOPES = ['openid', 'offline_access', 'profile', 'email'] as const;

/** Where each protocol endpoint lives, relative to the issuer. */
export const ROUTES = {
  authorization: '/authorize',
  token: '/token',
  userinfo: '/userinfo',
  jwks: '/jwks',
  introspection: '/introspect',
  revocation: '/revoke',
  end_session: '/logout',
  pushed_authorization_request: '/par',
  // Dynamic registration is Gatehouse's own route (dynamic-registration.ts), not oidc-provider's;
  // its path is kept clear of the self-service /register page.
  registration: '/connect/register',
  code_verification: '/device',
  device_authorization: '/device/auth',
  backchannel_authentication: '/backchannel',
  challenge: '/challenge',
  credential: '/credential',
} as const;

export const INTERACTION_PATH = '/interaction';

// Asymmetric algorithms only: with client secrets stored as hashes, an HS* algorithm would use
// the hash as a key. EdDSA and PS256 are accepted from clients; the server signs with ES256/RS256.
const SIGNING_ALGS = ['ES256', 'RS256'];
const CLIENT_ALGS = ['ES256', 'ES384', 'RS256', 'PS256', 'EdDSA'];

/**
 * Under an https issuer, cookie name prefixes make browsers enforce what the cookies need
 * (RFC 6265bis §4.1.3): `__Host-` for the session (Secure, Path=/, no Domain: no subdomain can
 * set or shadow it); `__Secure-` for the interaction cookies, whose paths are the interaction's
 * (`/interaction/<uid>`, `/authorize/<uid>`), which `__Host-` forbids. Over http (development)
 * browsers refuse both prefixes, so the names stay oidc-provider's.
 */
export function cookieNames(publicUrl: string): { session: string; interaction: string; resume: string } {
  return publicUrl.startsWith('https:')
    ? { session: '__Host-session', interaction: '__Secure-interaction', resume: '__Secure-interaction_resume' }
    : { session: '_session', interaction: '_interaction', resume: '_interaction_resume' };
}

/** A user's JWT access token, recorded so introspection can answer for it once its grant is revoked. */
export interface JwtAccessTokenRecord {
  readonly jti: string;
  readonly grantId: string;
  readonly accountId: string;
  readonly clientId: string;
  readonly exp: number;
}

type Features = NonNullable<Configuration['features']>;

/** What the configuration needs from storage and the pages. */
export interface ConfigurationParts {
  readonly adapter: new (model: string) => Adapter;
  readonly findAccount: FindAccount;
  readonly loadExistingGrant: NonNullable<Configuration['loadExistingGrant']>;
  readonly resourceIndicators: Features['resourceIndicators'];
  /** The signing keys, active ones first (keys.ts). */
  readonly keys: readonly JWK[];
  readonly cookieKeys: readonly string[];
  readonly pages: {
    readonly renderError: unknown;
    readonly logoutSource: NonNullable<Features['rpInitiatedLogout']>['logoutSource'];
    readonly postLogoutSuccessSource: NonNullable<Features['rpInitiatedLogout']>['postLogoutSuccessSource'];
  };
  readonly recordAccessToken: (record: JwtAccessTokenRecord) => Promise<void>;
  /** The username put in a user's access token (RFC 9068 §2.2.3.1), if the user exists. */
  readonly usernameOf: (accountId: string) => Promise<string | undefined>;
  /** Limits how many client metadata documents one address makes the server fetch. */
  readonly limiter?: RateLimiter;
}

export function providerConfiguration(config: Config, parts: ConfigurationParts): Configuration {
  return {
    adapter: parts.adapter,
    findAccount: parts.findAccount,
    jwks: { keys: parts.keys as never },
    cookies: {
      // Must be given here: oidc-provider reads them once, at construction.
      keys: parts.cookieKeys as string[],
      names: cookieNames(config.publicUrl),
      long: { signed: true, httpOnly: true, sameSite: 'lax' },
      short: { signed: true, httpOnly: true, sameSite: 'lax' },
    },
    scopes: [...OPENID_SCOPES],
    claims: {
      // `amr`: how the user signed in (RFC 8176), in every ID token (docs/adr/0015-passkeys.md).
      // oidc-provider puts in an ID token only the claims its scopes (or a `claims` request) name.
      openid: ['sub', 'amr'],
      profile: ['preferred_username', 'updated_at'],
      email: ['email', 'email_verified'],
    },
    // Authorization code only: no implicit or hybrid flows (RFC 9700 §2.1.2). `none` (no token
    // at all, just a login session) is for the server's own account pages; registered clients
    // only ever get response_types ['code'].
    responseTypes: ['code', 'none'],
    pkce: {
      // S256 only (oidc-provider 9 refuses `plain`); required for public clients.
      required: (_ctx, client) => client.tokenEndpointAuthMethod === 'none',
    },
    // private_key_jwt only for clients described by a metadata document (metadata-documents.ts):
    // stored clients authenticate with a secret or are public.
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'none', ...(config.clientIdMetadataDocuments ? ['private_key_jwt' as const] : [])],
    enabledJWA: {
      idTokenSigningAlgValues: SIGNING_ALGS as never,
      userinfoSigningAlgValues: SIGNING_ALGS as never,
      introspectionSigningAlgValues: SIGNING_ALGS as never,
      authorizationSigningAlgValues: SIGNING_ALGS as never,
      requestObjectSigningAlgValues: CLIENT_ALGS as never,
      clientAuthSigningAlgValues: CLIENT_ALGS as never,
    },
    clientDefaults: {
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'ES256',
    },
    extraClientMetadata: {
      properties: ['api_scopes', 'apis', 'cors_origins', 'first_party', 'registered_dynamically'],
      // A client metadata document never sets these, and what it may say is bounded.
      validator: (_ctx, _key, _value, metadata) => constrainMetadataDocumentClient(metadata as Record<string, unknown>, OPENID_SCOPES),
    },
    fetch: outboundFetch(config),
    fetchResponseBodyLimits: {
      [METADATA_DOCUMENT_LIMIT_NAME]: METADATA_DOCUMENT_MAX_BYTES,
      // A document client's keys; unbounded by default in oidc-provider.
      jwks_uri: 64 * 1024,
      sector_identifier_uri: 16 * 1024,
    },
    // Browsers may call the token, introspection and revocation endpoints only from origins the
    // client lists (Swagger UI on the API's own origin, for instance).
    clientBasedCORS: (_ctx, origin, client) => Array.isArray(client.cors_origins) && (client.cors_origins as string[]).includes(origin),
    features: features(config, parts),
    interactions: {
      url: (_ctx, interaction) => `${INTERACTION_PATH}/${interaction.uid}`,
      // A session whose user was disabled or deleted asks for a login, never a 500.
      policy: createInteractionPolicy(),
    },
    loadExistingGrant: parts.loadExistingGrant,
    extraTokenClaims: extraTokenClaims(parts),
    // A client allowed the refresh_token grant gets refresh tokens: for plain OAuth 2.0 requests,
    // for OpenID Connect requests with offline_access, and for first-party clients always (their
    // grant needs no consent page, so offline_access — which OpenID Connect only honours with
    // prompt=consent — is not needed either; such tokens still end with the login session).
    issueRefreshToken: async (_ctx, client, code) =>
      client.grantTypeAllowed('refresh_token') &&
      (code.scopes.has('offline_access') || !code.scopes.has('openid') || client.first_party === true),
    rotateRefreshToken: true,
    ttl: lifetimes(config),
    renderError: parts.pages.renderError as Configuration['renderError'],
    routes: ROUTES,
    // RFC 8414 §2: what the discovery document adds to oidc-provider's own members.
    discovery: {
      ...(config.dynamicClientRegistration ? { registration_endpoint: `${config.publicUrl.replace(/\/$/, '')}${ROUTES.registration}` } : {}),
      // MCP clients read this before they try a document (GATEHOUSE_CLIENT_ID_METADATA_DOCUMENTS).
      client_id_metadata_document_supported: config.clientIdMetadataDocuments,
    },
    conformIdTokenClaims: true,
  };
}

function features(config: Config, parts: ConfigurationParts): Features {
  return {
    clientIdMetadataDocument: metadataDocumentFeature(config, parts.limiter ? { limiter: parts.limiter } : {}),
    devInteractions: { enabled: false },
    registration: { enabled: false },
    introspection: {
      enabled: true,
      allowedPolicy: async (ctx) => mayIntrospect(ctx.oidc.client),
    },
    revocation: {
      enabled: true,
      // RFC 7009 §2.1: a client revokes only its own tokens. Another client's token is left
      // alone and answered 200 like an unknown one (§2.2): a refusal would confirm it is valid.
      allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId,
    },
    clientCredentials: { enabled: true },
    userinfo: { enabled: true },
    rpInitiatedLogout: { enabled: true, logoutSource: parts.pages.logoutSource, postLogoutSuccessSource: parts.pages.postLogoutSuccessSource },
    // OpenID Connect Back-Channel Logout 1.0: when a session ends at /logout, each client of the
    // session with a backchannel_logout_uri gets a logout token (ADR 0013). A client that fails to
    // answer is logged (provider.ts), never in the way of the user's logout.
    backchannelLogout: { enabled: true },
    resourceIndicators: parts.resourceIndicators,
  };
}

/**
 * RFC 9068 §2.2.3.1: user access tokens name the user, so an API can show who is calling
 * without another request. Client-credentials tokens say what they are (`gty`, as Auth0 and
 * @gatehouse/sdk's principal kinds read it): a client's token never passes for a user's.
 */
function extraTokenClaims(parts: ConfigurationParts): NonNullable<Configuration['extraTokenClaims']> {
  return async (_ctx, token) => {
    if (token.kind === 'ClientCredentials') return { gty: 'client_credentials' };
    const accountId = 'accountId' in token ? token.accountId : undefined;
    if (!accountId) return undefined;
    // oidc-provider keeps no JWT: record which grant a user's JWT access token belongs to, so
    // introspection can answer active:false once the grant (or the user) is revoked.
    if (token.kind === 'AccessToken' && token.grantId && token.resourceServer?.accessTokenFormat === 'jwt') {
      await parts.recordAccessToken({
        jti: token.jti!,
        grantId: token.grantId,
        accountId,
        clientId: token.clientId!,
        exp: token.exp ?? Math.floor(Date.now() / 1000) + token.expiration,
      });
    }
    const username = await parts.usernameOf(accountId);
    return username === undefined ? undefined : { preferred_username: username };
  };
}

function lifetimes(config: Config): NonNullable<Configuration['ttl']> {
  return {
    // An API's own lifetime wins over the server default (a number here would override it).
    AccessToken: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? config.accessTokenTtl,
    ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? config.accessTokenTtl,
    AuthorizationCode: config.authorizationCodeTtl,
    IdToken: config.idTokenTtl,
    Interaction: config.interactionTtl,
    // A public browser client's rotated refresh token keeps its predecessor's expiry: rotation
    // does not extend the session a stolen token could ride (RFC 9700 §4.14.2; as oidc-provider's
    // default). Everyone else gets a fresh lifetime at each rotation.
    RefreshToken: (ctx: KoaContextWithOIDC, token, client) => {
      const rotated = ctx?.oidc?.entities?.RotatedRefreshToken as { remainingTTL: number } | undefined;
      if (rotated && client.applicationType === 'web' && client.clientAuthMethod === 'none' && !token.isSenderConstrained()) {
        return rotated.remainingTTL;
      }
      return config.refreshTokenTtl;
    },
    Session: config.sessionTtl,
    Grant: config.grantTtl,
  };
}
