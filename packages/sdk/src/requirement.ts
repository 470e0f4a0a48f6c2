/**
 * What a route requires (scopes, principal kinds, credential sources, optional authentication),
 * validated once when the route is declared, and the check of a principal against it.
 */
import { SOURCE_NAMES, type SourceName } from './credentials.ts';
import { AuthError } from './errors.ts';
import { PRINCIPAL_KINDS, type Principal, type PrincipalKind } from './principal.ts';
import { isScopeToken } from './scopes.ts';

export interface AuthRequirement {
  /** Every one of these scopes is required (exact, case-sensitive). */
  readonly scopes?: readonly string[];
  /** At least one of these scopes is required. */
  readonly anyScopes?: readonly string[];
  /** Principal kinds allowed; `['user']` keeps client-credentials tokens and API keys out. Default: all. */
  readonly kinds?: readonly PrincipalKind[];
  /** Credential sources accepted; default: the authenticator's `defaultSources`. */
  readonly sources?: readonly SourceName[];
  /** With no credential at all, continue without a principal instead of answering 401. */
  readonly optional?: boolean;
}

/** A requirement checked against the authenticator's configuration; build with `authenticator.requirement()`. */
export class ResolvedRequirement {
  readonly scopes: readonly string[];
  readonly anyScopes: readonly string[];
  readonly kinds: ReadonlySet<PrincipalKind>;
  readonly sources: ReadonlySet<SourceName>;
  readonly optional: boolean;

  constructor(input: AuthRequirement, enabledSources: ReadonlySet<SourceName>, defaultSources: ReadonlySet<SourceName>, label: string) {
    if (typeof input !== 'object' || input === null) throw new TypeError(`${label}: expected an object`);
    this.scopes = scopeList(input.scopes, `${label}.scopes`);
    this.anyScopes = scopeList(input.anyScopes, `${label}.anyScopes`);
    this.kinds = memberSet(input.kinds, PRINCIPAL_KINDS, `${label}.kinds`);
    const sources = memberSet(input.sources, SOURCE_NAMES, `${label}.sources`, defaultSources);
    for (const source of sources) {
      if (!enabledSources.has(source)) {
        throw new TypeError(`${label}.sources: '${source}' is not enabled in the authenticator's credentials option`);
      }
    }
    this.sources = sources;
    if (input.optional !== undefined && typeof input.optional !== 'boolean') {
      throw new TypeError(`${label}.optional: expected a boolean`);
    }
    this.optional = input.optional ?? false;
    Object.freeze(this);
  }
}

function scopeList(value: readonly string[] | undefined, label: string): readonly string[] {
  if (value === undefined) return Object.freeze([]);
  if (!Array.isArray(value)) throw new TypeError(`${label}: expected an array of scope strings`);
  for (const [index, scope] of value.entries()) {
    if (!isScopeToken(scope)) {
      throw new TypeError(`${label}[${index}]: a scope is a non-empty string without spaces, quotes or backslashes (RFC 6749 §3.3)`);
    }
  }
  return Object.freeze([...new Set(value)]);
}

function memberSet<T extends string>(value: readonly T[] | undefined, allowed: readonly T[], label: string, fallback?: ReadonlySet<T>): ReadonlySet<T> {
  if (value === undefined) return fallback ?? new Set(allowed);
  if (!Array.isArray(value) || value.length === 0) throw new TypeError(`${label}: expected a non-empty array of ${allowed.join(', ')}`);
  for (const [index, item] of value.entries()) {
    if (!allowed.includes(item)) throw new TypeError(`${label}[${index}]: expected one of ${allowed.join(', ')}`);
  }
  return new Set(value);
}

/** 403 unless the principal is of an allowed kind and holds the required scopes. */
export function authorize(principal: Principal, requirement: ResolvedRequirement): void {
  const scheme = principal.kind === 'api_key' ? 'ApiKey' : 'Bearer';

  // kinds: a client acting for itself must not pass where a user is required. Auth0's claim
  // checks answer this case with insufficient_scope too: the credential lacks a privilege.
  if (!requirement.kinds.has(principal.kind)) {
    throw new AuthError('insufficient_scope', `This route does not accept ${describeKind(principal.kind)} credentials`, { scheme });
  }

  // all-of: RFC 6750 §3.1 insufficient_scope, listing every scope the route requires.
  if (requirement.scopes.some((scope) => !principal.scopes.has(scope))) {
    throw new AuthError('insufficient_scope', 'The credential lacks a scope this route requires', {
      scheme,
      requiredScopes: requirement.scopes,
    });
  }

  // any-of: the alternatives are listed; one of them is enough.
  if (requirement.anyScopes.length > 0 && !requirement.anyScopes.some((scope) => principal.scopes.has(scope))) {
    throw new AuthError('insufficient_scope', 'The credential needs one of the listed scopes', {
      scheme,
      requiredScopes: requirement.anyScopes,
    });
  }
}

function describeKind(kind: PrincipalKind): string {
  return kind === 'api_key' ? 'API key' : kind;
}
