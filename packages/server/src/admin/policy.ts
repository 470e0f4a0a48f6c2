// Object-level rules of the admin API, checked after the route's scope (the SDK) and after the
// object was found (404 first). The list, and why, is in index.ts's header. Each failure is a
// 403 `forbidden` naming the field or the object, never a secret.
import type { Principal } from '@gatehouse/sdk';
import { GatehouseError } from '../errors.ts';
import { isAdminScope } from './scopes.ts';

/** Whom a credential acts for: the user or client itself, or an API key's owner. */
export interface Identity {
  readonly kind: 'user' | 'client';
  readonly id: string;
}

export function identityOf(principal: Principal): Identity {
  if (principal.kind === 'api_key') {
    return { kind: principal.claims['gatehouse_owner_kind'] === 'client' ? 'client' : 'user', id: principal.subject };
  }
  return { kind: principal.kind, id: principal.subject };
}

/** The API key a principal presented, if it is one. */
export function apiKeyIdOf(principal: Principal): string | undefined {
  const id = principal.claims['gatehouse_key_id'];
  return principal.kind === 'api_key' && typeof id === 'string' ? id : undefined;
}

function beyond(principal: Principal, scopes: Iterable<string>): string[] {
  return [...new Set(scopes)].filter((scope) => isAdminScope(scope) && !principal.scopes.has(scope)).sort();
}

/**
 * No privilege escalation: what the caller creates or hands out (a role's scopes, a client's
 * allowed scopes, a user's roles, an API key's scopes) carries no admin scope the caller's own
 * credential does not hold.
 */
export function assertGrantable(principal: Principal, scopes: Iterable<string>, field: string): void {
  const extra = beyond(principal, scopes);
  if (extra.length > 0) {
    throw new GatehouseError('forbidden', `${field} would grant admin scopes your credential does not hold: ${extra.join(' ')}`, { field });
  }
}

/**
 * No acting on the more privileged: the caller may change, disable, revoke or take the credentials
 * of an object only if every admin scope that object holds is one the caller holds too (setting
 * the password of, or rotating the secret of, a more powerful principal would be escalation).
 */
export function assertManageable(principal: Principal, heldScopes: Iterable<string>, what: string): void {
  const extra = beyond(principal, heldScopes);
  if (extra.length > 0) {
    throw new GatehouseError('forbidden', `${what} holds admin scopes your credential does not hold: ${extra.join(' ')}`);
  }
}

/** Objects Gatehouse manages itself (the admin API, its introspection client) are read-only here. */
export function assertNotManaged(managed: boolean, what: string): void {
  if (managed) throw new GatehouseError('forbidden', `${what} is managed by Gatehouse and cannot be changed through the admin API`);
}

/** Nobody locks themself out: no disabling the user, or revoking or deleting the client, you act as. */
export function assertNotSelf(principal: Principal, target: Identity, action: string): void {
  const self = identityOf(principal);
  if (self.kind === target.kind && self.id === target.id) {
    throw new GatehouseError('forbidden', `you cannot ${action} the ${target.kind} your credential acts for`);
  }
}

/**
 * An API key creating API keys creates none that out-scope or outlive it: every scope of the new
 * key is one of its own, and the new key expires no later than it does.
 */
export function assertWithinApiKey(principal: Principal, scopes: readonly string[], expiresIn: number | undefined, now = Date.now()): void {
  if (principal.kind !== 'api_key') return;
  const extra = [...new Set(scopes)].filter((scope) => !principal.scopes.has(scope)).sort();
  if (extra.length > 0) {
    throw new GatehouseError('forbidden', `an API key cannot create a key with scopes it does not have: ${extra.join(' ')}`, { field: 'scopes' });
  }
  const limit = principal.expiresAt?.getTime();
  if (limit === undefined) return;
  if (expiresIn === undefined || now + expiresIn * 1000 > limit) {
    throw new GatehouseError('forbidden', `an API key cannot create a key that outlives it: expires_in must be at most ${Math.max(0, Math.floor((limit - now) / 1000))} seconds`, {
      field: 'expires_in',
    });
  }
}

/**
 * Not for API keys: what lets someone into an account for good. An API key may expire; a password
 * never does, and an email address it chose (verified or not: the forgot-password page mails any
 * account's address) would let its holder set one long after the key is gone.
 */
export function assertNotApiKey(principal: Principal, what: string, field: string): void {
  if (principal.kind === 'api_key') throw new GatehouseError('forbidden', `an API key cannot ${what}`, { field });
}
