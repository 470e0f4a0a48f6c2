// The oidc-provider adapter: every session, grant, code, refresh token and interaction lives
// in the `oidc_payloads` table, so a restart (or another instance) loses nothing. It is the
// engine's (it speaks oidc-provider's models and payloads), on top of storage's database.
//
// Identifiers are stored as their SHA-256: the `id` of a code, refresh token or session IS
// the bearer secret, so a copy of the database alone cannot be replayed.
import { sql } from 'kysely';
import type { Adapter, AdapterPayload } from 'oidc-provider';
import { sha256 } from '../secrets.ts';
import type { Db } from '../storage/database.ts';
import { forget, queueWrite, remember, remembered } from '../storage/scope.ts';

/** Thrown by `consume` when another request consumed the same code or token first. */
export class AlreadyConsumedError extends Error {
  readonly model: string;
  readonly grantId: string | null;
  constructor(model: string, grantId: string | null) {
    super(`${model} already consumed`);
    this.name = 'AlreadyConsumedError';
    this.model = model;
    this.grantId = grantId;
  }
}

export interface AdapterOptions {
  /** How the `Client` model is served: from Gatehouse's clients table, as client metadata. */
  findClient(clientId: string): Promise<AdapterPayload | undefined>;
  /** Called when consume() loses a race, before the error is thrown (e.g. to revoke the grant). */
  onConsumeRace?(error: AlreadyConsumedError): Promise<void>;
  /**
   * For this long after a refresh token is consumed, it reads as not consumed: a second use in
   * the reuse window then goes through the atomic consume, whose loser gets the first use's
   * answer (engine/refresh-rotation.ts), instead of being taken for a stolen token.
   */
  readonly refreshReuseGraceMs?: number;
  /**
   * How long a consumed authorization code is kept (from its consumption): a replay must be
   * recognised, and what the first redemption issued revoked, for as long as any of it can live
   * (RFC 6749 §4.1.2), not only for the code's own short lifetime. The longest a grant lives.
   */
  readonly consumedCodeRetentionMs?: number;
}

/** A stored payload's row, as `find` reads it. */
export interface PayloadRow {
  readonly id: string;
  readonly payload: string;
  readonly consumed_at: number | null;
  readonly expires_at: number | null;
}

const rowKey = (model: string, hashedId?: string) => `oidc_payloads:${model}:${hashedId ?? ''}`;

/**
 * Keeps a payload's row (`undefined`: it does not exist) that the transaction in scope read
 * ahead, so `find` in the same transaction answers from it instead of reading it again.
 */
export function rememberPayload(model: string, hashedId: string, row: PayloadRow | undefined): void {
  remember(rowKey(model, hashedId), row);
}

const epoch = (ms: number | null): number | undefined => (ms === null ? undefined : Math.floor(ms / 1000));

/**
 * The payload as stored: without its own id (`jti`, the bearer secret), and without the session
 * id an Interaction copies from its Session (`session.cookie`, the session cookie's value, for the
 * application's use: neither oidc-provider nor Gatehouse reads it back). Stored, it would let a
 * copy of the database replay the session, whose cookie keys are in the same database.
 */
function storedPayload({ jti: _jti, ...payload }: AdapterPayload): AdapterPayload {
  if (payload.session && typeof payload.session === 'object' && 'cookie' in payload.session) {
    const { cookie: _cookie, ...session } = payload.session;
    return { ...payload, session };
  }
  return payload;
}

export function createOidcAdapter(db: Db, options: AdapterOptions): new (model: string) => Adapter {
  class ClientAdapter implements Adapter {
    async find(id: string): Promise<AdapterPayload | undefined> {
      return options.findClient(id);
    }
    async upsert(): Promise<void> {
      throw new Error('clients are managed by Gatehouse, not by dynamic registration');
    }
    async findByUid(): Promise<undefined> {
      return undefined;
    }
    async findByUserCode(): Promise<undefined> {
      return undefined;
    }
    async destroy(): Promise<void> {
      throw new Error('clients are managed by Gatehouse, not by dynamic registration');
    }
    async revokeByGrantId(): Promise<void> {}
    async consume(): Promise<void> {}
  }

  class PayloadAdapter implements Adapter {
    readonly model: string;
    constructor(model: string) {
      this.model = model;
    }

    async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
      const row = {
        model: this.model,
        id: sha256(id),
        payload: JSON.stringify(storedPayload(payload)),
        grant_id: payload.grantId ?? (this.model === 'Grant' ? id : null),
        client_id: payload.clientId ?? null,
        account_id: payload.accountId ?? null,
        uid: payload.uid ?? null,
        user_code: payload.userCode ? sha256(payload.userCode) : null,
        expires_at: expiresIn ? Date.now() + expiresIn * 1000 : null,
        consumed_at: null,
      };
      forget(rowKey(this.model, row.id));
      const query = db
        .insertInto('oidc_payloads')
        .values(row)
        .onConflict((oc) =>
          oc.columns(['model', 'id']).doUpdateSet({
            payload: row.payload,
            grant_id: row.grant_id,
            client_id: row.client_id,
            account_id: row.account_id,
            uid: row.uid,
            user_code: row.user_code,
            // Saved again after it was consumed, a code keeps the retention consume() gave it.
            expires_at: sql<number | null>`case when oidc_payloads.consumed_at is null then ${row.expires_at} else oidc_payloads.expires_at end`,
          }),
        );
      // Nothing waits for the answer: a transaction that batches its writes sends it with others.
      if (!queueWrite(query)) await query.execute();
    }

    async #read(column: 'id' | 'uid' | 'user_code', value: string): Promise<Pick<PayloadRow, 'payload' | 'consumed_at'> | undefined> {
      const kept = column === 'id' ? remembered<PayloadRow>(rowKey(this.model, value)) : undefined;
      if (kept) {
        const row = kept.row;
        // The same test as the query's below, as of now.
        return row && (row.expires_at === null || row.expires_at > Date.now()) ? row : undefined;
      }
      return db
        .selectFrom('oidc_payloads')
        .select(['id', 'payload', 'consumed_at'])
        .where('model', '=', this.model)
        .where(column, '=', value)
        .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', Date.now())]))
        .executeTakeFirst();
    }

    async #findBy(column: 'id' | 'uid' | 'user_code', value: string, id?: string): Promise<AdapterPayload | undefined> {
      const row = await this.#read(column, value);
      if (!row) return undefined;
      const payload = JSON.parse(row.payload) as AdapterPayload;
      const inReuseWindow =
        this.model === 'RefreshToken' && row.consumed_at !== null && Date.now() - row.consumed_at <= (options.refreshReuseGraceMs ?? 0);
      const consumed = inReuseWindow ? undefined : epoch(row.consumed_at);
      return {
        ...payload,
        ...(id === undefined ? {} : { jti: id }),
        ...(consumed === undefined ? {} : { consumed }),
      };
    }

    find(id: string): Promise<AdapterPayload | undefined> {
      return this.#findBy('id', sha256(id), id);
    }

    async findByUid(uid: string): Promise<AdapterPayload | undefined> {
      // Sessions are looked up by uid; the payload knows its own id only through the cookie.
      const found = await this.#findBy('uid', uid);
      return found;
    }

    findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
      return this.#findBy('user_code', sha256(userCode));
    }

    async consume(id: string): Promise<void> {
      // Atomic: of two requests redeeming the same code or refresh token at the same moment,
      // exactly one updates the row; the other learns it lost. A consumed code is kept past its
      // own lifetime, so a late replay is still recognised (engine/authorization-code.ts).
      forget(rowKey(this.model, sha256(id)));
      const at = Date.now();
      const retention = this.model === 'AuthorizationCode' ? options.consumedCodeRetentionMs : undefined;
      const result = await db
        .updateTable('oidc_payloads')
        .set(retention === undefined ? { consumed_at: at } : { consumed_at: at, expires_at: at + retention })
        .where('model', '=', this.model)
        .where('id', '=', sha256(id))
        .where('consumed_at', 'is', null)
        .executeTakeFirst();
      if (Number(result.numUpdatedRows) === 0) {
        const row = await db
          .selectFrom('oidc_payloads')
          .select('grant_id')
          .where('model', '=', this.model)
          .where('id', '=', sha256(id))
          .executeTakeFirst();
        const error = new AlreadyConsumedError(this.model, row?.grant_id ?? null);
        await options.onConsumeRace?.(error);
        throw error;
      }
    }

    async destroy(id: string): Promise<void> {
      forget(rowKey(this.model, sha256(id)));
      await db.deleteFrom('oidc_payloads').where('model', '=', this.model).where('id', '=', sha256(id)).execute();
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      forget(rowKey(this.model));
      await db.deleteFrom('oidc_payloads').where('model', '=', this.model).where('grant_id', '=', grantId).execute();
    }
  }

  return class GatehouseAdapter {
    constructor(model: string) {
      return model === 'Client' ? new ClientAdapter() : new PayloadAdapter(model);
    }
  } as unknown as new (model: string) => Adapter;
}

/** Deletes expired rows; oidc-provider ignores them already, this only reclaims space. */
export async function purgeExpired(db: Db, now = Date.now()): Promise<number> {
  const payloads = await db.deleteFrom('oidc_payloads').where('expires_at', '<', now).executeTakeFirst();
  await db.deleteFrom('refresh_reuses').where('expires_at', '<', now).execute();
  return Number(payloads.numDeletedRows);
}
