// Every Gatehouse setting, in one place: its environment variable, type, default and
// what it does. `load.ts` validates against it at boot and `docs.ts` generates
// docs/configuration.md from it, so the docs cannot drift from the code.
import {
  absoluteUrl,
  boolean,
  duration,
  integer,
  oneOf,
  optional,
  publicUrl,
  text,
  type SettingType,
} from './types.ts';
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
    description: 'How much the server logs (JSON lines on standard output). Secrets are never logged at any level.',
  }),
  trustProxy: setting({
    env: 'GATEHOUSE_TRUST_PROXY',
    type: boolean(),
    default: false,
    description:
      'Trust `X-Forwarded-For` / `X-Forwarded-Proto` from a reverse proxy in front of the server. Only enable it behind a proxy that sets them, or clients can choose the IP address that login throttling sees.',
  }),
  defaultApi: setting({
    env: 'GATEHOUSE_DEFAULT_API',
    type: optional(absoluteUrl()),
    default: undefined,
    description:
      'The identifier of the API that access tokens are for when a client sends no `resource` parameter, for the clients granted that API. Without it (or for a client not granted it), such requests get an opaque token that is only good for the userinfo endpoint.',
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
      'For this long after a refresh token is rotated, presenting it again returns the same successor instead of revoking the grant, so two tabs refreshing at once do not log the user out. `0` turns it off: any reuse of a rotated refresh token revokes the whole grant.',
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
      'Failed password checks allowed for one username within the throttle window, on every path that checks a password (login page and password grant). Past it, attempts are refused with 429 and `Retry-After`.',
  }),
  loginMaxFailuresPerIp: setting({
    env: 'GATEHOUSE_LOGIN_MAX_FAILURES_PER_IP',
    type: integer(1, 100000),
    default: 30,
    description: 'Failed password checks allowed from one IP address within the throttle window, whatever the username.',
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
  registration: setting({
    env: 'GATEHOUSE_REGISTRATION',
    type: boolean(),
    default: false,
    description:
      'Whether anyone may create their own account from the login page (`true`; the demo of `npm start` turns it on). Self-registered users must verify their email address before they can sign in, and get no roles; with a client that signs users in, they still get tokens for the APIs that client was granted. The start banner says when it is on.',
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
