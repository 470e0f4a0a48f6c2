// OpenID Connect Back-Channel Logout 1.0 beyond /logout (docs/adr/0013-back-channel-logout.md).
//
// oidc-provider sends logout tokens itself when a session ends at /logout (end_session). Sessions
// ended by Gatehouse directly in storage (an admin ending a user's sessions, disabling the user)
// never pass through it: their participants are read before the rows go, and each client with a
// backchannel_logout_uri is sent a logout token the same way (Client#backchannelLogout).
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { sha256 } from '../secrets.ts';
import type { Db } from '../storage/database.ts';

/** A client that took part in a login session, with the session id it was given (`sid`). */
export interface SessionParticipant {
  readonly clientId: string;
  readonly sid: string;
}

/** What happened to one logout token: for the log. */
export interface BackchannelOutcome {
  readonly clientId: string;
  readonly sid: string | undefined;
  readonly error?: unknown;
}

interface SessionPayload {
  readonly authorizations?: Record<string, { readonly sid?: unknown }>;
}

/** Sessions about to end: sends their clients logout tokens once they have. */
export interface LogoutNotice {
  send(): Promise<void>;
}

/**
 * The clients of every live login session of an account (from oidc-provider's Session payloads),
 * but the one kept (by its id, the session cookie's value; payload ids are stored as SHA-256).
 */
export async function sessionParticipants(db: Db, accountId: string, options: { keepSession?: string } = {}): Promise<SessionParticipant[]> {
  let query = db
    .selectFrom('oidc_payloads')
    .select('payload')
    .where('model', '=', 'Session')
    .where('account_id', '=', accountId)
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', Date.now())]));
  if (options.keepSession !== undefined) query = query.where('id', '!=', sha256(options.keepSession));
  const rows = await query.execute();
  return rows.flatMap((row) => {
    const payload = parse(row.payload);
    return Object.entries(payload.authorizations ?? {}).flatMap(([clientId, authorization]) =>
      typeof authorization?.sid === 'string' ? [{ clientId, sid: authorization.sid }] : [],
    );
  });
}

function parse(text: string): SessionPayload {
  try {
    const value = JSON.parse(text) as unknown;
    return value !== null && typeof value === 'object' ? (value as SessionPayload) : {};
  } catch {
    return {};
  }
}

interface LogoutCapableClient {
  readonly backchannelLogoutUri?: string;
  backchannelLogout(sub: string, sid: string): Promise<void>;
}

/**
 * Sends a logout token to each participant with a backchannel_logout_uri, all at once. Never
 * throws: a relying party that cannot be reached is reported, and the sessions stay ended.
 */
export async function sendLogoutTokens(
  provider: Provider,
  accountId: string,
  participants: readonly SessionParticipant[],
  report: (outcome: BackchannelOutcome) => void,
): Promise<void> {
  await Promise.all(
    participants.map(async ({ clientId, sid }) => {
      try {
        const client = (await provider.Client.find(clientId)) as unknown as LogoutCapableClient | undefined;
        if (!client?.backchannelLogoutUri) return;
        await client.backchannelLogout(accountId, sid);
        report({ clientId, sid });
      } catch (error) {
        report({ clientId, sid, error });
      }
    }),
  );
}

/** Reports what oidc-provider's own /logout deliveries did. */
export function reportProviderDeliveries(provider: Provider, report: (outcome: BackchannelOutcome) => void): void {
  provider.on('backchannel.success', (_ctx: KoaContextWithOIDC, client: { clientId: string }, _accountId: string, sid: string) =>
    report({ clientId: client.clientId, sid }),
  );
  provider.on('backchannel.error', (_ctx: KoaContextWithOIDC, error: unknown, client: { clientId: string }, _accountId: string, sid: string) =>
    report({ clientId: client.clientId, sid, error }),
  );
}
