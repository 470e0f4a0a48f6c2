// /admin/api/api-keys: create for a user or a client (the key shown once), list (by owner, API),
// read, revoke.
import type { FastifyInstance } from 'fastify';
import type { Static } from 'typebox';
import { GatehouseError } from '../../errors.ts';
import { createApiKey, findApiKey, listApiKeys, revokeApiKey, type ApiKey } from '../../storage/api-keys.ts';
import { findClient } from '../../storage/clients.ts';
import { findUser, grantedScopes } from '../../storage/users.ts';
import { noteAudit } from '../audit.ts';
import { assertGrantable, assertManageable, assertWithinApiKey, identityOf } from '../policy.ts';
import * as S from '../schemas.ts';
import { apiKeyView, pageView } from '../views.ts';
import { responses, type AdminContext } from './common.ts';

const tags = ['api-keys'];

export async function apiKeyRoutes(app: FastifyInstance, { db, adminApi }: AdminContext): Promise<void> {
  /** The owner's id and the admin scopes it holds; undefined when there is no such owner. */
  async function owner(kind: 'user' | 'client', id: string): Promise<{ id: string; scopes: readonly string[] } | undefined> {
    if (kind === 'user') {
      const user = await findUser(db, id);
      return user && { id: user.id, scopes: [...(await grantedScopes(db, user.id))] };
    }
    const client = await findClient(db, id);
    return client && { id: client.clientId, scopes: client.scopes };
  }

  /** Admin scopes only mean something on a key for the admin API. */
  const heldBy = (key: ApiKey) => (key.api === adminApi.identifier ? key.scopes : []);

  app.get<{ Querystring: Static<typeof S.ApiKeyQuery> }>(
    '/api-keys',
    {
      auth: { scopes: ['admin:api-keys:read'] },
      config: { audit: { type: 'api_keys.listed' } },
      schema: {
        tags,
        operationId: 'listApiKeys',
        summary: 'List API keys',
        description: 'Filter by owner (`owner_kind` and `owner_id` together) and by API identifier. Revoked keys only with `include_revoked`.',
        querystring: S.ApiKeyQuery,
        response: responses({ 200: S.Page(S.ApiKey, 'A page of API keys.') }, 400),
      },
    },
    async (request) => {
      const { owner_kind, owner_id, api, include_revoked, limit, offset } = request.query;
      if ((owner_kind === undefined) !== (owner_id === undefined)) {
        const field = owner_kind === undefined ? 'owner_kind' : 'owner_id';
        throw new GatehouseError('invalid_request', 'owner_kind and owner_id go together', { field });
      }
      let ownerFilter: { kind: 'user' | 'client'; id: string } | undefined;
      if (owner_kind !== undefined && owner_id !== undefined) {
        const found = await owner(owner_kind, owner_id);
        if (!found) return { items: [], total: 0, limit: limit ?? 50, offset: offset ?? 0 };
        ownerFilter = { kind: owner_kind, id: found.id };
      }
      return pageView(await listApiKeys(db, { owner: ownerFilter, api, includeRevoked: include_revoked, limit, offset }), apiKeyView);
    },
  );

  app.post<{ Body: Static<typeof S.NewApiKey> }>(
    '/api-keys',
    {
      auth: { scopes: ['admin:api-keys:write'] },
      config: { audit: { type: 'api_key.created', target: 'api_key' } },
      schema: {
        tags,
        operationId: 'createApiKey',
        summary: 'Create an API key for a user or a client',
        description:
          'The key is in the response, once: it is stored only as a hash. Its scopes are within what the owner may have at the API, carry no admin scope the caller lacks, and the owner may not out-rank the caller. An API key creating a key: only its own scopes, and no later expiry than its own.',
        body: S.NewApiKey,
        response: responses({ 201: S.ApiKeyWithKey }, 400, 404),
      },
    },
    async (request, reply) => {
      const body = request.body;
      const principal = request.auth!;
      noteAudit(request, { details: { owner_kind: body.owner.kind, owner_id: body.owner.id, api: body.api, scopes: body.scopes } });
      const found = await owner(body.owner.kind, body.owner.id);
      if (!found) throw new GatehouseError('not_found', `no ${body.owner.kind} "${body.owner.id}"`, { field: 'owner.id' });
      // Whoever gets the key acts as its owner: the owner may not out-rank the caller, unless the
      // owner is the caller itself (then rules 1 and 5 bound the key).
      const self = identityOf(principal);
      if (self.kind !== body.owner.kind || self.id !== found.id) assertManageable(principal, found.scopes, `${body.owner.kind} ${body.owner.id}`);
      assertGrantable(principal, body.scopes, 'scopes');
      assertWithinApiKey(principal, body.scopes, body.expires_in);
      const created = await createApiKey(db, {
        owner: { kind: body.owner.kind, id: found.id },
        api: body.api,
        scopes: body.scopes,
        name: body.name,
        expiresIn: body.expires_in,
      });
      noteAudit(request, { target: { kind: 'api_key', id: created.apiKey.id }, details: { expires_at: created.apiKey.expiresAt } });
      return reply.code(201).send({ api_key: apiKeyView(created.apiKey), key: created.key });
    },
  );

  app.get<{ Params: S.IdParams }>(
    '/api-keys/:id',
    {
      auth: { scopes: ['admin:api-keys:read'] },
      config: { audit: { type: 'api_key.viewed', target: 'api_key' } },
      schema: { tags, operationId: 'getApiKey', summary: 'Read an API key (never the key itself)', params: S.IdParams, response: responses({ 200: S.ApiKey }, 404) },
    },
    async (request) => {
      const key = await findApiKey(db, request.params.id);
      if (!key) throw new GatehouseError('not_found', `no API key "${request.params.id}"`, { field: 'id' });
      return apiKeyView(key);
    },
  );

  app.post<{ Params: S.IdParams }>(
    '/api-keys/:id/revoke',
    {
      auth: { scopes: ['admin:api-keys:write'] },
      config: { audit: { type: 'api_key.revoked', target: 'api_key' } },
      schema: {
        tags,
        operationId: 'revokeApiKey',
        summary: 'Revoke an API key',
        description: 'APIs stop accepting it within their introspection cache time (30 s by default in @gatehouse/sdk).',
        params: S.IdParams,
        response: responses({ 200: S.ApiKey }, 404),
      },
    },
    async (request) => {
      const key = await findApiKey(db, request.params.id);
      if (!key) throw new GatehouseError('not_found', `no API key "${request.params.id}"`, { field: 'id' });
      assertManageable(request.auth!, heldBy(key), `API key ${key.id}`);
      return apiKeyView(await revokeApiKey(db, key.id));
    },
  );
}
