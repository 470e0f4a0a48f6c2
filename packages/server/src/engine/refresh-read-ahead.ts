// Everything a refresh reads, in one statement: the refresh token, its grant, its account and the
// scopes the account's roles grant. Read at the start of the refresh's transaction and kept there
// (storage/scope.ts), so oidc-provider's own lookups of the same rows (RefreshToken.find,
// Grant.find, findAccount) answer from it instead of asking the database again: on PostgreSQL each
// of them was a round trip, and the token and the grant were each read twice (issue 14).
import { sha256 } from '../secrets.ts';
import type { Db } from '../storage/database.ts';
import { rememberAccount } from './accounts.ts';
import { rememberPayload } from './oidc-adapter.ts';

export interface RefreshTokenState {
  readonly consumedAt: number | null;
  readonly grantId: string | null;
  readonly accountId: string | null;
  /** The scopes the account's roles grant (empty when the account is gone). */
  readonly roleScopes: ReadonlySet<string>;
}

/**
 * Reads the refresh token `token` and what hangs off it, and keeps the rows for the transaction
 * in scope. Undefined when no such token is stored (expired ones included: oidc-provider says why).
 */
export async function readAheadRefresh(db: Db, token: string): Promise<RefreshTokenState | undefined> {
  const id = sha256(token);
  // One row per role scope (at least one row): the joins are all to-one but the last two.
  const rows = await db
    .selectFrom('oidc_payloads as t')
    .leftJoin('oidc_payloads as g', (join) => join.on('g.model', '=', 'Grant').onRef('g.grant_id', '=', 't.grant_id'))
    .leftJoin('users as u', 'u.id', 't.account_id')
    .leftJoin('user_roles as ur', 'ur.user_id', 'u.id')
    .leftJoin('role_scopes as rs', 'rs.role_id', 'ur.role_id')
    .select([
      't.payload',
      't.consumed_at',
      't.expires_at',
      't.grant_id',
      't.account_id',
      'g.id as grant_row_id',
      'g.payload as grant_payload',
      'g.consumed_at as grant_consumed_at',
      'g.expires_at as grant_expires_at',
      'u.id as user_id',
      'u.username',
      'u.email',
      'u.email_verified',
      'u.updated_at',
      'u.disabled',
      'rs.scope',
    ])
    .where('t.model', '=', 'RefreshToken')
    .where('t.id', '=', id)
    .execute();
  const first = rows[0];
  if (!first) {
    rememberPayload('RefreshToken', id, undefined);
    return undefined;
  }
  rememberPayload('RefreshToken', id, { id, payload: first.payload, consumed_at: first.consumed_at, expires_at: first.expires_at });
  // A grant not found here is looked up again by oidc-provider, not taken as gone: the join
  // relies on a grant's row naming itself in grant_id.
  if (first.grant_row_id !== null && first.grant_payload !== null) {
    rememberPayload('Grant', first.grant_row_id, {
      id: first.grant_row_id,
      payload: first.grant_payload,
      consumed_at: first.grant_consumed_at,
      expires_at: first.grant_expires_at,
    });
  }
  if (first.account_id !== null) {
    const { user_id, username, email, email_verified, updated_at, disabled } = first;
    const found = user_id !== null && username !== null && email_verified !== null && updated_at !== null && disabled !== null;
    rememberAccount(first.account_id, found ? { id: user_id, username, email, email_verified, updated_at, disabled } : undefined);
  }
  return {
    consumedAt: first.consumed_at,
    grantId: first.grant_id,
    accountId: first.account_id,
    roleScopes: new Set(rows.flatMap((row) => (row.scope === null ? [] : [row.scope]))),
  };
}
