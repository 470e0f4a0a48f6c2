// Which scopes a token may carry. A user token carries only scopes that were requested, that
// the client may ask for, that the user's roles grant and that the API defines; a client token
// only what the client may ask for and the API defines. Scopes outside that set are dropped
// (RFC 6749 §3.3 lets the server issue fewer scopes than requested) and the token response's
// `scope` says what was granted.

/** OpenID Connect scopes: they shape the ID token and userinfo, not API access. */
export const OIDC_SCOPES: ReadonlySet<string> = new Set(['openid', 'profile', 'email', 'offline_access']);

export function splitScope(scope: unknown): string[] {
  return typeof scope === 'string' ? [...new Set(scope.split(' ').filter(Boolean))] : [];
}

/** The API scopes a client may hold for an API: the API's scopes it is allowed to ask for. */
export function clientApiScopes(apiScopes: readonly string[], clientScopes: readonly string[]): string[] {
  const allowed = new Set(clientScopes);
  return apiScopes.filter((scope) => allowed.has(scope));
}

export interface UserScopeDecision {
  readonly granted: string[];
  /** Requested and available to the client, but not granted by the user's roles. */
  readonly rejected: string[];
}

/**
 * Splits what was requested for an API into what the user gets and what is refused.
 * `available` is the API's scopes the client may ask for (the resource server's scopes).
 */
export function decideUserScopes(requested: Iterable<string>, available: ReadonlySet<string>, roleScopes: ReadonlySet<string>): UserScopeDecision {
  const granted: string[] = [];
  const rejected: string[] = [];
  for (const scope of new Set(requested)) {
    if (!available.has(scope)) continue;
    (roleScopes.has(scope) ? granted : rejected).push(scope);
  }
  return { granted, rejected };
}
