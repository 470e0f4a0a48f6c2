// The audit log: who did what, to what, when, from where. Never a secret: details are
// restricted to short scalar values, and callers pass ids and names, not credentials.
import type { Db } from './database.ts';
import { iso, now, pageBounds, type Page, type PageRequest } from './rows.ts';

export type AuditActorKind = 'user' | 'client' | 'api_key' | 'cli' | 'system' | 'anonymous';

export interface AuditEventInput {
  readonly type: string;
  readonly outcome?: 'success' | 'failure';
  readonly actor: { readonly kind: AuditActorKind; readonly id?: string | undefined };
  readonly target?: { readonly kind: string; readonly id: string } | undefined;
  readonly ip?: string | undefined;
  readonly details?: Readonly<Record<string, string | number | boolean | null | readonly string[]>>;
}

export interface AuditEvent {
  readonly id: string;
  readonly at: string;
  readonly type: string;
  readonly outcome: 'success' | 'failure';
  readonly actor: { readonly kind: string; readonly id: string | null };
  readonly target: { readonly kind: string; readonly id: string } | null;
  readonly ip: string | null;
  readonly details: Readonly<Record<string, unknown>>;
}

// Keys that must never reach the log, whoever forgets.
const FORBIDDEN_DETAILS = /secret|password|token|key$|hash|credential/i;

export async function recordAuditEvent(db: Db, event: AuditEventInput): Promise<void> {
  const details: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(event.details ?? {})) {
    if (FORBIDDEN_DETAILS.test(name)) continue;
    details[name] = typeof value === 'string' ? value.slice(0, 200) : value;
  }
  await db
    .insertInto('audit_events')
    .values({
      id: crypto.randomUUID(),
      at: now(),
      type: event.type,
      outcome: event.outcome ?? 'success',
      actor_kind: event.actor.kind,
      actor_id: event.actor.id ?? null,
      target_kind: event.target?.kind ?? null,
      target_id: event.target?.id ?? null,
      ip: event.ip ?? null,
      details: JSON.stringify(details),
    })
    .execute();
}

export interface AuditFilter extends PageRequest {
  readonly actorId?: string | undefined;
  readonly type?: string | undefined;
  /** ISO times or epoch ms, inclusive. */
  readonly since?: number | undefined;
  readonly until?: number | undefined;
  readonly outcome?: 'success' | 'failure' | undefined;
}

export async function listAuditEvents(db: Db, filter: AuditFilter = {}): Promise<Page<AuditEvent>> {
  const { limit, offset } = pageBounds(filter);
  let query = db.selectFrom('audit_events');
  if (filter.actorId) query = query.where('actor_id', '=', filter.actorId);
  if (filter.type) query = query.where('type', '=', filter.type);
  if (filter.outcome) query = query.where('outcome', '=', filter.outcome);
  if (filter.since !== undefined) query = query.where('at', '>=', filter.since);
  if (filter.until !== undefined) query = query.where('at', '<=', filter.until);
  const { total } = await query.select((eb) => eb.fn.countAll<number>().as('total')).executeTakeFirstOrThrow();
  const rows = await query.selectAll().orderBy('at', 'desc').orderBy('id').limit(limit).offset(offset).execute();
  return {
    items: rows.map((r) => ({
      id: r.id,
      at: iso(r.at)!,
      type: r.type,
      outcome: r.outcome,
      actor: { kind: r.actor_kind, id: r.actor_id },
      target: r.target_kind === null || r.target_id === null ? null : { kind: r.target_kind, id: r.target_id },
      ip: r.ip,
      details: JSON.parse(r.details) as Record<string, unknown>,
    })),
    total: Number(total),
    limit,
    offset,
  };
}
