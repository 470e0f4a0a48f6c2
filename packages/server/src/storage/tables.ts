// The database schema as Kysely sees it. Timestamps are epoch milliseconds (BIGINT) and
// booleans are 0/1 integers on both SQLite and PostgreSQL, so the same queries and the same
// migrations run on both.
import type { Generated } from 'kysely';

export interface UsersTable {
  id: string;
  username: string;
  email: string | null;
  password_hash: string | null;
  disabled: number;
  email_verified: number;
  created_at: number;
  updated_at: number;
  self_registered: number;
  totp_secret: string | null;
  totp_pending_secret: string | null;
  totp_enabled_at: number | null;
  totp_last_step: number | null;
}

export interface AccountTokensTable {
  id: string;
  purpose: 'verify_email' | 'reset_password';
  user_id: string;
  email: string;
  return_to: string | null;
  created_at: number;
  expires_at: number;
  consumed_at: number | null;
}

export interface RecoveryCodesTable {
  user_id: string;
  code_hash: string;
  created_at: number;
  used_at: number | null;
}

/** WebAuthn credentials (migration 009): public keys only. */
export interface PasskeysTable {
  id: string;
  user_id: string;
  /** base64url, as the authenticator names it. */
  credential_id: string;
  /** The COSE public key, base64url. */
  public_key: string;
  sign_count: number;
  /** JSON array of transport names. */
  transports: string;
  name: string;
  created_at: number;
  last_used_at: number | null;
}

export interface RolesTable {
  id: string;
  name: string;
  description: string | null;
  created_at: number;
}

export interface RoleScopesTable {
  role_id: string;
  scope: string;
}

export interface UserRolesTable {
  user_id: string;
  role_id: string;
}

export interface ApisTable {
  id: string;
  identifier: string;
  name: string;
  access_token_ttl: number | null;
  signing_alg: string | null;
  created_at: number;
  /** 1: dynamically registered clients are granted this API (migration 007). */
  open_to_dynamic_clients: number;
}

export interface ApiScopesTable {
  api_id: string;
  name: string;
  description: string | null;
}

export interface ClientsTable {
  id: string;
  name: string;
  type: 'public' | 'confidential';
  secret_hash: string | null;
  token_endpoint_auth_method: string;
  /** JSON arrays of strings. */
  redirect_uris: string;
  post_logout_redirect_uris: string;
  grant_types: string;
  scopes: string;
  cors_origins: string;
  first_party: number;
  created_at: number;
  updated_at: number;
  revoked_at: number | null;
  /** OpenID Connect Registration §2: `native` apps may use any loopback port (RFC 8252 §7.3). */
  application_type: 'web' | 'native';
  /** 1: registered through RFC 7591 dynamic registration (migration 007). */
  registered_dynamically: number;
  /** OpenID Connect Back-Channel Logout: where logout tokens go; null sends none (migration 008). */
  backchannel_logout_uri: string | null;
  /** 1: the logout token and ID tokens carry `sid` (Back-Channel Logout §2.4; the default). */
  backchannel_logout_session_required: number;
}

/** The APIs a client may get tokens for (its `resource` values); nothing else is issued to it. */
export interface ClientApisTable {
  client_id: string;
  api_id: string;
}

export interface SigningKeysTable {
  kid: string;
  alg: string;
  private_jwk: string;
  state: 'next' | 'active' | 'retired';
  created_at: number;
  activated_at: number | null;
  retired_at: number | null;
  activates_at: number | null;
}

export interface ServerSecretsTable {
  purpose: string;
  id: string;
  secret: string;
  created_at: number;
}

/** Everything oidc-provider persists (sessions, grants, codes, refresh tokens, interactions…). */
export interface OidcPayloadsTable {
  model: string;
  /** SHA-256 of the identifier: a stolen database holds no usable codes, tokens or session ids. */
  id: string;
  payload: string;
  grant_id: string | null;
  client_id: string | null;
  account_id: string | null;
  uid: string | null;
  user_code: string | null;
  expires_at: number | null;
  consumed_at: number | null;
}

/** Token responses kept for the refresh-token reuse grace window, encrypted under the used token. */
export interface RefreshReusesTable {
  token_hash: string;
  client_id: string;
  response: string;
  expires_at: number;
}

export interface ApiKeysTable {
  id: string;
  secret_hash: string;
  name: string;
  owner_kind: 'user' | 'client';
  user_id: string | null;
  client_id: string | null;
  api_id: string;
  /** JSON array of scope names. */
  scopes: string;
  created_at: number;
  expires_at: number | null;
  last_used_at: number | null;
  revoked_at: number | null;
}

export interface AuditEventsTable {
  id: string;
  at: number;
  type: string;
  outcome: 'success' | 'failure';
  actor_kind: string;
  actor_id: string | null;
  target_kind: string | null;
  target_id: string | null;
  ip: string | null;
  /** JSON object; never a secret. */
  details: string;
}

export interface AccessTokensTable {
  jti_hash: string;
  grant_id: string | null;
  account_id: string | null;
  client_id: string;
  expires_at: number;
  revoked_at: number | null;
}

export interface SecurityEventsTable {
  seq: number;
  jti: string;
  type: string;
  subject: string;
  payload: string;
  stream_id: string | null;
  occurred_at: number;
}

export interface SsfStreamsTable {
  id: string;
  client_id: string;
  description: string | null;
  delivery_method: string;
  endpoint_url: string | null;
  authorization_header: string | null;
  events_requested: string;
  status: string;
  status_reason: string | null;
  cursor: number;
  created_at: number;
  updated_at: number;
  last_delivery_at: number | null;
  last_poll_at: number | null;
  failures: Generated<number>;
  next_attempt_at: number | null;
  last_error: string | null;
  lease_owner: string | null;
  lease_until: number | null;
}

export interface UpstreamProvidersTable {
  id: string;
  name: string;
  kind: string;
  issuer: string;
  client_id: string;
  client_secret: string;
  scopes: string;
  trust_mfa: Generated<number>;
  roles: Generated<string>;
  role_claim: string | null;
  role_map: Generated<string>;
  enabled: Generated<number>;
  created_at: number;
}

export interface UpstreamIdentitiesTable {
  id: string;
  provider_id: string;
  subject: string;
  user_id: string;
  email: string | null;
  created_at: number;
  last_used_at: number | null;
}

export interface Database {
  users: UsersTable;
  roles: RolesTable;
  role_scopes: RoleScopesTable;
  user_roles: UserRolesTable;
  apis: ApisTable;
  api_scopes: ApiScopesTable;
  clients: ClientsTable;
  client_apis: ClientApisTable;
  signing_keys: SigningKeysTable;
  server_secrets: ServerSecretsTable;
  oidc_payloads: OidcPayloadsTable;
  refresh_reuses: RefreshReusesTable;
  api_keys: ApiKeysTable;
  audit_events: AuditEventsTable;
  access_tokens: AccessTokensTable;
  account_tokens: AccountTokensTable;
  recovery_codes: RecoveryCodesTable;
  passkeys: PasskeysTable;
  security_events: SecurityEventsTable;
  ssf_streams: SsfStreamsTable;
  upstream_providers: UpstreamProvidersTable;
  upstream_identities: UpstreamIdentitiesTable;
}

export type { Generated };
