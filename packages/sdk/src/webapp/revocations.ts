/**
 * Sessions ended by the issuer (OpenID Connect Back-Channel Logout 1.0 §2.7). The session lives in
 * a sealed cookie the server cannot reach, so ending it means remembering, until that cookie could
 * no longer be used anyway, which sessions are over:
 *
 *   - by `sid`: every local session signed in through that issuer session;
 *   - by `sub` (a logout token without `sid`): every session of that user signed in before the
 *     token arrived (a sign-in after it is a new session and stays);
 *   - by `sub`, for sessions that recorded no `sid` (signed in before the client's back-channel URI
 *     was registered, or before the helper kept it), when the token names both: such a session
 *     cannot be told apart, so it ends too.
 *
 * Bounded in memory: each entry expires once every session it could name has ended
 * (`sessionMaxAge` after it was added, the longest a session lives), and at most `maxEntries` are
 * kept per kind; past that, the oldest go first (docs/adr/0013-back-channel-logout.md). Per
 * process: an app run as several instances behind a load balancer needs each instance to receive
 * the logout token, or a shared store.
 */
export interface RevocationBounds {
  /** Milliseconds an entry is kept: the longest a session lives. */
  readonly ttlMs: number;
  /** Entries kept per kind (sid, sub, sub of sessions without sid) at most. */
  readonly maxEntries: number;
  readonly now: () => number;
}

/** What a local session knows about itself. */
export interface SessionIdentity {
  readonly sub: string;
  /** The issuer's session id (the ID token's `sid`), when it sent one. */
  readonly sid: string | undefined;
  /** When the visitor signed in, milliseconds since the epoch. */
  readonly signedInAt: number;
}

export class SessionRevocations {
  readonly #bounds: RevocationBounds;
  /** sid → when the entry expires. */
  readonly #sids = new Map<string, number>();
  /** sub → { sessions signed in before this instant are over; when the entry expires }. */
  readonly #subs = new Map<string, { readonly before: number; readonly expires: number }>();
  /** The same, for sessions without a recorded sid only. */
  readonly #sidlessSubs = new Map<string, { readonly before: number; readonly expires: number }>();

  constructor(bounds: RevocationBounds) {
    this.#bounds = bounds;
  }

  revokeSid(sid: string): void {
    this.#sids.delete(sid);
    this.#sids.set(sid, this.#bounds.now() + this.#bounds.ttlMs);
    this.#trim(this.#sids, (expires) => expires);
  }

  /** Every session of `sub` signed in until now; with `sidless`, only those that recorded no sid. */
  revokeSub(sub: string, options: { sidless?: boolean } = {}): void {
    const now = this.#bounds.now();
    const map = options.sidless ? this.#sidlessSubs : this.#subs;
    map.delete(sub);
    map.set(sub, { before: now, expires: now + this.#bounds.ttlMs });
    this.#trim(map, (entry) => entry.expires);
  }

  isRevoked(session: SessionIdentity): boolean {
    const now = this.#bounds.now();
    if (session.sid !== undefined) {
      const expires = this.#sids.get(session.sid);
      if (expires !== undefined && expires > now) return true;
    }
    const covers = (entry: { before: number; expires: number } | undefined) => entry !== undefined && entry.expires > now && session.signedInAt <= entry.before;
    return covers(this.#subs.get(session.sub)) || (session.sid === undefined && covers(this.#sidlessSubs.get(session.sub)));
  }

  /** How many entries are kept (for tests and status). */
  get size(): number {
    return this.#sids.size + this.#subs.size + this.#sidlessSubs.size;
  }

  /** Drops expired entries, then the oldest while over the bound (Maps iterate in insertion order). */
  #trim<V>(map: Map<string, V>, expiry: (value: V) => number): void {
    if (map.size <= this.#bounds.maxEntries) return;
    const now = this.#bounds.now();
    for (const [key, value] of map) if (expiry(value) <= now) map.delete(key);
    for (const key of map.keys()) {
      if (map.size <= this.#bounds.maxEntries) break;
      map.delete(key);
    }
  }
}

/** Logout-token ids already used (§2.6 step 6: a token is accepted once), bounded like the above. */
export class SeenTokenIds {
  readonly #seen = new Map<string, number>();
  readonly #bounds: RevocationBounds;

  constructor(bounds: RevocationBounds) {
    this.#bounds = bounds;
  }

  /** True the first time `jti` is seen (within its lifetime), false on a replay. */
  firstUse(jti: string): boolean {
    const now = this.#bounds.now();
    const expires = this.#seen.get(jti);
    if (expires !== undefined && expires > now) return false;
    this.#seen.delete(jti);
    this.#seen.set(jti, now + this.#bounds.ttlMs);
    if (this.#seen.size > this.#bounds.maxEntries) {
      for (const [key, at] of this.#seen) if (at <= now) this.#seen.delete(key);
      for (const key of this.#seen.keys()) {
        if (this.#seen.size <= this.#bounds.maxEntries) break;
        this.#seen.delete(key);
      }
    }
    return true;
  }
}
