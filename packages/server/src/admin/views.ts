// Repository objects as the admin API writes them (snake_case, like the rest of Gatehouse's JSON
// and the field names errors report). The response schemas then drop anything not listed.
import type { Static } from 'typebox';
import type { Api } from '../storage/apis.ts';
import type { ApiKey } from '../storage/api-keys.ts';
import type { AuditEvent } from '../storage/audit.ts';
import type { Client } from '../storage/clients.ts';
import type { SigningKey } from '../storage/keys.ts';
import type { Passkey } from '../storage/passkeys.ts';
import type { Page } from '../storage/rows.ts';
import type { Role } from '../storage/roles.ts';
import type { User } from '../storage/users.ts';
import type * as S from './schemas.ts';

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export function pageView<T, V>(page: Page<T>, view: (item: T) => V): { items: V[]; total: number; limit: number; offset: number } {
  return { items: page.items.map(view), total: page.total, limit: page.limit, offset: page.offset };
}

/** A passkey as the admin API shows it: never its public key or credential id. */
export function passkeyView(passkey: Passkey): Static<typeof S.Passkey> {
  return { id: passkey.id, name: passkey.name, created_at: passkey.createdAt, last_used_at: passkey.lastUsedAt };
}

export function userView(user: User): Static<typeof S.User> {
  return {
    id: user.id,
    username: user.username,
    email: user.email,
    email_verified: user.emailVerified,
    disabled: user.disabled,
    self_registered: user.selfRegistered,
    two_factor: user.twoFactor,
    roles: [...user.roles],
    created_at: user.createdAt,
    updated_at: user.updatedAt,
  };
}

export function roleView(role: Role): Static<typeof S.Role> {
  return { id: role.id, name: role.name, description: role.description, scopes: [...role.scopes], created_at: role.createdAt };
}

export function apiView(api: Api, managed: boolean): Static<typeof S.Api> {
  return {
    id: api.id,
    identifier: api.identifier,
    name: api.name,
    scopes: api.scopes.map((s) => ({ name: s.name, description: s.description })),
    access_token_ttl: api.accessTokenTtl,
    signing_alg: api.signingAlg,
    open_to_dynamic_clients: api.openToDynamicClients,
    managed,
    created_at: api.createdAt,
  };
}

export function clientView(client: Client, managed: boolean): Static<typeof S.Client> {
  return {
    client_id: client.clientId,
    name: client.name,
    type: client.type,
    token_endpoint_auth_method: client.tokenEndpointAuthMethod,
    redirect_uris: [...client.redirectUris],
    post_logout_redirect_uris: [...client.postLogoutRedirectUris],
    grant_types: [...client.grantTypes],
    scopes: [...client.scopes],
    apis: [...client.apis],
    cors_origins: [...client.corsOrigins],
    first_party: client.firstParty,
    application_type: client.applicationType,
    registered_dynamically: client.registeredDynamically,
    backchannel_logout_uri: client.backchannelLogoutUri,
    backchannel_logout_session_required: client.backchannelLogoutSessionRequired,
    managed,
    created_at: client.createdAt,
    revoked_at: client.revokedAt,
  };
}

export function apiKeyView(key: ApiKey): Static<typeof S.ApiKey> {
  return {
    id: key.id,
    name: key.name,
    owner: { kind: key.owner.kind, id: key.owner.id },
    api: key.api,
    scopes: [...key.scopes],
    created_at: key.createdAt,
    expires_at: key.expiresAt,
    last_used_at: key.lastUsedAt,
    revoked_at: key.revokedAt,
  };
}

const PUBLIC_JWK_MEMBERS = ['kty', 'kid', 'alg', 'use', 'crv', 'x', 'y', 'n', 'e'] as const;

export function signingKeyView(key: SigningKey): Static<typeof S.SigningKey> {
  // Copied member by member from a fixed list: nothing private can come along (and the response
  // schema would drop it anyway).
  const jwk: Record<string, string> = {};
  for (const member of PUBLIC_JWK_MEMBERS) {
    const value = (key.privateJwk as Record<string, unknown>)[member];
    if (typeof value === 'string') jwk[member] = value;
  }
  return {
    kid: key.kid,
    alg: key.alg,
    state: key.state,
    created_at: iso(key.createdAt)!,
    activates_at: iso(key.activatesAt),
    activated_at: iso(key.activatedAt),
    retired_at: iso(key.retiredAt),
    public_jwk: { ...jwk, kty: jwk.kty ?? '', kid: key.kid, alg: key.alg },
  };
}

export function auditView(event: AuditEvent): Static<typeof S.AuditEvent> {
  return {
    id: event.id,
    at: event.at,
    type: event.type,
    outcome: event.outcome,
    actor: { kind: event.actor.kind, id: event.actor.id },
    target: event.target,
    ip: event.ip,
    details: { ...event.details },
  };
}
