// The admin API's schemas (TypeBox): one definition validates requests (validation.ts), types the
// handlers (Static) and documents the API (@fastify/swagger). Response schemas also decide what
// leaves the server: the serializer writes only the properties listed here, so a password hash, a
// secret hash or a private key can never reach a response, whatever a repository returns.
import Type, { type Static, type TSchema } from 'typebox';
import { API_SIGNING_ALGS } from '../storage/apis.ts';
import { APPLICATION_TYPES, GRANT_TYPES } from '../storage/clients.ts';
import { SIGNING_ALGS } from '../storage/keys.ts';

export const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

/** A string enum with its type spelled out (OpenAPI 3.0 tools show `type: string`, not a bare enum). */
const Enum = <const T extends readonly string[]>(values: T, options: { description?: string } = {}) =>
  Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...options });

const Timestamp = (description: string) => Type.String({ format: 'date-time', description });

/**
 * The example Swagger UI shows for a schema (and @fastify/swagger writes as OpenAPI 3.0's
 * `example`): realistic values instead of the `"string"` it makes up from the types. Examples
 * document only; they validate and serialize nothing.
 */
const example = (value: Record<string, unknown>) => ({ examples: [value] });
/** The example of a schema built with `example()`. */
const exampleOf = (schema: TSchema): unknown => (schema as { examples?: unknown[] }).examples?.[0];

// RFC 6749 §3.3 scope-token; the repositories check it again (validate.ts).
const Scope = Type.String({ pattern: '^[\\x21\\x23-\\x5B\\x5D-\\x7E]{1,128}$', description: 'A scope (RFC 6749 §3.3 scope token).' });
const Scopes = Type.Array(Scope, { maxItems: 200, uniqueItems: true });

// ── common ──────────────────────────────────────────────────────────────────────────────────────

export const ErrorBody = Type.Object(
  {
    error: Type.String({ description: 'A stable code from the error registry (docs/errors.md).' }),
    message: Type.String(),
    field: Type.Optional(Type.String({ description: 'The input field that is wrong, when there is one.' })),
  },
  { description: 'An error.', ...example({ error: 'not_found', message: 'No such user' }) },
);

/** What @gatehouse/sdk answers for 401 and 403 (RFC 6750 §3), and the admin API's own 403. */
export const AuthErrorBody = Type.Object(
  {
    error: Type.Optional(Type.String({ description: '`invalid_token`, `insufficient_scope`, or `forbidden` (an object-level rule).' })),
    error_description: Type.Optional(Type.String()),
    scope: Type.Optional(Type.String({ description: 'The scopes the route requires (insufficient_scope).' })),
    message: Type.Optional(Type.String()),
    field: Type.Optional(Type.String()),
  },
  { description: 'Authentication or authorization refused.' },
);

export const Paging = {
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, description: 'Most items to return (default 50).' })),
  offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 10_000_000, description: 'Items to skip (default 0).' })),
};

export const PageQuery = Type.Object({ ...Paging }, { additionalProperties: false });

export const Page = <T extends TSchema>(item: T, description: string) =>
  Type.Object(
    {
      items: Type.Array(item),
      total: Type.Integer({ description: 'How many items match, across all pages.' }),
      limit: Type.Integer(),
      offset: Type.Integer(),
    },
    { description, ...example({ items: exampleOf(item) === undefined ? [] : [exampleOf(item)], total: 1, limit: 50, offset: 0 }) },
  );

export const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 254, description: 'The object\'s id.' }) });
export type IdParams = Static<typeof IdParams>;

// ── users ───────────────────────────────────────────────────────────────────────────────────────

export const User = Type.Object(
  {
    id: Type.String(),
    username: Type.String(),
    email: Nullable(Type.String()),
    email_verified: Type.Boolean(),
    disabled: Type.Boolean(),
    self_registered: Type.Boolean({ description: 'Created from the registration page.' }),
    two_factor: Type.Boolean({ description: 'TOTP two-factor authentication is on.' }),
    roles: Type.Array(Type.String()),
    created_at: Timestamp('When the user was created.'),
    updated_at: Timestamp('When the user last changed.'),
  },
  {
    description: 'A user. Password hashes are never returned.',
    ...example({
      id: '5f0c6a1e-8b2d-4c3f-9a7e-1d2b3c4d5e6f',
      username: 'johndoe',
      email: 'johndoe@example.com',
      email_verified: true,
      disabled: false,
      self_registered: false,
      two_factor: false,
      roles: ['user'],
      created_at: '2026-01-15T09:30:00.000Z',
      updated_at: '2026-02-01T14:05:12.000Z',
    }),
  },
);

export const Passkey = Type.Object(
  {
    id: Type.String({ description: "The passkey's id on this server (not the authenticator's credential id)." }),
    name: Type.String({ description: 'The name the user gave it.' }),
    created_at: Timestamp('When it was enrolled.'),
    last_used_at: Nullable(Timestamp('When it last signed in (null: never).')),
  },
  {
    description: "One of a user's passkeys (docs/adr/0015-passkeys.md). Its public key and credential id are never returned.",
    ...example({ id: '0b6f1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d', name: 'Laptop', created_at: '2026-01-15T09:30:00.000Z', last_used_at: '2026-02-01T14:05:12.000Z' }),
  },
);

export const PasskeyList = Type.Object(
  { items: Type.Array(Passkey) },
  { description: "The user's passkeys, oldest first.", ...example({ items: [exampleOf(Passkey)] }) },
);

export const PasskeyParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 254, description: "The user's id or username." }),
  passkeyId: Type.String({ minLength: 1, maxLength: 254, description: "The passkey's id." }),
});
export type PasskeyParams = Static<typeof PasskeyParams>;

export const UserQuery = Type.Object(
  {
    ...Paging,
    q: Type.Optional(Type.String({ maxLength: 254, description: 'Substring of the username or the email (case-insensitive).' })),
    username: Type.Optional(Type.String({ maxLength: 254, description: 'Substring of the username (case-insensitive).' })),
    email: Type.Optional(Type.String({ maxLength: 254, description: 'Substring of the email (case-insensitive).' })),
    disabled: Type.Optional(Type.Boolean({ description: 'Only disabled (true) or enabled (false) users.' })),
  },
  { additionalProperties: false },
);

export const NewUser = Type.Object(
  {
    username: Type.String({ minLength: 1, maxLength: 64 }),
    email: Type.Optional(Type.String({ maxLength: 254 })),
    email_verified: Type.Optional(Type.Boolean()),
    password: Type.Optional(Type.String({ minLength: 1, maxLength: 1024, description: 'Hashed with argon2id; never stored or logged as given.' })),
    roles: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 100 }), { maxItems: 100, uniqueItems: true })),
    disabled: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

export const UserChanges = Type.Object(
  {
    email: Type.Optional(Nullable(Type.String({ maxLength: 254 }))),
    email_verified: Type.Optional(Type.Boolean()),
    roles: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 100 }), { maxItems: 100, uniqueItems: true, description: 'Replaces the user\'s roles.' })),
  },
  { additionalProperties: false, minProperties: 1 },
);

export const NewPassword = Type.Object(
  { password: Type.String({ minLength: 1, maxLength: 1024 }) },
  { additionalProperties: false },
);

// ── roles ───────────────────────────────────────────────────────────────────────────────────────

export const Role = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    description: Nullable(Type.String()),
    scopes: Type.Array(Type.String()),
    created_at: Timestamp('When the role was created.'),
  },
  {
    description: 'A role: the scopes it grants to its users.',
    ...example({
      id: '0b7e2f4a-3c1d-4e5f-8a9b-6c7d8e9f0a1b',
      name: 'user',
      description: 'Reads their own profile and items',
      scopes: ['items', 'me'],
      created_at: '2026-01-15T09:30:00.000Z',
    }),
  },
);

export const NewRole = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 100 }),
    description: Type.Optional(Type.String({ maxLength: 200 })),
    scopes: Scopes,
  },
  { additionalProperties: false },
);

export const RoleChanges = Type.Object(
  {
    description: Type.Optional(Nullable(Type.String({ maxLength: 200 }))),
    scopes: Type.Optional(Type.Array(Scope, { maxItems: 200, uniqueItems: true, description: 'Replaces the role\'s scopes.' })),
  },
  { additionalProperties: false, minProperties: 1 },
);

// ── APIs ────────────────────────────────────────────────────────────────────────────────────────

const ApiScope = Type.Object({ name: Scope, description: Type.Optional(Nullable(Type.String({ maxLength: 200 }))) }, { additionalProperties: false });
const SigningAlg = Enum(API_SIGNING_ALGS, { description: 'The algorithm access tokens for this API are signed with.' });

export const Api = Type.Object(
  {
    id: Type.String(),
    identifier: Type.String({ description: 'The API\'s identifier: the audience (`aud`) of its tokens.' }),
    name: Type.String(),
    scopes: Type.Array(Type.Object({ name: Type.String(), description: Nullable(Type.String()) })),
    access_token_ttl: Nullable(Type.Integer({ description: 'Seconds; null means the server default.' })),
    signing_alg: Nullable(Type.String({ description: 'null means the server default (ES256).' })),
    open_to_dynamic_clients: Type.Boolean({ description: 'Dynamically registered clients (RFC 7591, MCP clients) are granted this API, with its scopes; the user\'s roles still decide what a token carries (docs/adr/0011).' }),
    managed: Type.Boolean({ description: 'Managed by Gatehouse itself (the admin API): read-only here.' }),
    created_at: Timestamp('When the API was created.'),
  },
  {
    description: 'An API (an OAuth resource server).',
    ...example({
      id: '7c9d1e2f-4a5b-4c6d-8e7f-9a0b1c2d3e4f',
      identifier: 'https://items.example.com',
      name: 'Items API',
      scopes: [
        { name: 'me', description: 'Read information about the current user.' },
        { name: 'items', description: 'Read items.' },
      ],
      access_token_ttl: null,
      signing_alg: null,
      open_to_dynamic_clients: false,
      managed: false,
      created_at: '2026-01-15T09:30:00.000Z',
    }),
  },
);

export const ApiQuery = Type.Object(
  { ...Paging, identifier: Type.Optional(Type.String({ maxLength: 2000, description: 'Only the API with this exact identifier.' })) },
  { additionalProperties: false },
);

export const NewApi = Type.Object(
  {
    identifier: Type.String({ minLength: 1, maxLength: 2000, description: 'An absolute URL, without fragment (RFC 8707).' }),
    name: Type.String({ minLength: 1, maxLength: 200 }),
    scopes: Type.Array(ApiScope, { maxItems: 200 }),
    access_token_ttl: Type.Optional(Type.Integer({ minimum: 30, maximum: 86400 })),
    signing_alg: Type.Optional(SigningAlg),
    open_to_dynamic_clients: Type.Optional(Type.Boolean({ description: 'Dynamically registered clients (RFC 7591, MCP clients) are granted this API, with its scopes; the user\'s roles still decide what a token carries (docs/adr/0011).' })),
  },
  { additionalProperties: false },
);

export const ApiChanges = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    scopes: Type.Optional(Type.Array(ApiScope, { maxItems: 200, description: 'Replaces the API\'s scopes.' })),
    access_token_ttl: Type.Optional(Nullable(Type.Integer({ minimum: 30, maximum: 86400 }))),
    signing_alg: Type.Optional(Nullable(SigningAlg)),
    open_to_dynamic_clients: Type.Optional(Type.Boolean({ description: 'Dynamically registered clients (RFC 7591, MCP clients) are granted this API, with its scopes; the user\'s roles still decide what a token carries (docs/adr/0011).' })),
  },
  { additionalProperties: false, minProperties: 1 },
);

// ── clients ─────────────────────────────────────────────────────────────────────────────────────

const GrantType = Enum(GRANT_TYPES);
const Urls = Type.Array(Type.String({ minLength: 1, maxLength: 2000 }), { maxItems: 50, uniqueItems: true });
const GrantedApis = Type.Array(Type.String({ minLength: 1, maxLength: 2000 }), {
  maxItems: 100,
  uniqueItems: true,
  description: 'Identifiers of the APIs this client may get tokens for (`resource`); it gets none for any other API.',
});

export const Client = Type.Object(
  {
    client_id: Type.String(),
    name: Type.String(),
    type: Enum(['public', 'confidential']),
    token_endpoint_auth_method: Type.String(),
    redirect_uris: Type.Array(Type.String()),
    post_logout_redirect_uris: Type.Array(Type.String()),
    grant_types: Type.Array(Type.String()),
    scopes: Type.Array(Type.String(), { description: 'The API scopes this client may ask for, at the APIs it was granted.' }),
    apis: Type.Array(Type.String(), { description: 'Identifiers of the APIs this client may get tokens for; it gets none for any other API.' }),
    cors_origins: Type.Array(Type.String()),
    first_party: Type.Boolean({ description: 'First-party clients skip the consent page and always get refresh tokens.' }),
    application_type: Enum(APPLICATION_TYPES, { description: '`native`: an app on a device, which may use any port of a loopback redirect URI (RFC 8252 §7.3).' }),
    registered_dynamically: Type.Boolean({ description: 'Registered by the client itself at /connect/register (RFC 7591): public, third-party, granted the APIs open to such clients when it registered.' }),
    backchannel_logout_uri: Nullable(Type.String({ description: 'OpenID Connect Back-Channel Logout 1.0: where the server POSTs a signed logout token when a user\'s session this client took part in ends (https; http on localhost, 127.0.0.1 or [::1]; no fragment). Needs the `authorization_code` grant.' })),
    backchannel_logout_session_required: Type.Boolean({ description: 'Back-Channel Logout §2.4: the logout token and this client\'s ID tokens carry `sid`, the session id (default true).' }),
    managed: Type.Boolean({ description: 'Managed by Gatehouse itself (the admin API\'s introspection client): read-only here.' }),
    created_at: Timestamp('When the client was created.'),
    revoked_at: Nullable(Timestamp('When the client was revoked.')),
  },
  {
    description: 'A client. Secrets are never returned, except once at creation and rotation.',
    ...example({
      client_id: 'items-web',
      name: 'Items web app',
      type: 'confidential',
      token_endpoint_auth_method: 'client_secret_basic',
      redirect_uris: ['https://app.example.com/auth/callback'],
      post_logout_redirect_uris: ['https://app.example.com/'],
      grant_types: ['authorization_code', 'refresh_token'],
      scopes: ['me', 'items'],
      apis: ['https://items.example.com'],
      cors_origins: [],
      first_party: true,
      application_type: 'web',
      registered_dynamically: false,
      backchannel_logout_uri: 'https://app.example.com/auth/backchannel-logout',
      backchannel_logout_session_required: true,
      managed: false,
      created_at: '2026-01-15T09:30:00.000Z',
      revoked_at: null,
    }),
  },
);

export const NewClient = Type.Object(
  {
    client_id: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9._~-]{1,64}$', description: 'Generated when not given.' })),
    name: Type.String({ minLength: 1, maxLength: 200 }),
    public: Type.Optional(Type.Boolean({ description: 'A public client (browser, native app) has no secret.' })),
    token_endpoint_auth_method: Type.Optional(Enum(['client_secret_basic', 'client_secret_post', 'none'])),
    application_type: Type.Optional(
      Enum(APPLICATION_TYPES, {
        description:
          '`web` (default): redirect URIs are https (http on localhost for development), matched exactly. `native`: a public app on a device (RFC 8252): http on 127.0.0.1 or [::1] with any port at authorization, an app scheme such as com.example.app:/cb, or https.',
      }),
    ),
    grant_types: Type.Array(GrantType, { minItems: 1, uniqueItems: true }),
    redirect_uris: Type.Optional(Urls),
    post_logout_redirect_uris: Type.Optional(Urls),
    scopes: Type.Optional(Scopes),
    apis: Type.Optional(GrantedApis),
    cors_origins: Type.Optional(Urls),
    first_party: Type.Optional(
      Type.Boolean({
        description:
          'Required with the `authorization_code` grant: `true` for your own application (no consent page, refresh tokens always), `false` for anyone else\'s (the user is asked). Clients without that grant are stored as third-party.',
      }),
    ),
    backchannel_logout_uri: Type.Optional(Nullable(Type.String({ minLength: 1, maxLength: 2000, description: 'OpenID Connect Back-Channel Logout 1.0: where the server POSTs a signed logout token when a user\'s session this client took part in ends (https; http on localhost, 127.0.0.1 or [::1]; no fragment). Needs the `authorization_code` grant.' }))),
    backchannel_logout_session_required: Type.Optional(Type.Boolean({ description: 'Back-Channel Logout §2.4: the logout token and this client\'s ID tokens carry `sid`, the session id (default true).' })),
  },
  { additionalProperties: false },
);

export const ClientChanges = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    grant_types: Type.Optional(Type.Array(GrantType, { minItems: 1, uniqueItems: true })),
    redirect_uris: Type.Optional(Urls),
    post_logout_redirect_uris: Type.Optional(Urls),
    scopes: Type.Optional(Scopes),
    apis: Type.Optional(GrantedApis),
    cors_origins: Type.Optional(Urls),
    first_party: Type.Optional(Type.Boolean()),
    backchannel_logout_uri: Type.Optional(Nullable(Type.String({ minLength: 1, maxLength: 2000, description: 'Where logout tokens go; `null` stops them.' }))),
    backchannel_logout_session_required: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false, minProperties: 1, description: 'What may change; the id, type and authentication method never do.' },
);

export const ClientWithSecret = Type.Object(
  {
    client: Client,
    client_secret: Type.Optional(Type.String({ description: 'Shown now and never again (confidential clients only).' })),
  },
  { description: 'The client, and its secret shown once.', ...example({ client: exampleOf(Client), client_secret: 'gatehouse_cs_…' }) },
);

// ── API keys ────────────────────────────────────────────────────────────────────────────────────

const OwnerKind = Enum(['user', 'client']);

export const ApiKey = Type.Object(
  {
    id: Type.String({ description: 'The public part of the key (it appears in the key itself).' }),
    name: Type.String(),
    owner: Type.Object({ kind: Type.String(), id: Type.String() }),
    api: Type.String({ description: 'The identifier of the API the key is for.' }),
    scopes: Type.Array(Type.String()),
    created_at: Timestamp('When the key was created.'),
    expires_at: Nullable(Timestamp('When the key expires; null: never.')),
    last_used_at: Nullable(Timestamp('When the key was last used (recorded every 30 seconds or so).')),
    revoked_at: Nullable(Timestamp('When the key was revoked.')),
  },
  {
    description: 'An API key. The key itself is never returned, except once at creation.',
    ...example({
      id: 'Kx3vQ9mT2pLw',
      name: 'nightly report',
      owner: { kind: 'client', id: 'items-service' },
      api: 'https://items.example.com',
      scopes: ['accounts:read'],
      created_at: '2026-01-15T09:30:00.000Z',
      expires_at: '2027-01-15T09:30:00.000Z',
      last_used_at: '2026-02-01T02:00:04.000Z',
      revoked_at: null,
    }),
  },
);

export const ApiKeyQuery = Type.Object(
  {
    ...Paging,
    owner_kind: Type.Optional(OwnerKind),
    owner_id: Type.Optional(Type.String({ minLength: 1, maxLength: 254, description: 'With owner_kind: only this owner\'s keys.' })),
    api: Type.Optional(Type.String({ maxLength: 2000, description: 'Only keys for the API with this identifier.' })),
    include_revoked: Type.Optional(Type.Boolean({ description: 'Include revoked keys (default false).' })),
  },
  { additionalProperties: false },
);

export const NewApiKey = Type.Object(
  {
    owner: Type.Object(
      { kind: OwnerKind, id: Type.String({ minLength: 1, maxLength: 254, description: 'A user id or username, or a client id.' }) },
      { additionalProperties: false },
    ),
    api: Type.String({ minLength: 1, maxLength: 2000, description: 'The identifier of the API the key is for.' }),
    scopes: Scopes,
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    expires_in: Type.Optional(Type.Integer({ minimum: 60, maximum: 5 * 365 * 86400, description: 'Seconds from now; none means the key does not expire.' })),
  },
  { additionalProperties: false },
);

export const ApiKeyWithKey = Type.Object(
  { api_key: ApiKey, key: Type.String({ description: 'The key: shown now and never again.' }) },
  { description: 'The API key, and the key itself shown once.', ...example({ api_key: exampleOf(ApiKey), key: 'gatehouse_ak_Kx3vQ9mT2pLw_…' }) },
);

// ── signing keys ────────────────────────────────────────────────────────────────────────────────

// Only these members are ever written: public key material and its labels, never `d`, `p`, `q`…
const PublicJwk = Type.Object(
  {
    kty: Type.String(),
    kid: Type.String(),
    alg: Type.String(),
    use: Type.Optional(Type.String()),
    crv: Type.Optional(Type.String()),
    x: Type.Optional(Type.String()),
    y: Type.Optional(Type.String()),
    n: Type.Optional(Type.String()),
    e: Type.Optional(Type.String()),
  },
  { description: 'The public key (JWK).' },
);

export const SigningKey = Type.Object(
  {
    kid: Type.String(),
    alg: Type.String(),
    state: Enum(['next', 'active', 'retired'], {
      description: '`next`: published, signs from activates_at; `active`: signs; `retired`: published until what it signed has expired.',
    }),
    created_at: Timestamp('When the key was generated.'),
    activates_at: Nullable(Timestamp('When a `next` key becomes active.')),
    activated_at: Nullable(Timestamp('When the key became active.')),
    retired_at: Nullable(Timestamp('When the key was retired.')),
    public_jwk: PublicJwk,
  },
  {
    description: 'A signing key, public parts only.',
    ...example({
      kid: 'vT3nq0Jq6cG2x8o4Yd1Zr5WbHkLm9sPaEfUiC7tBwXo',
      alg: 'ES256',
      state: 'active',
      created_at: '2026-01-15T09:30:00.000Z',
      activates_at: null,
      activated_at: '2026-01-15T09:30:00.000Z',
      retired_at: null,
      public_jwk: {
        kty: 'EC',
        kid: 'vT3nq0Jq6cG2x8o4Yd1Zr5WbHkLm9sPaEfUiC7tBwXo',
        alg: 'ES256',
        use: 'sig',
        crv: 'P-256',
        x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU',
        y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0',
      },
    }),
  },
);



export const NewRotation = Type.Object(
  {
    alg: Enum(SIGNING_ALGS),
    activate_in: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 7 * 86400, description: 'Seconds the new key is published before it signs (default GATEHOUSE_KEY_ROTATION_DELAY).' }),
    ),
  },
  { additionalProperties: false },
);

// ── audit ───────────────────────────────────────────────────────────────────────────────────────

export const AuditEvent = Type.Object(
  {
    id: Type.String(),
    at: Timestamp('When it happened.'),
    type: Type.String({ description: 'What happened, e.g. `user.created`, `client.secret_rotated`, `login`.' }),
    outcome: Enum(['success', 'failure']),
    actor: Type.Object({ kind: Type.String({ description: '`user`, `client`, `api_key`, `cli`, `system` or `anonymous`.' }), id: Nullable(Type.String()) }),
    target: Nullable(Type.Object({ kind: Type.String(), id: Type.String() })),
    ip: Nullable(Type.String()),
    details: Type.Object({}, { additionalProperties: true, description: 'Short values about the event; never a secret.' }),
  },
  {
    description: 'An audit event.',
    ...example({
      id: '3e4f5a6b-7c8d-4e9f-a0b1-c2d3e4f5a6b7',
      at: '2026-02-01T14:05:12.000Z',
      type: 'user.updated',
      outcome: 'success',
      actor: { kind: 'user', id: '9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d' },
      target: { kind: 'user', id: '5f0c6a1e-8b2d-4c3f-9a7e-1d2b3c4d5e6f' },
      ip: '203.0.113.7',
      details: { roles: 'user' },
    }),
  },
);

export const AuditQuery = Type.Object(
  {
    ...Paging,
    actor_id: Type.Optional(Type.String({ maxLength: 254 })),
    type: Type.Optional(Type.String({ maxLength: 100 })),
    outcome: Type.Optional(Enum(['success', 'failure'])),
    since: Type.Optional(Type.String({ format: 'date-time', description: 'Only events at or after this time.' })),
    until: Type.Optional(Type.String({ format: 'date-time', description: 'Only events at or before this time.' })),
  },
  { additionalProperties: false },
);

// ── whoami ──────────────────────────────────────────────────────────────────────────────────────

export const Me = Type.Object(
  {
    kind: Enum(['user', 'client', 'api_key']),
    subject: Type.String({ description: 'The user id, the client id, or the API key\'s owner.' }),
    client_id: Nullable(Type.String()),
    api_key_id: Nullable(Type.String()),
    scopes: Type.Array(Type.String()),
    expires_at: Nullable(Timestamp('When the credential expires.')),
  },
  {
    description: 'Who is calling, and with which admin scopes.',
    ...example({
      kind: 'user',
      subject: '9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d',
      client_id: 'gatehouse-admin-docs',
      api_key_id: null,
      scopes: ['admin:users:read', 'admin:users:write'],
      expires_at: '2026-02-01T14:20:12.000Z',
    }),
  },
);
