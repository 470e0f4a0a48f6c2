// The admin API's audit trail: every change (success or failure) and every refusal it can see
// (401, 403, on reads too) becomes an audit event with the actor (kind and id, from the verified
// credential), the target, the source IP and a few details; never a secret (handlers note ids and
// names, and the repository drops detail keys named like secrets anyway). Written in `onSend`,
// before the response leaves, so a caller who got an answer can read the event that recorded it.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Authenticator, Principal } from '@gatehouse/sdk';
import { recordAuditEvent, type AuditEventInput } from '../storage/audit.ts';
import type { Db } from '../storage/database.ts';
import { apiKeyIdOf, identityOf } from './policy.ts';

/** What a route records: the event type, and the kind of object its `:id` names. */
export interface AuditSpec {
  readonly type: string;
  readonly target?: string;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The audit event this admin route records. */
    audit?: AuditSpec;
  }
}

type Details = NonNullable<AuditEventInput['details']>;

interface Note {
  target?: { kind: string; id: string };
  details?: Details;
}

const notes = new WeakMap<FastifyRequest, Note>();

/** Handlers add what the event should say: the object created, a few non-secret details. */
export function noteAudit(request: FastifyRequest, note: Note): void {
  const previous = notes.get(request);
  notes.set(request, { ...previous, ...note, details: { ...previous?.details, ...note.details } });
}

function actorOf(principal: Principal | undefined): AuditEventInput['actor'] {
  if (principal === undefined) return { kind: 'anonymous' };
  if (principal.kind === 'api_key') return { kind: 'api_key', id: apiKeyIdOf(principal) ?? principal.subject };
  return { kind: principal.kind, id: principal.subject };
}

function principalDetails(principal: Principal | undefined): Details {
  if (principal === undefined) return {};
  if (principal.kind === 'api_key') {
    const owner = identityOf(principal);
    return { key_owner_kind: owner.kind, key_owner_id: owner.id };
  }
  return principal.kind === 'user' && principal.clientId !== undefined ? { client_id: principal.clientId } : {};
}

/** The `error` code of an error body (ours or the SDK's); nothing else is read from it. */
function errorCode(payload: unknown): string | undefined {
  if (typeof payload !== 'string' || payload.length > 4096) return undefined;
  try {
    const code = (JSON.parse(payload) as { error?: unknown }).error;
    return typeof code === 'string' && /^[a-z_]{1,64}$/.test(code) ? code : undefined;
  } catch {
    return undefined;
  }
}

export function auditHook(db: Db, authenticator: Authenticator) {
  return async function recordAdminAction(request: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> {
    const spec = request.routeOptions.config.audit;
    if (spec === undefined) return payload;
    const status = reply.statusCode;
    const isWrite = request.method !== 'GET' && request.method !== 'HEAD';
    // Reads are not worth an event each; a refused read is (someone tried).
    if (!isWrite && status !== 401 && status !== 403) return payload;

    let principal = request.auth;
    if (principal === undefined && status === 403) {
      // Refused by the SDK for a missing scope or kind: the credential itself is valid (and cached),
      // so who presented it is known.
      const outcome = await authenticator.authenticate({ method: request.method, url: request.url, headers: request.headers }, {});
      if (outcome.ok) principal = outcome.principal;
    }
    const note = notes.get(request);
    const id = (request.params as { id?: unknown } | undefined)?.id;
    const target = note?.target ?? (spec.target !== undefined && typeof id === 'string' ? { kind: spec.target, id } : undefined);
    const code = status >= 400 ? errorCode(payload) : undefined;
    try {
      await recordAuditEvent(db, {
        type: spec.type,
        outcome: status < 400 ? 'success' : 'failure',
        actor: actorOf(principal),
        target,
        ip: request.ip,
        details: {
          via: 'admin_api',
          route: `${request.method} ${request.routeOptions.url ?? ''}`,
          status,
          ...(code === undefined ? {} : { error: code }),
          ...principalDetails(principal),
          ...note?.details,
        },
      });
    } catch (error) {
      // The action already happened (or was refused); a lost audit write is an operator alarm.
      request.log.error({ err: error, audit: spec.type }, 'could not write an admin action to the audit log');
    }
    return payload;
  };
}
