// The admin API's scopes: read and write per resource, so a machine client or an API key can be
// given exactly the access it needs. The admin API is an API in Gatehouse's own `apis` table
// (ensured at start, see bootstrap.ts) and these are its scopes.

export const ADMIN_SCOPES = {
  'admin:users:read': 'List and read users (never their password hashes) and their passkeys (never the keys).',
  'admin:users:write': 'Create users, change their email and roles, disable or enable them, set their passwords, remove their passkeys.',
  'admin:roles:read': 'List and read roles and the scopes they grant.',
  'admin:roles:write': 'Create, change and delete roles (never granting admin scopes you do not hold).',
  'admin:apis:read': 'List and read APIs and their scopes.',
  'admin:apis:write': 'Create, change and delete APIs.',
  'admin:clients:read': 'List and read clients (never their secrets).',
  'admin:clients:write': 'Create, change, revoke and delete clients, and rotate their secrets.',
  'admin:api-keys:read': 'List and read API keys (never the keys themselves).',
  'admin:api-keys:write': 'Create and revoke API keys.',
  'admin:keys:read': 'List signing keys (public parts only).',
  'admin:keys:write': 'Schedule signing-key rotations.',
  'admin:audit:read': 'Read the audit log.',
  'admin:providers:read': 'List the upstream identity providers users may sign in with (never their client secrets).',
  'admin:providers:write': 'Add, enable, disable and delete upstream identity providers.',
  'admin:streams:read': 'List Shared Signals streams and their delivery state.',
  'admin:streams:write': 'Receive security events: create, change, poll and delete your own Shared Signals streams; as an operator, pause, resume and delete any.',
} as const;

export type AdminScope = keyof typeof ADMIN_SCOPES;

export const ADMIN_SCOPE_NAMES = Object.keys(ADMIN_SCOPES) as AdminScope[];

const ADMIN_SCOPE_SET: ReadonlySet<string> = new Set(ADMIN_SCOPE_NAMES);

export function isAdminScope(scope: string): scope is AdminScope {
  return ADMIN_SCOPE_SET.has(scope);
}

/** The admin API's identifier: the audience of the tokens it accepts. */
export function adminApiIdentifier(publicUrl: string): string {
  return `${publicUrl}/admin/api`;
}

/** The confidential client the admin API introspects API keys with (bootstrap.ts). */
export const ADMIN_INTROSPECTION_CLIENT_ID = 'gatehouse-admin-api';
