// Every Gatehouse setting, in one place: its environment variable, type, default and
// what it does. `load.ts` validates against it at boot and `docs.ts` generates
// docs/configuration.md from it, so the docs cannot drift from the code.
import {
  absoluteUrl,
  boolean,
  duration,
  integer,
  nameList,
  oneOf,
  optional,
  publicUrl,
  text,
  type SettingType,
} from './types.ts';
import { trustProxySetting, type TrustProxy } from './proxy.ts';
import { secretKey, secretKeyList } from './secret-keys.ts';
import { databaseUrl, logoUrl, redisUrl, smtpUrl } from './urls.ts';

export interface Setting<T> {
  readonly env: `GATEHOUSE_${string}`;
  readonly type: SettingType<T>;
  readonly default: T;
  readonly description: string;
  /** Shown as a warning at start when the default is in use: safe for development only. */
  readonly devOnlyDefault?: string;
  /** A secret: never printed, not even in errors. */
  readonly secret?: boolean;
}

function setting<T>(definition: Setting<T>): Setting<T> {
  return definition;
}

export const settings = {
  publicUrl: setting({
    env: 'GATEHOUSE_PUBLIC_URL',
    type: publicUrl(),
    default: 'http://localhost:8000',
    description:
      'The URL browsers and clients use to reach this server. It is the issuer (`iss`) of every token and the base of every endpoint in the discovery document, so it must be right behind a proxy. Cookies are `Secure` when it is https.',
    devOnlyDefault: 'tokens are issued by http://localhost:8000; set GATEHOUSE_PUBLIC_URL to the https URL clients use',
  }),
  host: setting({
    env: 'GATEHOUSE_HOST',
    type: text(),
    default: 'localhost',
    description: 'The interface to listen on. `localhost` listens on the loopback addresses only; use `0.0.0.0` (or `::`) in a container.',
  }),
  port: setting({
    env: 'GATEHOUSE_PORT',
    type: integer(0, 65535),
    default: 8000,
    description: 'The TCP port to listen on (0 picks a free port).',
  }),
  databaseUrl: setting({
    env: 'GATEHOUSE_DATABASE_URL',
    type: databaseUrl(),
    default: 'sqlite:./data/gatehouse.db',
    description:
      'Where everything is stored: `sqlite:<path>` for the embedded database (one file, created if missing), or `postgres://user:password@host:5432/db` for PostgreSQL.',
    secret: true,
  }),
  secretKey: setting({
    env: 'GATEHOUSE_SECRET_KEY',
    type: optional(secretKey()),
    default: undefined,
    description:
      'The key that encrypts the secrets kept in the database (private signing keys, cookie, CSRF and TOTP keys, the admin API\'s introspection secret) with AES-256-GCM, so a copy of the database (a backup, a replica, the SQLite file) cannot sign tokens, generate TOTP codes or forge sessions. Keep it outside the database and its backups. Required in production (a public URL other than http on a loopback host); without it, `gatehouse serve` and `npm start` use a development key kept in `./data/secret.key`. See docs/security.md#secrets-at-rest.',
    secret: true,
  }),
  secretKeyFile: setting({
    env: 'GATEHOUSE_SECRET_KEY_FILE',
    type: optional(text()),
    default: undefined,
    description:
      'Instead of `GATEHOUSE_SECRET_KEY`: a file holding the key (a mounted secret). Its first line is the current key; further lines are previous keys, still used to decrypt until `gatehouse secrets reencrypt` has re-encrypted everything. Lines starting with `#` are ignored.',
  }),
  secretKeyPrevious: setting({
    env: 'GATEHOUSE_SECRET_KEY_PREVIOUS',
    type: secretKeyList(),
    default: [] as readonly string[],
    description:
      'Previous secret keys, during a rotation: values encrypted under them are still read; everything new is encrypted under the current key. Remove them once `gatehouse secrets reencrypt` has run and `gatehouse doctor` reports nothing under them.',
    secret: true,
  }),
  databaseConnectTimeout: setting({
    env: 'GATEHOUSE_DATABASE_CONNECT_TIMEOUT',
    type: duration(1, 300),
    default: 3,
    description:
      'PostgreSQL: how long a request waits to open a connection, or for a free one in the pool (10 per instance), before it is answered 503 with `Retry-After`. See docs/operations.md.',
  }),
  databaseStatementTimeout: setting({
    env: 'GATEHOUSE_DATABASE_STATEMENT_TIMEOUT',
    type: duration(0, 3600),
    default: 5,
    description:
      "PostgreSQL: a statement running longer is cancelled by the server (`statement_timeout`, lock waits included) and the request answered 503. `0` turns it off. Raise it for `gatehouse migrate` if a migration needs longer.",
  }),
  databaseQueryTimeout: setting({
    env: 'GATEHOUSE_DATABASE_QUERY_TIMEOUT',
    type: duration(0, 3600),
    default: 6,
    description:
      'PostgreSQL: how long Gatehouse waits for any answer from the server (a frozen server or a lost network answers nothing) before it drops the connection and answers 503. Keep it longer than the statement timeout, so the server cancels a slow statement first. A transaction left idle this long is ended by PostgreSQL (`idle_in_transaction_session_timeout`). `0` turns it off.',
  }),
  redisUrl: setting({
    env: 'GATEHOUSE_REDIS_URL',
    type: optional(redisUrl()),
    default: undefined,
    description:
      'Optional `redis://` URL. When set, login throttling is shared by every instance and cache invalidations (revoked keys, disabled users, rotated signing keys) travel between instances.',
    secret: true,
  }),
  redisPrefix: setting({
    env: 'GATEHOUSE_REDIS_PREFIX',
    type: text({ test: /^[A-Za-z0-9:_-]{1,64}$/, accepts: 'letters, digits, colons, underscores or dashes (1-64)' }),
    default: 'gatehouse',
    description: 'Prefix of every Redis key and channel Gatehouse uses, so several deployments can share one Redis.',
  }),
  logLevel: setting({
    env: 'GATEHOUSE_LOG_LEVEL',
    type: oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const),
    default: 'info',
    description: 'How much the server logs (on standard output). Secrets are never logged at any level.',
  }),
  logFormat: setting({
    env: 'GATEHOUSE_LOG_FORMAT',
    type: oneOf(['auto', 'json', 'pretty'] as const),
    default: 'auto',
    description:
      'How log lines look: `json` (one JSON object a line, for log collectors), `pretty` (a readable line each, development email as a block with its links on their own lines), or `auto`: pretty when standard output is a terminal, JSON otherwise.',
  }),
  trustProxy: setting({
    env: 'GATEHOUSE_TRUST_PROXY',
    type: trustProxySetting(),
    default: false as TrustProxy,
    description:
      'Which reverse proxies may say who the client is (`X-Forwarded-For`, `X-Forwarded-Proto`, `X-Forwarded-Host`). `false`: none, the client is the connection\'s peer. A number N: the N nearest hops are proxies (each appends the address it saw), so the client is the N-th entry from the right of `X-Forwarded-For`. A list of addresses and CIDR ranges (`10.0.0.0/8, loopback`): the client is the right-most entry that is not one of them. Never the left-most entry, which the client writes itself. The address found is what login throttling, the registration and reset limits, the admin API\'s failure limit and the audit log see. `true` is refused. Settings per proxy (nginx, AWS ALB, Traefik, Cloudflare): docs/security.md.',
  }),
  defaultApi: setting({
    env: 'GATEHOUSE_DEFAULT_API',
    type: optional(absoluteUrl()),
    default: undefined,
    description:
      'The identifier of the API that access tokens are for when a client sends no `resource` parameter, for the clients granted that API. Without it (or for a client not granted it), such requests get an opaque token that is only good for the userinfo endpoint. A plain OpenID Connect sign-in (`scope` of `openid` and only `profile`, `email`, `offline_access` besides) always gets that userinfo token (docs/adr/0014-interop-choices.md).',
  }),
  accessTokenTtl: setting({
    env: 'GATEHOUSE_ACCESS_TOKEN_TTL',
    type: duration(30, 86400),
    default: 900,
    description: 'Lifetime of access tokens, unless the API sets its own. Keep it short: a JWT cannot be recalled once issued.',
  }),
  refreshTokenTtl: setting({
    env: 'GATEHOUSE_REFRESH_TOKEN_TTL',
    type: duration(60, 365 * 86400),
    default: 14 * 86400,
    description: 'Lifetime of a refresh token. Each use rotates it and issues a new one with a fresh lifetime.',
  }),
  refreshTokenReuseGrace: setting({
    env: 'GATEHOUSE_REFRESH_TOKEN_REUSE_GRACE',
    type: duration(0, 60),
    default: 5,
    description:
      'For this long after a refresh token is rotated, presenting it again returns the same successor instead of revoking the grant, so two tabs refreshing at once do not log the user out — as long as that successor is still the latest token (once it has been used, the old one is reuse). `0` turns it off: any reuse of a rotated refresh token revokes the whole grant (confidential clients still get `GATEHOUSE_REFRESH_TOKEN_RETRY_WINDOW`).',
  }),
  refreshTokenRetryWindow: setting({
    env: 'GATEHOUSE_REFRESH_TOKEN_RETRY_WINDOW',
    type: duration(0, 3600),
    default: 300,
    description:
      'Confidential clients only: for this long after a refresh token is rotated, and only while its successor has never been used, presenting it again returns that same successor — so a client that lost the answer (an instance died after committing, a response dropped) and retries is not taken for a thief. Public clients get only the reuse grace window: their refresh token alone is the credential. `0` turns it off. See docs/adr/0007-outages.md.',
  }),
  idTokenTtl: setting({
    env: 'GATEHOUSE_ID_TOKEN_TTL',
    type: duration(60, 86400),
    default: 3600,
    description: 'Lifetime of ID tokens.',
  }),
  authorizationCodeTtl: setting({
    env: 'GATEHOUSE_AUTHORIZATION_CODE_TTL',
    type: duration(10, 600),
    default: 60,
    description: 'Lifetime of an authorization code (RFC 6749 §4.1.2 recommends at most 10 minutes).',
  }),
  sessionTtl: setting({
    env: 'GATEHOUSE_SESSION_TTL',
    type: duration(300, 90 * 86400),
    default: 14 * 86400,
    description: 'How long a login session at the server lasts (the single sign-on cookie).',
  }),
  interactionTtl: setting({
    env: 'GATEHOUSE_INTERACTION_TTL',
    type: duration(60, 86400),
    default: 1800,
    description: 'How long a user has to complete the login page before starting over.',
  }),
  grantTtl: setting({
    env: 'GATEHOUSE_GRANT_TTL',
    type: duration(300, 365 * 86400),
    default: 30 * 86400,
    description: 'How long a grant (what a user allowed a client) is remembered; refresh tokens never outlive their grant.',
  }),
  loginMaxFailuresPerAccount: setting({
    env: 'GATEHOUSE_LOGIN_MAX_FAILURES_PER_ACCOUNT',
    type: integer(1, 1000),
    default: 5,
    description:
      'Failed password checks allowed for one username within the throttle window, on every path that checks a password (login page, password grant, account pages); and, on a counter of their own that a right password does not clear, failed second factors (TOTP or recovery codes) for one account. Each attempt is counted before it is checked, so parallel guesses get no more. Past it, attempts are refused with 429 and `Retry-After`.',
  }),
  loginMaxFailuresPerIp: setting({
    env: 'GATEHOUSE_LOGIN_MAX_FAILURES_PER_IP',
    type: integer(1, 100000),
    default: 30,
    description: 'Failed password checks and second factors allowed from one client address within the throttle window, whatever the account. IPv6 addresses count per /64. Behind a proxy, see `GATEHOUSE_TRUST_PROXY`.',
  }),
  loginThrottleWindow: setting({
    env: 'GATEHOUSE_LOGIN_THROTTLE_WINDOW',
    type: duration(1, 86400),
    default: 900,
    description: 'The sliding window over which failed logins are counted.',
  }),
  keyRotationDelay: setting({
    env: 'GATEHOUSE_KEY_ROTATION_DELAY',
    type: duration(0, 7 * 86400),
    default: 3600,
    description:
      'How long a new signing key is published in the JWKS before it signs anything (`gatehouse keys rotate`). Verifiers that cache the JWKS longer than this would fail on the first token it signs; @gatehouse/sdk refetches on an unknown key id, so it needs none.',
  }),
  ssfPushTimeout: setting({
    env: 'GATEHOUSE_SSF_PUSH_TIMEOUT',
    type: duration(1, 60),
    default: 5,
    description:
      'How long a Shared Signals push receiver has to accept one security event before the push counts as failed and is retried with backoff. An instance that stops mid-push leaves the stream to the others after twice this time.',
  }),
  keyCheckInterval: setting({
    env: 'GATEHOUSE_KEY_CHECK_INTERVAL',
    type: duration(1, 3600),
    default: 10,
    description: 'How often each instance checks for signing-key changes (a scheduled rotation coming due, another instance rotating, a retired key to drop).',
  }),
  cacheTtl: setting({
    env: 'GATEHOUSE_CACHE_TTL',
    type: duration(0, 300),
    default: 5,
    description:
      'How long a server instance keeps client and API definitions in memory. A change made through another process (the CLI, another instance) takes effect within this time; `0` reads them from the database on every request.',
  }),
  bodyLimit: setting({
    env: 'GATEHOUSE_BODY_LIMIT',
    type: integer(1024, 10 * 1024 * 1024),
    default: 65536,
    description: 'Largest request body accepted by the login pages and the admin API, in bytes (the protocol endpoints have their own limit of 56 KiB).',
  }),
  requestTimeout: setting({
    env: 'GATEHOUSE_REQUEST_TIMEOUT',
    type: duration(1, 3600),
    default: 30,
    description:
      'A request (headers and body) must have arrived within this time; a client sending slower gets 408 and the connection is closed, so one byte a second cannot hold a connection forever.',
  }),
  headersTimeout: setting({
    env: 'GATEHOUSE_HEADERS_TIMEOUT',
    type: duration(1, 3600),
    default: 10,
    description: 'A request\'s headers must have arrived within this time (408 otherwise). At most `GATEHOUSE_REQUEST_TIMEOUT`.',
  }),
  registration: setting({
    env: 'GATEHOUSE_REGISTRATION',
    type: boolean(),
    default: false,
    description:
      'Whether anyone may create their own account from the login page (`true`; the demo of `npm start` turns it on). Self-registered users must verify their email address before they can sign in, and get the roles of `GATEHOUSE_REGISTRATION_ROLES`; with a client that signs users in, they still get tokens for the APIs that client was granted. The start banner says when it is on.',
  }),
  registrationRoles: setting({
    env: 'GATEHOUSE_REGISTRATION_ROLES',
    type: nameList(),
    default: [],
    description:
      'The roles a self-registered user receives (comma-separated role names, `user` in the demo of `npm start`); none by default, so such a user gets no scope from a role until an administrator grants one. Each role must exist when the server starts.',
  }),
  passkeyUserVerification: setting({
    env: 'GATEHOUSE_PASSKEY_USER_VERIFICATION',
    type: oneOf(['preferred', 'required'] as const),
    default: 'preferred' as 'preferred' | 'required',
    description:
      'Whether a passkey must verify its user (a PIN, a fingerprint, the device\'s unlock) when it is enrolled and at each sign-in. `preferred`: the browser asks for it whenever the authenticator can; a sign-in where it did not happen counts as one factor, so an account with two-factor authentication is then asked for its code. `required`: an authenticator that cannot verify its user is refused. A passkey sign-in with user verification counts as both factors (`amr` `hwk` or `swk`, and `mfa`): docs/adr/0015-passkeys.md.',
  }),
  dynamicClientRegistration: setting({
    env: 'GATEHOUSE_DYNAMIC_CLIENT_REGISTRATION',
    type: boolean(),
    default: false,
    description:
      'Whether clients may register themselves (RFC 7591) at `/connect/register`, as MCP clients do. Such clients are public, third-party (consent page), limited to the authorization code and refresh token grants, rate-limited per address, and granted exactly the APIs marked open to dynamically registered clients (`open_to_dynamic_clients`), with the scopes the user\'s roles grant: docs/adr/0011-dynamic-client-registration.md. The start banner says when it is on.',
  }),
  dynamicClientTtl: setting({
    env: 'GATEHOUSE_DYNAMIC_CLIENT_TTL',
    type: duration(300, 365 * 86400),
    default: 86400,
    description:
      'How long a dynamically registered client (`GATEHOUSE_DYNAMIC_CLIENT_REGISTRATION`) is kept without being used: once it is older than this and holds no live grant (never used, or its users\' grants all expired or were revoked), it is deleted. A client that needs it again registers again.',
  }),
  clientIdMetadataDocuments: setting({
    env: 'GATEHOUSE_CLIENT_ID_METADATA_DOCUMENTS',
    type: boolean(),
    default: false,
    description:
      'Whether a `client_id` may be an https URL whose JSON document describes the client (OAuth Client ID Metadata Documents, as MCP clients use). Gatehouse fetches the document (https only, no private, loopback or link-local address even after DNS, no redirects, at most 5 KiB and 2.5 s, cached as its `Cache-Control` says, for 1 minute at least and 1 hour at most); its `client_id` must equal its URL and its redirect URIs are the only ones allowed. Such clients are third-party (consent page, naming the host of the document), public unless the document says `private_key_jwt` with a `jwks_uri`, limited to the authorization code and refresh token grants, and reach exactly the APIs open to dynamically registered clients (`open_to_dynamic_clients`), with the scopes the roles of the user grant: docs/adr/0012-client-id-metadata-documents.md.',
  }),
  clientIdMetadataDocumentsLoopback: setting({
    env: 'GATEHOUSE_CLIENT_ID_METADATA_DOCUMENTS_LOOPBACK',
    type: boolean(),
    default: false,
    description:
      'Development only: also fetch client metadata documents from https URLs on this machine (`https://127.0.0.1:…`, `https://[::1]:…`, `https://localhost:…`), to try an MCP client locally. Refused unless the public URL is http on a loopback host (not production). A self-signed certificate is trusted through Node\'s `NODE_EXTRA_CA_CERTS`.',
  }),
  adminConsole: setting({
    env: 'GATEHOUSE_ADMIN_CONSOLE',
    type: boolean(),
    default: true,
    description:
      'Whether the admin console is served at `/admin`: a browser application that signs in on the login page as the built-in public client `gatehouse-console` (authorization code + PKCE) and then calls only the admin API, with the admin scopes the user\'s roles grant. `false`: no `/admin` page and no such client; the admin API and the CLI are unchanged.',
  }),
  smtpUrl: setting({
    env: 'GATEHOUSE_SMTP_URL',
    type: optional(smtpUrl()),
    default: undefined,
    description:
      'Where email (verification, password reset) is sent: `smtp://user:password@host:587` (STARTTLS when the server offers it) or `smtps://…:465`. Unset, messages are written to the log instead, links included: for development only.',
    devOnlyDefault: 'email is written to the log instead of being sent; set GATEHOUSE_SMTP_URL',
    secret: true,
  }),
  mailFrom: setting({
    env: 'GATEHOUSE_MAIL_FROM',
    type: text({ test: /^[^\r\n]{3,254}$/, accepts: 'an address such as `Gatehouse <no-reply@example.com>`' }),
    default: 'Gatehouse <no-reply@localhost>',
    description: 'The `From` of every email the server sends.',
  }),
  emailVerificationTtl: setting({
    env: 'GATEHOUSE_EMAIL_VERIFICATION_TTL',
    type: duration(300, 30 * 86400),
    default: 86400,
    description: 'How long an email verification link stays valid. Each link works once.',
  }),
  passwordResetTtl: setting({
    env: 'GATEHOUSE_PASSWORD_RESET_TTL',
    type: duration(300, 86400),
    default: 3600,
    description: 'How long a password reset link stays valid. Each link works once, and using one invalidates the others.',
  }),
  brandName: setting({
    env: 'GATEHOUSE_BRAND_NAME',
    type: text({ test: /^[^<>\r\n]{1,60}$/, accepts: 'a name of 1 to 60 characters' }),
    default: 'Gatehouse',
    description: 'The product name shown on every page and in every email.',
  }),
  brandLogoUrl: setting({
    env: 'GATEHOUSE_BRAND_LOGO_URL',
    type: optional(logoUrl()),
    default: undefined,
    description: 'An https URL (or a path on this server) of a logo shown above the name on every page; the pages\' Content-Security-Policy allows its origin.',
  }),
  brandColor: setting({
    env: 'GATEHOUSE_BRAND_COLOR',
    type: text({ test: /^#[0-9a-fA-F]{6}$/, accepts: 'a colour as #rrggbb' }),
    default: '#2f5bd3',
    description: 'The accent colour of the pages (buttons, links, focus rings). Pick one with enough contrast against white text.',
  }),
} as const;

export type Settings = typeof settings;
export type SettingKey = keyof Settings;
export type Config = { readonly [K in SettingKey]: Settings[K]['default'] };
