// /admin/api/audit-events: the audit log, newest first, filtered by actor, type, outcome, time.
// /admin/api/me: who is calling (any valid credential for the admin API).
import type { FastifyInstance } from 'fastify';
import type { Static } from 'typebox';
import { listAuditEvents } from '../../storage/audit.ts';
import { apiKeyIdOf } from '../policy.ts';
import * as S from '../schemas.ts';
import { auditView, pageView } from '../views.ts';
import { responses, type AdminContext } from './common.ts';

export async function auditRoutes(app: FastifyInstance, { db }: AdminContext): Promise<void> {
  app.get<{ Querystring: Static<typeof S.AuditQuery> }>(
    '/audit-events',
    {
      auth: { scopes: ['admin:audit:read'] },
      config: { audit: { type: 'audit_events.listed' } },
      schema: {
        tags: ['audit'],
        operationId: 'listAuditEvents',
        summary: 'Read the audit log, newest first',
        description: 'Logins, admin API actions (and refusals), CLI changes. Never a secret.',
        querystring: S.AuditQuery,
        response: responses({ 200: S.Page(S.AuditEvent, 'A page of audit events.') }, 400),
      },
    },
    async (request) => {
      const { actor_id, type, outcome, since, until, limit, offset } = request.query;
      return pageView(
        await listAuditEvents(db, {
          actorId: actor_id,
          type,
          outcome,
          since: since === undefined ? undefined : Date.parse(since),
          until: until === undefined ? undefined : Date.parse(until),
          limit,
          offset,
        }),
        auditView,
      );
    },
  );

  app.get(
    '/me',
    {
      auth: {},
      config: { audit: { type: 'me.viewed' } },
      schema: { tags: ['me'], operationId: 'whoAmI', summary: 'Who is calling, and with which scopes', response: responses({ 200: S.Me }) },
    },
    async (request) => {
      const principal = request.auth!;
      return {
        kind: principal.kind,
        subject: principal.subject,
        client_id: principal.clientId ?? null,
        api_key_id: apiKeyIdOf(principal) ?? null,
        scopes: [...principal.scopes].sort(),
        expires_at: principal.expiresAt?.toISOString() ?? null,
      };
    },
  );
}
