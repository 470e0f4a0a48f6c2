/**
 * Scope values: what a scope token may contain, how a token's scopes are read, and the
 * immutable set a principal carries.
 */

/** RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ). */
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;

export function isScopeToken(value: unknown): value is string {
  return typeof value === 'string' && SCOPE_TOKEN.test(value);
}

/**
 * Reads granted scopes: the `scope` claim (RFC 9068 §2.2.3, RFC 7662 §2.2: space-delimited) or,
 * when it is absent, an `scp` claim (array, or string as some issuers send). Values are compared
 * exactly and case-sensitively later, so they are kept verbatim.
 * Returns undefined when the claim has the wrong type (the token is then malformed).
 */
export function readScopes(claims: { scope?: unknown; scp?: unknown }): ReadonlySet<string> | undefined {
  if (claims.scope !== undefined) {
    if (typeof claims.scope !== 'string') return undefined;
    return scopeSet(claims.scope.split(' ').filter((value) => value !== ''));
  }
  if (claims.scp !== undefined) {
    if (typeof claims.scp === 'string') return scopeSet(claims.scp.split(' ').filter((value) => value !== ''));
    if (!Array.isArray(claims.scp) || !claims.scp.every((value) => typeof value === 'string')) return undefined;
    return scopeSet(claims.scp as string[]);
  }
  return scopeSet([]);
}

/**
 * A set that refuses changes after construction: principals are cached and shared between
 * requests, so a handler must not be able to grant a scope to the next caller.
 */
class FrozenScopeSet extends Set<string> {
  #sealed = false;
  constructor(values: Iterable<string>) {
    // Set's own constructor would call the overridden add() before #sealed exists.
    super();
    for (const value of values) super.add(value);
    this.#sealed = true;
  }
  override add(value: string): this {
    if (this.#sealed) throw new TypeError('A principal\'s scopes cannot be changed');
    return super.add(value);
  }
  override delete(): boolean {
    throw new TypeError('A principal\'s scopes cannot be changed');
  }
  override clear(): void {
    throw new TypeError('A principal\'s scopes cannot be changed');
  }
}

export function scopeSet(values: Iterable<string>): ReadonlySet<string> {
  return new FrozenScopeSet(values);
}
