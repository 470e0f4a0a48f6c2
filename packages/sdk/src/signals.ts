/**
 * The Shared Signals receiver (docs/sdk.md "Revocation", the server's docs/adr/0016-shared-signals.md):
 * with the `signals` option, the authenticator creates a stream at the issuer (SSF 1.0) and hears
 * of revocations as they happen, instead of when a token expires or a cache entry ages out.
 *
 * - Poll (RFC 8936, the default): a loop keeps one held poll open at the issuer, acknowledging
 *   what it received. Works wherever the API can reach the issuer.
 * - Push (RFC 8935): the issuer POSTs each event to `signals.push.url`; the adapter mounts the
 *   route. The stream's Authorization header is a random secret made at each start.
 *
 * Each SET is verified like a token, against the issuer's JWKS: `iss`, `aud` (this receiver's
 * client id), `typ` secevent+jwt, one event; a `jti` seen before is acknowledged and ignored.
 * The authenticator then drops what the event names from its caches and refuses the JWTs it
 * revoked (revocations.ts). While the stream is down, caches keep their configured TTLs (never
 * more), and `status()` says so.
 */
import { jwtVerify, type JWTHeaderParameters, type JWTPayload } from 'jose';
import type { KeyStore } from './jwks.ts';
import type { JwsAlgorithm } from './algorithms.ts';
import { formEncode } from './introspect.ts';
import { LruCache } from './lru.ts';
import type { RevokedSubject } from './revocations.ts';
import { fetchJson, isObject, UpstreamError, type FetchLike } from './upstream.ts';

export const PUSH_METHOD = 'urn:ietf:rfc:8935';
export const POLL_METHOD = 'urn:ietf:rfc:8936';

const CAEP = 'https://schemas.openid.net/secevent/caep/event-type/';
const RISC = 'https://schemas.openid.net/secevent/risc/event-type/';
const SSF = 'https://schemas.openid.net/secevent/ssf/event-type/';

/** What one event means to this API. */
export type SignalEffect =
  /** Tokens of this user, grant or client issued at or before `at` (seconds) are revoked. */
  | { readonly kind: 'revoke'; readonly subject: RevokedSubject; readonly at: number }
  /** An API key was revoked: its cached introspection answer goes. */
  | { readonly kind: 'api-key'; readonly keyId: string }
  /** The issuer's signing keys changed: fetch the JWKS again. */
  | { readonly kind: 'keys' }
  | { readonly kind: 'verification'; readonly state: string | undefined }
  | { readonly kind: 'stream'; readonly status: string }
  | { readonly kind: 'none' };

export interface SignalsStatus {
  /** `off`: no signals option. `starting`: the stream is being set up. `connected`: events arrive. `down`: they do not (caches keep their TTLs). */
  readonly state: 'off' | 'starting' | 'connected' | 'down';
  readonly delivery?: 'poll' | 'push';
  readonly streamId?: string;
  /** Events received and applied since start. */
  readonly events: number;
  readonly lastEventAt?: Date;
  /** Why it is down. */
  readonly error?: string;
}

export interface ResolvedSignals {
  readonly delivery: 'poll' | 'push';
  /** Push: the absolute URL the issuer POSTs to; the adapter mounts its path. */
  readonly pushUrl: string | undefined;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly description: string;
  readonly retentionSec: number;
  readonly maxRevocations: number;
}

export interface SignalReceiverOptions {
  readonly issuer: string;
  readonly signals: ResolvedSignals;
  readonly fetch: FetchLike;
  readonly timeoutMs: number;
  readonly clockToleranceSec: number;
  readonly now: () => number;
  readonly keys: KeyStore;
  readonly algorithms: readonly JwsAlgorithm[];
  /** The token endpoint (from discovery). */
  readonly tokenEndpoint: () => Promise<string>;
  readonly apply: (effect: SignalEffect) => void;
  readonly onError: (error: Error) => void;
}

export type ReceiveOutcome = { readonly ok: true } | { readonly ok: false; readonly status: 400 | 401; readonly err: string; readonly description: string };

/** How long the issuer may hold a poll, beyond the usual timeout. */
const POLL_HOLD_MS = 15_000;
const MAX_BACKOFF_MS = 30_000;

export class SignalReceiver {
  readonly #options: SignalReceiverOptions;
  readonly #seen = new LruCache<true>(10_000);
  #state: SignalsStatus['state'] = 'starting';
  #streamId: string | undefined;
  #pollUrl: string | undefined;
  #events = 0;
  #lastEventAt: Date | undefined;
  #error: string | undefined;
  #token: { value: string; until: number } | undefined;
  #pushSecret: string | undefined;
  #loop: Promise<void> | undefined;
  #stop = new AbortController();
  #started: Promise<void> | undefined;

  constructor(options: SignalReceiverOptions) {
    this.#options = options;
  }

  status(): SignalsStatus {
    return Object.freeze({
      state: this.#state,
      delivery: this.#options.signals.delivery,
      ...(this.#streamId !== undefined ? { streamId: this.#streamId } : {}),
      events: this.#events,
      ...(this.#lastEventAt !== undefined ? { lastEventAt: this.#lastEventAt } : {}),
      ...(this.#error !== undefined ? { error: this.#error } : {}),
    });
  }

  /**
   * Creates the stream and, for poll, starts the loop. Resolves once the stream exists, or rejects
   * with why it could not be made (the loop keeps trying for poll; call again for push).
   */
  start(): Promise<void> {
    this.#started ??= this.#begin();
    return this.#started;
  }

  async #begin(): Promise<void> {
    try {
      await this.#ensureStream();
    } catch (error) {
      this.#down(error);
      if (this.#options.signals.delivery === 'poll') this.#loop = this.#pollLoop();
      else this.#started = undefined;
      throw error;
    }
    if (this.#options.signals.delivery === 'poll') this.#loop = this.#pollLoop();
    else this.#state = 'connected';
  }

  /** Stops polling and deletes the stream (best effort: the issuer drops abandoned poll streams anyway). */
  async close(): Promise<void> {
    this.#stop.abort();
    await this.#loop;
    const id = this.#streamId;
    this.#streamId = undefined;
    this.#state = 'down';
    this.#error = 'closed';
    if (id === undefined) return;
    try {
      await this.#call('DELETE', `/ssf/streams?stream_id=${encodeURIComponent(id)}`, undefined, this.#options.timeoutMs, false, false);
    } catch {
      // Closing anyway.
    }
  }

  /** A pushed SET (RFC 8935): verified and applied, or the RFC 8935 error to answer. */
  async receive(set: string, authorization: string | undefined): Promise<ReceiveOutcome> {
    if (this.#pushSecret === undefined || authorization === undefined || !constantTimeEqual(authorization, `Bearer ${this.#pushSecret}`)) {
      return { ok: false, status: 401, err: 'authentication_failed', description: 'The push did not carry this stream\'s authorization' };
    }
    return this.#accept(set);
  }

  async #accept(set: string): Promise<ReceiveOutcome> {
    const verified = await verifySet(set, {
      issuer: this.#options.issuer,
      audience: this.#options.signals.clientId,
      keys: this.#options.keys,
      algorithms: this.#options.algorithms,
      clockToleranceSec: this.#options.clockToleranceSec,
    });
    if (!verified.ok) return verified;
    const now = this.#options.now();
    if (this.#seen.get(verified.jti, now) === true) return { ok: true };
    const effect = effectOf(verified.type, verified.event, verified.subject, this.#options.issuer, verified.iat);
    this.#options.apply(effect);
    if (effect.kind === 'stream') this.#state = effect.status === 'enabled' ? 'connected' : 'down';
    this.#seen.set(verified.jti, true, now + 24 * 3600_000, now);
    this.#events++;
    this.#lastEventAt = new Date(now);
    return { ok: true };
  }

  async #pollLoop(): Promise<void> {
    let ack: string[] = [];
    let setErrs: Record<string, { err: string; description: string }> = {};
    let failures = 0;
    while (!this.#stop.signal.aborted) {
      try {
        await this.#ensureStream();
        const { body } = await this.#call('POST', this.#pollUrl!, { ack, setErrs, returnImmediately: false, maxEvents: 50 }, this.#options.timeoutMs + POLL_HOLD_MS);
        ack = [];
        setErrs = {};
        if (!isObject(body) || !isObject(body.sets)) throw new UpstreamError('signals', 'the poll answer has no sets');
        if (this.#state !== 'connected') this.#state = 'connected';
        this.#error = undefined;
        failures = 0;
        for (const [jti, set] of Object.entries(body.sets)) {
          const outcome = typeof set === 'string' ? await this.#accept(set) : ({ ok: false, status: 400, err: 'invalid_request', description: 'not a SET' } as const);
          if (outcome.ok) ack.push(jti);
          else setErrs[jti] = { err: outcome.err, description: outcome.description };
        }
      } catch (error) {
        if (this.#stop.signal.aborted) return;
        this.#down(error);
        // A stream deleted or lost at the issuer is made again.
        if (error instanceof StreamGone) this.#streamId = undefined;
        failures++;
        await pause(Math.min(MAX_BACKOFF_MS, 250 * 2 ** Math.min(failures, 10)), this.#stop.signal);
      }
    }
  }

  #down(error: unknown): void {
    this.#state = 'down';
    this.#error = error instanceof Error ? error.message : String(error);
    this.#options.onError(error instanceof Error ? error : new Error(String(error)));
  }

  async #ensureStream(): Promise<void> {
    if (this.#streamId !== undefined) return;
    const { signals } = this.#options;
    let delivery: Record<string, string>;
    if (signals.delivery === 'push') {
      this.#pushSecret = randomSecret();
      delivery = { method: PUSH_METHOD, endpoint_url: signals.pushUrl!, authorization_header: `Bearer ${this.#pushSecret}` };
      // A restart of the same receiver takes its stream back (with the new secret) instead of adding one.
      const { body: existing } = await this.#call('GET', '/ssf/streams', undefined, this.#options.timeoutMs);
      const mine = Array.isArray(existing) ? existing.find((stream) => isObject(stream) && isObject(stream.delivery) && stream.delivery.endpoint_url === signals.pushUrl) : undefined;
      if (isObject(mine) && typeof mine.stream_id === 'string') {
        await this.#call('PATCH', '/ssf/streams', { stream_id: mine.stream_id, delivery }, this.#options.timeoutMs);
        this.#streamId = mine.stream_id;
        return;
      }
    } else {
      delivery = { method: POLL_METHOD };
    }
    const { body } = await this.#call('POST', '/ssf/streams', { delivery, description: signals.description }, this.#options.timeoutMs);
    if (!isObject(body) || typeof body.stream_id !== 'string' || !isObject(body.delivery)) throw new UpstreamError('signals', 'the issuer answered a stream without stream_id');
    this.#streamId = body.stream_id;
    this.#pollUrl = typeof body.delivery.endpoint_url === 'string' ? body.delivery.endpoint_url : undefined;
    if (signals.delivery === 'poll' && this.#pollUrl === undefined) throw new UpstreamError('signals', 'the issuer gave no poll endpoint');
  }

  /** One call to the issuer's stream endpoints with a client-credentials token (fetched again on 401). */
  async #call(method: string, path: string, body: unknown, timeoutMs: number, retry = true, stoppable = true): Promise<{ status: number; body: unknown }> {
    const url = path.startsWith('http') ? path : `${this.#options.issuer}${path}`;
    const token = await this.#accessToken();
    const answer = await fetchJson({
      endpoint: 'signals',
      url,
      fetch: this.#options.fetch,
      timeoutMs,
      init: {
        method,
        ...(stoppable ? { signal: this.#stop.signal } : {}),
        headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      } as RequestInit,
    });
    if (answer.status === 401 && retry) {
      this.#token = undefined;
      return this.#call(method, path, body, timeoutMs, false, stoppable);
    }
    if (answer.status === 404) throw new StreamGone();
    if (answer.status >= 300) {
      const detail = isObject(answer.body) && typeof answer.body.message === 'string' ? `: ${answer.body.message}` : '';
      throw new UpstreamError('signals', `${method} ${path.split('?')[0]} answered ${answer.status}${detail}`);
    }
    return answer;
  }

  async #accessToken(): Promise<string> {
    const now = this.#options.now();
    if (this.#token !== undefined && now < this.#token.until) return this.#token.value;
    const { signals, issuer } = this.#options;
    const { body: configuration } = await fetchJson({ endpoint: 'signals', url: `${issuer}/.well-known/ssf-configuration`, fetch: this.#options.fetch, timeoutMs: this.#options.timeoutMs });
    // Gatehouse says in its SSF configuration which API and scope a receiver's token is for.
    const scheme = isObject(configuration) && Array.isArray(configuration.authorization_schemes) ? configuration.authorization_schemes.find(isObject) : undefined;
    const resource = typeof scheme?.resource === 'string' ? scheme.resource : undefined;
    const scope = typeof scheme?.scope === 'string' ? scheme.scope : undefined;
    const form = new URLSearchParams({ grant_type: 'client_credentials', ...(resource ? { resource } : {}), ...(scope ? { scope } : {}) });
    const { status, body } = await fetchJson({
      endpoint: 'signals',
      url: await this.#options.tokenEndpoint(),
      fetch: this.#options.fetch,
      timeoutMs: this.#options.timeoutMs,
      init: {
        method: 'POST',
        headers: {
          authorization: `Basic ${btoa(`${formEncode(signals.clientId)}:${formEncode(signals.clientSecret)}`)}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: form.toString(),
      },
    });
    if (status !== 200 || !isObject(body) || typeof body.access_token !== 'string') {
      const error = isObject(body) && typeof body.error === 'string' ? body.error : `HTTP ${status}`;
      throw new UpstreamError('signals', `the token for the stream was refused (${error}): the client needs client_credentials and the admin:streams:write scope`);
    }
    const lifetime = typeof body.expires_in === 'number' ? body.expires_in : 300;
    this.#token = { value: body.access_token, until: now + Math.max(0, lifetime - 30) * 1000 };
    return body.access_token;
  }
}

export interface VerifiedSet {
  readonly ok: true;
  readonly jti: string;
  readonly type: string;
  readonly event: Record<string, unknown>;
  readonly subject: Record<string, unknown>;
  readonly iat: number | undefined;
}

/**
 * Verifies a SET as RFC 8417 and SSF 1.0 ask: signed by the issuer's keys with an accepted
 * algorithm, `iss` the issuer, `aud` this receiver, `typ` secevent+jwt (so no other JWT of the
 * issuer passes as one), a `jti`, a `sub_id`, exactly one event. Throws only when the keys
 * cannot be had (`UpstreamError`); otherwise says what is wrong in RFC 8935 terms.
 */
export async function verifySet(
  set: string,
  context: { readonly issuer: string; readonly audience: string; readonly keys: KeyStore; readonly algorithms: readonly JwsAlgorithm[]; readonly clockToleranceSec: number },
): Promise<VerifiedSet | Extract<ReceiveOutcome, { ok: false }>> {
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(set, (header: JWTHeaderParameters) => context.keys.getKey(header.kid, header.alg as JwsAlgorithm), {
      issuer: context.issuer,
      audience: context.audience,
      typ: 'secevent+jwt',
      algorithms: [...context.algorithms],
      clockTolerance: context.clockToleranceSec,
    }));
  } catch (error) {
    if (error instanceof UpstreamError) throw error;
    return { ok: false, status: 400, err: 'invalid_key', description: 'The SET did not verify against the issuer\'s keys, issuer, audience or type' };
  }
  const { jti, events, sub_id: subject } = payload;
  if (typeof jti !== 'string' || !isObject(events) || Object.keys(events).length !== 1 || !isObject(subject)) {
    return { ok: false, status: 400, err: 'invalid_request', description: 'A SET carries a jti, a sub_id and exactly one event' };
  }
  const [type, event] = Object.entries(events)[0]!;
  return { ok: true, jti, type, event: isObject(event) ? event : {}, subject, iat: payload.iat };
}

class StreamGone extends UpstreamError {
  constructor() {
    super('signals', 'the stream is gone at the issuer');
  }
}

/** What an event asks of this API. Unknown events do nothing (SSF: a receiver ignores what it does not know). */
export function effectOf(type: string, event: Record<string, unknown>, subject: Record<string, unknown>, issuer: string, iat: number | undefined): SignalEffect {
  const at = typeof event.event_timestamp === 'number' ? event.event_timestamp : (iat ?? 0);
  const revoked = revokedSubject(subject, issuer);
  switch (type) {
    case `${CAEP}session-revoked`:
    case `${CAEP}token-claims-change`:
    case `${RISC}account-disabled`:
    case 'urn:gatehouse:secevent:client-revoked':
      return revoked ? { kind: 'revoke', subject: revoked, at } : { kind: 'none' };
    case `${CAEP}credential-change`:
      // A credential added takes nothing away.
      return revoked && event.change_type !== 'create' ? { kind: 'revoke', subject: revoked, at } : { kind: 'none' };
    case 'urn:gatehouse:secevent:api-key-revoked':
      return subject.format === 'opaque' && typeof subject.id === 'string' ? { kind: 'api-key', keyId: subject.id } : { kind: 'none' };
    case 'urn:gatehouse:secevent:signing-key-retired':
      return { kind: 'keys' };
    case `${SSF}verification`:
      return { kind: 'verification', state: typeof event.state === 'string' ? event.state : undefined };
    case `${SSF}stream-updated`:
      return { kind: 'stream', status: typeof event.status === 'string' ? event.status : 'enabled' };
    default:
      return { kind: 'none' };
  }
}

/** RFC 9493 / SSF subjects: a user of this issuer (`iss_sub`), a client (`complex` application), or both. */
function revokedSubject(subject: Record<string, unknown>, issuer: string): RevokedSubject | undefined {
  const user = (value: unknown): string | undefined =>
    isObject(value) && value.format === 'iss_sub' && value.iss === issuer && typeof value.sub === 'string' ? value.sub : undefined;
  if (subject.format === 'iss_sub') {
    const sub = user(subject);
    return sub === undefined ? undefined : { kind: 'user', sub };
  }
  if (subject.format !== 'complex') return undefined;
  const application = isObject(subject.application) && subject.application.format === 'opaque' && typeof subject.application.id === 'string' ? subject.application.id : undefined;
  const sub = user(subject.user);
  if (sub !== undefined && application !== undefined) return { kind: 'grant', sub, clientId: application };
  if (sub !== undefined) return { kind: 'user', sub };
  if (application !== undefined) return { kind: 'client', clientId: application };
  return undefined;
}

function randomSecret(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** Compares without stopping at the first difference. */
function constantTimeEqual(a: string, b: string): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < b.length; i++) diff |= (a.charCodeAt(i % Math.max(1, a.length)) ^ b.charCodeAt(i)) | 0;
  return diff === 0;
}


function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}
