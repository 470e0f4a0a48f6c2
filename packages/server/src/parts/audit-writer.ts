// Writes to the audit log. A failure to write is logged, never turned into a failed request or
// a failed login.
import type { FastifyBaseLogger } from 'fastify';
import { logFailure } from '../logger.ts';
import type { PasswordLoginEvent } from '../passwords/password-login.ts';
import { recordAuditEvent, type AuditEventInput } from '../storage/audit.ts';
import type { Db } from '../storage/database.ts';

export type AuditWriter = (event: AuditEventInput) => Promise<void>;

export function auditWriter(db: Db, log: FastifyBaseLogger, failure = 'could not write to the audit log'): AuditWriter {
  return async (event) => {
    try {
      await recordAuditEvent(db, event);
    } catch (error) {
      logFailure(log, error, failure);
    }
  };
}

/** Every login, success and failure, as an audit event. */
export function loginAuditEvent(event: PasswordLoginEvent): AuditEventInput {
  return {
    type: event.channel.kind === 'login_page' ? 'login' : 'login.password_grant',
    outcome: event.outcome === 'ok' ? 'success' : 'failure',
    actor: event.userId ? { kind: 'user', id: event.userId } : { kind: 'anonymous' },
    target: event.userId ? { kind: 'user', id: event.userId } : undefined,
    ip: event.ip,
    details: {
      // Only a username that exists (what was typed may be a pasted password).
      ...(event.username !== undefined ? { username: event.username } : {}),
      result: event.outcome,
      ...(event.channel.kind === 'password_grant' ? { client_id: event.channel.clientId } : {}),
    },
  };
}
