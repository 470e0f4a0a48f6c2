/**
 * What security events revoked (docs/adr/0016-shared-signals.md, docs/sdk.md "Revocation"): a
 * JWT access token is checked locally, so once the issuer says a user's sessions, a grant or a
 * client's tokens are revoked, the SDK itself must refuse the tokens issued before that moment
 * until they expire. An entry is (who, cutoff): tokens of that user, user with client, or client
 * whose `iat` is at or before the cutoff are refused; tokens issued after it are not.
 *
 * Bounded: at most `maxEntries`; an entry is dropped after `retentionSec` (longer than any access
 * token lives). When the bound forces out an entry early, its cutoff becomes a floor under which
 * every token is refused: memory stays bounded, and the SDK refuses more, never accepts more.
 */
import type { Claims } from './principal.ts';

export interface RevocationsOptions {
  readonly maxEntries: number;
  readonly retentionSec: number;
}

export type RevokedSubject =
  | { readonly kind: 'user'; readonly sub: string }
  | { readonly kind: 'grant'; readonly sub: string; readonly clientId: string }
  | { readonly kind: 'client'; readonly clientId: string };

export class Revocations {
  readonly #options: RevocationsOptions;
  /** key → cutoff (seconds); Map order is insertion order, oldest first. */
  readonly #entries = new Map<string, number>();
  #floor = Number.NEGATIVE_INFINITY;

  constructor(options: RevocationsOptions) {
    this.#options = options;
  }

  /** 0 when nothing is revoked: the hot path reads only this. */
  get size(): number {
    return this.#entries.size + (this.#floor === Number.NEGATIVE_INFINITY ? 0 : 1);
  }

  revoke(subject: RevokedSubject, cutoffSec: number, nowSec: number): void {
    this.prune(nowSec);
    const key = keyOf(subject);
    const previous = this.#entries.get(key);
    if (previous !== undefined && previous >= cutoffSec) return;
    this.#entries.delete(key);
    this.#entries.set(key, cutoffSec);
    while (this.#entries.size > this.#options.maxEntries) {
      const [oldest, cutoff] = this.#entries.entries().next().value as [string, number];
      this.#entries.delete(oldest);
      this.#floor = Math.max(this.#floor, cutoff);
    }
  }

  /** Whether a token with these claims was issued before a revocation that names it. */
  refuses(claims: Readonly<Claims>): boolean {
    const iat = typeof claims.iat === 'number' ? claims.iat : Number.NEGATIVE_INFINITY;
    if (this.#floor !== Number.NEGATIVE_INFINITY && iat <= this.#floor) return true;
    if (this.#entries.size === 0) return false;
    const sub = claims.sub;
    const clientId = claims.client_id;
    return (
      (sub !== undefined && iat <= (this.#entries.get(`u\n${sub}`) ?? Number.NEGATIVE_INFINITY)) ||
      (clientId !== undefined && iat <= (this.#entries.get(`c\n${clientId}`) ?? Number.NEGATIVE_INFINITY)) ||
      (sub !== undefined && clientId !== undefined && iat <= (this.#entries.get(`g\n${sub}\n${clientId}`) ?? Number.NEGATIVE_INFINITY))
    );
  }

  /** Drops entries older than the retention: every token they could refuse has expired. */
  prune(nowSec: number): void {
    const before = nowSec - this.#options.retentionSec;
    for (const [key, cutoff] of this.#entries) {
      if (cutoff >= before) break;
      this.#entries.delete(key);
    }
    if (this.#floor < before) this.#floor = Number.NEGATIVE_INFINITY;
  }
}

function keyOf(subject: RevokedSubject): string {
  switch (subject.kind) {
    case 'user':
      return `u\n${subject.sub}`;
    case 'client':
      return `c\n${subject.clientId}`;
    case 'grant':
      return `g\n${subject.sub}\n${subject.clientId}`;
  }
}
