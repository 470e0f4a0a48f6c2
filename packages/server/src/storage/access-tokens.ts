// Records of JWT access tokens issued under a grant (user tokens): oidc-provider does not store
// JWTs, and revoking their grant must still make introspection answer active:false.
// Client-credentials tokens need no record: revoking the client is what revokes them.
import { sha256 } from '../secrets.ts';
import type { Db } from './database.ts';
import { queueWrite } from './scope.ts';
import type { AccessTokensTable } from './tables.ts';

export interface AccessTokenRecord {
  readonly jti: string;
  readonly grantId: string | null;
  readonly accountId: string | null;
  readonly clientId: string;
  /** Epoch seconds. */
  readonly exp: number;
}

export async function recordAccessToken(db: Db, token: AccessTokenRecord): Promise<void> {
  const query = db
    .insertInto('access_tokens')
    .values({
      jti_hash: sha256(token.jti),
      grant_id: token.grantId,
      account_id: token.accountId,
      client_id: token.clientId,
      expires_at: token.exp * 1000,
      revoked_at: null,
    })
    .onConflict((oc) => oc.column('jti_hash').doNothing());
  // Nothing waits for the answer: a transaction that batches its writes sends it with others.
  if (!queueWrite(query)) await query.execute();
}

export async function findAccessToken(db: Db, jti: string): Promise<AccessTokensTable | undefined> {
  return db.selectFrom('access_tokens').selectAll().where('jti_hash', '=', sha256(jti)).executeTakeFirst();
}

/** Revokes one token (RFC 7009 on a JWT): recorded even for tokens that had no record. */
export async function revokeAccessToken(db: Db, token: AccessTokenRecord): Promise<void> {
  const at = Date.now();
  await db
    .insertInto('access_tokens')
    .values({ jti_hash: sha256(token.jti), grant_id: token.grantId, account_id: token.accountId, client_id: token.clientId, expires_at: token.exp * 1000, revoked_at: at })
    .onConflict((oc) => oc.column('jti_hash').doUpdateSet({ revoked_at: at }))
    .execute();
}

export async function purgeExpiredAccessTokens(db: Db, at = Date.now()): Promise<void> {
  await db.deleteFrom('access_tokens').where('expires_at', '<', at).execute();
}
