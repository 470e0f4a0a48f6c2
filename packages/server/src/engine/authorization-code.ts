// The authorization code grant, with replay detection that outlives the code. RFC 6749 §4.1.2:
// "If an authorization code is used more than once, the authorization server MUST deny the
// request and SHOULD revoke (when possible) all tokens previously issued based on that
// authorization code." oidc-provider does so only while the code has not expired: past its
// lifetime (a minute by default) a replay was "expired", and what the first redemption issued
// stayed valid. A consumed code is now kept for as long as its grant can live
// (storage/oidc-adapter.ts), and any later presentation of it by its client revokes the grant.
//
// Every replay (this check, a lost race in the adapter, oidc-provider's own check) is reported as
// a security event for the audit log.
import { errors, type KoaContextWithOIDC, type Provider } from 'oidc-provider';
import * as grantHelpers from 'oidc-provider/lib/helpers/grants.js';
import { handler as authorizationCodeHandler, parameters as authorizationCodeParameters } from 'oidc-provider/lib/actions/grants/authorization_code.js';
import { sha256 } from '../secrets.ts';
import type { Db } from '../storage/database.ts';
import { atomicallyKeeping } from '../storage/scope.ts';
import type { SecurityEvent } from './security-events.ts';

/** oidc-provider's words for a replay (lib/helpers/grant_source.js), and ours (provider.ts). */
export const CODE_REPLAYED = 'authorization code already consumed';

export interface AuthorizationCodeOptions {
  readonly db: Db;
  readonly revokeGrant: (grantId: string) => Promise<void>;
  readonly onSecurityEvent: (event: SecurityEvent) => Promise<void>;
}

export const isCodeReplay = (error: unknown): boolean => error instanceof errors.InvalidGrant && error.error_detail === CODE_REPLAYED;

export function registerAuthorizationCode(provider: Provider, options: AuthorizationCodeOptions): void {
  const helpers = Object.fromEntries(Object.entries(grantHelpers).map(([name, helper]) => [name, helper.bind(undefined, provider)]));

  /** The stored code, expired or not: who it was for, and whether it was redeemed already. */
  async function storedCode(code: string) {
    return options.db
      .selectFrom('oidc_payloads')
      .select(['consumed_at', 'grant_id', 'client_id', 'account_id'])
      .where('model', '=', 'AuthorizationCode')
      .where('id', '=', sha256(code))
      .executeTakeFirst();
  }

  provider.registerGrantType(
    'authorization_code',
    async (ctx) => {
      const { params, client } = ctx.oidc;
      let stored: Awaited<ReturnType<typeof storedCode>>;
      // One transaction: oidc-provider consumes the code before it checks the requested resource,
      // and a code refused for such a reason (invalid_target, say) must stay redeemable, or the
      // client's corrected request would be taken for a replay and end the user's grant. A replay
      // is the one refusal whose effect (the grant revoked) must stay: it commits.
      const outcome = await atomicallyKeeping(
        options.db,
        async () => {
          stored = typeof params.code === 'string' && params.code !== '' ? await storedCode(params.code) : undefined;
          // Another client's code is oidc-provider's "client mismatch", as before.
          if (stored !== undefined && stored.client_id === client.clientId && stored.consumed_at !== null) {
            if (stored.grant_id) await options.revokeGrant(stored.grant_id);
            throw new errors.InvalidGrant(CODE_REPLAYED);
          }
          await authorizationCodeHandler(provider, helpers, ctx as unknown as KoaContextWithOIDC);
        },
        isCodeReplay,
      );
      if (!outcome.refused) return;
      if (stored !== undefined && stored.client_id === client.clientId) {
        await options.onSecurityEvent({
          type: 'authorization_code.replayed',
          grantType: 'authorization_code',
          clientId: client.clientId,
          accountId: stored.account_id,
          grantId: stored.grant_id,
          ip: ctx.ip,
        });
      }
      throw outcome.refusal;
    },
    [...authorizationCodeParameters, 'resource'],
    'resource',
  );
}
