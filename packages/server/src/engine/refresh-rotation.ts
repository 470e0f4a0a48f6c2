// Refresh-token rotation with a reuse grace window. oidc-provider rotates refresh tokens and
// revokes the whole grant when a rotated one is presented again (RFC 9700 §4.14.2). Two tabs
// refreshing at once would log the user out, so for a few seconds after a rotation a second
// use of the same refresh token gets the response the first use got (same successor).
//
// The replay covers only the latest rotation: it is given while the successor it hands out has
// not been used (as of when the request arrived). RT0 presented after RT1 was itself rotated is
// reuse, whatever the window says: the grant is revoked (security item 10.19).
//
// A confidential client gets a longer window for the same replay (GATEHOUSE_REFRESH_TOKEN_RETRY_WINDOW):
// a client whose answer was lost (the instance died after committing) retries with the only token
// it has, maybe after an outage. Until the successor is used, the chain has one live token either
// way, and without the client's secret the old token is worth nothing to a thief. A public
// client's token is its only credential, so it keeps the short window (docs/adr/0007-outages.md).
//
// That response is stored encrypted under a key derived from the presented refresh token
// itself: the database alone cannot decrypt it, only a holder of the old token can.
//
// The wrapper also drops scopes the user's roles no longer grant before every refresh.
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { errors, type KoaContextWithOIDC, type Provider } from 'oidc-provider';
import * as grantHelpers from 'oidc-provider/lib/helpers/grants.js';
import { handler as refreshTokenHandler, parameters as refreshTokenParameters } from 'oidc-provider/lib/actions/grants/refresh_token.js';
import { sha256 } from '../secrets.ts';
import type { Db } from '../storage/database.ts';
import { AlreadyConsumedError } from './oidc-adapter.ts';
import { atomicallyKeeping, queueWrite } from '../storage/scope.ts';
import { readAheadRefresh, type RefreshTokenState } from './refresh-read-ahead.ts';
import { reconcileGrantWithRoles } from './grants.ts';
import type { SecurityEvent } from './security-events.ts';

export interface RefreshRotationOptions {
  readonly db: Db;
  /** Seconds; 0 turns the window off. */
  readonly graceSeconds: number;
  /** Seconds, confidential clients only: the replay window for a lost answer (0: only the grace window). */
  readonly retrySeconds: number;
  /** Revokes everything issued under a grant. */
  readonly revokeGrant: (grantId: string) => Promise<void>;
  /** Told of every reuse of a rotated refresh token (for the audit log). */
  readonly onSecurityEvent?: (event: SecurityEvent) => Promise<void>;
}

/** oidc-provider's words for a reuse (lib/actions/grants/refresh_token.js), and ours below. */
const REFRESH_REUSED = 'refresh token already used';
const isRefreshReuse = (error: unknown): boolean => error instanceof errors.InvalidGrant && error.error_detail === REFRESH_REUSED;

/** How long a request that lost a race waits for the winner's response. */
const RACE_WAIT_MS = 3000;
const RACE_POLL_MS = 20;

function keyFor(token: string, clientId: string): Buffer {
  return Buffer.from(hkdfSync('sha256', token, 'gatehouse/refresh-reuse', clientId, 32));
}

function seal(token: string, clientId: string, body: unknown): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', keyFor(token, clientId), iv);
  const data = Buffer.concat([cipher.update(JSON.stringify(body), 'utf8'), cipher.final()]);
  return [iv, cipher.getAuthTag(), data].map((b) => b.toString('base64url')).join('.');
}

function open(token: string, clientId: string, sealed: string): Record<string, unknown> | undefined {
  try {
    const [iv, tag, data] = sealed.split('.').map((part) => Buffer.from(part, 'base64url'));
    const decipher = createDecipheriv('aes-256-gcm', keyFor(token, clientId), iv!);
    decipher.setAuthTag(tag!);
    return JSON.parse(Buffer.concat([decipher.update(data!), decipher.final()]).toString('utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** What a rotated token's stored answer allows: replay it, or nothing (it is too old, or gone). */
type Replay = { readonly kind: 'replay'; readonly body: Record<string, unknown> } | { readonly kind: 'superseded' } | undefined;

export function registerRefreshRotation(provider: Provider, options: RefreshRotationOptions): void {
  const { db, graceSeconds, retrySeconds } = options;
  const helpers = Object.fromEntries(Object.entries(grantHelpers).map(([name, helper]) => [name, helper.bind(undefined, provider)]));
  const original = (ctx: KoaContextWithOIDC) => refreshTokenHandler(provider, helpers, ctx);
  /** How long a rotated token's answer may be replayed to this client. */
  const windowSeconds = (confidential: boolean) => Math.max(graceSeconds, confidential ? retrySeconds : 0);

  /**
   * The stored answer to the first use of `token`, if it is still the one to give: its successor
   * must not have been used before `arrived` (the latest rotation only). A successor gone from
   * the database (revoked, purged) is no more replayable than a used one.
   */
  async function storedResponse(token: string, clientId: string, arrived: number): Promise<Replay> {
    const row = await db
      .selectFrom('refresh_reuses')
      .select(['client_id', 'response', 'expires_at'])
      .where('token_hash', '=', sha256(token))
      .executeTakeFirst();
    if (!row || row.client_id !== clientId || row.expires_at <= Date.now()) return undefined;
    const saved = open(token, clientId, row.response);
    if (!saved) return undefined;
    const { issuedAt, body } = saved as { issuedAt: number; body: Record<string, unknown> };
    if (typeof body.refresh_token === 'string') {
      const successor = await db
        .selectFrom('oidc_payloads')
        .select('consumed_at')
        .where('model', '=', 'RefreshToken')
        .where('id', '=', sha256(body.refresh_token))
        .executeTakeFirst();
      if (!successor || (successor.consumed_at !== null && successor.consumed_at < arrived)) return { kind: 'superseded' };
    }
    // The access token is the one issued then: say how long it has left, not how long it had.
    const elapsed = Math.floor((Date.now() - issuedAt) / 1000);
    return { kind: 'replay', body: typeof body.expires_in === 'number' ? { ...body, expires_in: Math.max(body.expires_in - elapsed, 0) } : body };
  }

  async function waitForResponse(token: string, clientId: string, arrived: number): Promise<Replay> {
    const deadline = Date.now() + RACE_WAIT_MS;
    while (Date.now() < deadline) {
      const found = await storedResponse(token, clientId, arrived);
      if (found) return found;
      await new Promise((resolve) => setTimeout(resolve, RACE_POLL_MS));
    }
    return undefined;
  }

  /** A rotated token presented again when no replay is due: reuse, and the grant goes (RFC 9700 §4.14.2). */
  async function reuse(grantId: string | null): Promise<never> {
    if (grantId) await options.revokeGrant(grantId);
    throw new errors.InvalidGrant(REFRESH_REUSED);
  }

  provider.registerGrantType(
    'refresh_token',
    async (ctx) => {
      const arrived = Date.now();
      const presented = ctx.oidc.params.refresh_token;
      const clientId = ctx.oidc.client.clientId;
      if (typeof presented !== 'string' || presented === '') throw new errors.InvalidRequest("missing required parameter 'refresh_token'");
      const token: string = presented;
      const window = windowSeconds(ctx.oidc.client.clientAuthMethod !== 'none');

      /** The token as the latest transaction read it. */
      let state: RefreshTokenState | undefined;
      // RFC 9700 §4.14.2: a rotated refresh token presented again was probably stolen; the grant
      // is revoked (by oidc-provider or below) and the audit log is told which one.
      const reused = (grantId: string | null) =>
        options.onSecurityEvent?.({ type: 'refresh_token.reused', grantType: 'refresh_token', clientId, accountId: state?.accountId ?? null, grantId, ip: ctx.ip });

      /** Roles may have changed since the grant was made: drop scopes they no longer grant. */
      async function reconcileRoles(): Promise<void> {
        if (!state?.grantId) return;
        const grant = await provider.Grant.find(state.grantId);
        // The role scopes read ahead are the token's account's: the grant's, unless oidc-provider refuses it anyway.
        const known = grant?.accountId === state.accountId ? { roleScopes: state.roleScopes } : undefined;
        if (grant && grant.clientId === clientId && (await reconcileGrantWithRoles(db, grant, known))) await grant.save();
      }

      /**
       * One refresh in one transaction: consuming the token, saving its successor and keeping the
       * answer for the replay window commit together or not at all (an instance killed in between
       * leaves the old token usable, so the client's retry works). With `mayReplay`, a token already
       * rotated inside the window is left alone ('rotated'): the replay is answered outside any
       * transaction, since it may wait for another request's commit.
       */
      async function rotate(mayReplay: boolean): Promise<'rotated' | undefined> {
        // Reuse is the one refusal whose effect must stay: oidc-provider revoked the grant before
        // refusing. Every other refusal rolls back what the handler did before it: it consumes
        // the token and saves a successor before checking the resource, and a token refused
        // (invalid_target, say) must stay usable, or the client's next refresh would count as
        // reuse and end its grant (RFC 6749 §6 rotates on issuing).
        const outcome = await atomicallyKeeping(
          db,
          async () => {
            // The token, its grant, account and role scopes in one read, which oidc-provider's
            // lookups below answer from (engine/refresh-read-ahead.ts).
            state = await readAheadRefresh(db, token);
            if (mayReplay && window > 0 && state?.consumedAt && arrived - state.consumedAt <= window * 1000) return 'rotated' as const;
            await reconcileRoles();
            await original(ctx as unknown as KoaContextWithOIDC);
            const body = ctx.body as Record<string, unknown> | undefined;
            if (window > 0 && body && typeof body.refresh_token === 'string' && body.refresh_token !== token) {
              const response = seal(token, clientId, { issuedAt: Date.now(), body });
              const query = db
                .insertInto('refresh_reuses')
                .values({ token_hash: sha256(token), client_id: clientId, response, expires_at: Date.now() + window * 1000 })
                .onConflict((oc) => oc.column('token_hash').doNothing());
              if (!queueWrite(query)) await query.execute();
            }
            return undefined;
          },
          isRefreshReuse,
          // The successor, the access token's record and the answer go in one statement.
          { batchWrites: true },
        );
        if (!outcome.refused) return outcome.result;
        await reused(state?.grantId ?? null);
        throw outcome.refusal;
      }

      try {
        if ((await rotate(true)) !== 'rotated') return;
        // Already rotated: inside the window, answer what the first use got, if its successor is
        // still the latest token; outside it, let oidc-provider treat it as reuse and revoke the grant.
        const { grantId } = state!;
        const replay = await waitForResponse(token, clientId, arrived);
        if (replay?.kind === 'superseded') {
          await reused(grantId);
          return reuse(grantId);
        }
        // Only while the grant lives: a logout or a revocation ends the window too.
        if (replay?.kind === 'replay' && grantId && (await provider.Grant.find(grantId))) {
          ctx.body = replay.body;
          return;
        }
        await rotate(false);
      } catch (error) {
        if (!(error instanceof AlreadyConsumedError)) throw error;
        // Another request rotated this token between our read and our consume.
        if (window > 0) {
          const replay = await waitForResponse(token, clientId, arrived);
          if (replay?.kind === 'replay') {
            ctx.body = replay.body;
            return;
          }
        }
        await reused(error.grantId);
        return reuse(error.grantId);
      }
    },
    [...refreshTokenParameters, 'resource'],
    'resource',
  );
}
