// /admin/api/signing-keys: list (public parts only) and schedule a rotation.
import type { FastifyInstance } from 'fastify';
import type { Static } from 'typebox';
import { listSigningKeys, scheduleKeyRotation } from '../../storage/keys.ts';
import { pageBounds } from '../../storage/rows.ts';
import { noteAudit } from '../audit.ts';
import * as S from '../schemas.ts';
import { signingKeyView } from '../views.ts';
import { responses, type AdminContext } from './common.ts';

const tags = ['signing-keys'];

export async function signingKeyRoutes(app: FastifyInstance, { db, config, maintainKeys, changed }: AdminContext): Promise<void> {
  app.get<{ Querystring: Static<typeof S.PageQuery> }>(
    '/signing-keys',
    {
      auth: { scopes: ['admin:keys:read'] },
      config: { audit: { type: 'signing_keys.listed' } },
      schema: {
        tags,
        operationId: 'listSigningKeys',
        summary: 'List signing keys, newest first (public parts only)',
        querystring: S.PageQuery,
        response: responses({ 200: S.Page(S.SigningKey, 'A page of signing keys.') }, 400),
      },
    },
    async (request) => {
      // A handful of rows at most: paged here rather than in SQL.
      const keys = await listSigningKeys(db);
      const { limit, offset } = pageBounds(request.query);
      return { items: keys.slice(offset, offset + limit).map(signingKeyView), total: keys.length, limit, offset };
    },
  );

  app.post<{ Body: Static<typeof S.NewRotation> }>(
    '/signing-keys/rotations',
    {
      auth: { scopes: ['admin:keys:write'] },
      config: { audit: { type: 'signing_key.rotation_scheduled', target: 'signing_key' } },
      schema: {
        tags,
        operationId: 'scheduleKeyRotation',
        summary: 'Schedule a signing-key rotation',
        description:
          'A new key for `alg` is published in the JWKS at once and signs from `activate_in` seconds from now (default GATEHOUSE_KEY_ROTATION_DELAY); the key it replaces stays published until what it signed has expired. One pending rotation per algorithm (409 otherwise).',
        body: S.NewRotation,
        response: responses({ 201: S.SigningKey }, 400, 409),
      },
    },
    async (request, reply) => {
      const delay = request.body.activate_in ?? config.keyRotationDelay;
      const activatesAt = Date.now() + delay * 1000;
      noteAudit(request, { details: { alg: request.body.alg, activates_at: new Date(activatesAt).toISOString() } });
      const key = await scheduleKeyRotation(db, request.body.alg, activatesAt);
      noteAudit(request, { target: { kind: 'signing_key', id: key.kid } });
      // Publish the new key now (and activate it now if it is due), here and on every instance.
      await maintainKeys();
      await changed('keys');
      const current = (await listSigningKeys(db)).find((k) => k.kid === key.kid) ?? key;
      return reply.code(201).send(signingKeyView(current));
    },
  );
}
