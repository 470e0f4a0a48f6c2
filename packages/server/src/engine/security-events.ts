// Security events the protocol engine sees and the audit log must keep (issue 10, item 20): a
// redeemed authorization code presented again, a rotated refresh token used again. Each means a
// code or token was probably stolen; the grant is revoked, and an operator must be able to see
// which client, which user and which grant, not only a debug line.
import type { AuditEventInput } from '../storage/audit.ts';

export interface SecurityEvent {
  readonly type: 'authorization_code.replayed' | 'refresh_token.reused';
  readonly grantType: 'authorization_code' | 'refresh_token';
  /** The (authenticated) client that presented the code or token. */
  readonly clientId: string;
  /** The user whose grant it was, when known. */
  readonly accountId: string | null;
  /** The grant revoked because of it. */
  readonly grantId: string | null;
  readonly ip: string | undefined;
}

/** The audit event for it: the client as actor, the user as target, never the code or token. */
export function securityAuditEvent(event: SecurityEvent): AuditEventInput {
  return {
    type: event.type,
    outcome: 'failure',
    actor: { kind: 'client', id: event.clientId },
    target: event.accountId ? { kind: 'user', id: event.accountId } : undefined,
    ip: event.ip,
    details: {
      client_id: event.clientId,
      grant_type: event.grantType,
      grant_id: event.grantId,
      revoked: event.grantId !== null,
    },
  };
}
