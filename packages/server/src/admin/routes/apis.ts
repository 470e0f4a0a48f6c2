// /admin/api/apis: create, list (by identifier), read, change (name, scopes, token TTL, signing
// algorithm), delete. The admin API itself is listed, read-only.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Static } from 'typebox';
import { createApi, deleteApi, findApi, listApis, requireApiById, updateApi, type Api } from '../../storage/apis.ts';
import { noteAudit } from '../audit.ts';
import { assertNotManaged } from '../policy.ts';
import * as S from '../schemas.ts';
import { apiView, pageView } from '../views.ts';
import { NoContent, responses, type AdminContext } from './common.ts';

const tags = ['apis'];

type ApiScopeInput = { name: string; description?: string | null | undefined };
const scopeInput = (scopes: readonly ApiScopeInput[]) => scopes.map((s) => (s.description == null ? { name: s.name } : { name: s.name, description: s.description }));

export async function apiRoutes(app: FastifyInstance, { db, adminApi, changed }: AdminContext): Promise<void> {
  const isManaged = (api: Api) => api.id === adminApi.id;
  const view = (api: Api) => apiView(api, isManaged(api));

  async function changeableApi(request: FastifyRequest, id: string): Promise<Api> {
    const api = await requireApiById(db, id);
    noteAudit(request, { details: { identifier: api.identifier } });
    assertNotManaged(isManaged(api), 'the admin API');
    return api;
  }

  app.get<{ Querystring: Static<typeof S.ApiQuery> }>(
    '/apis',
    {
      auth: { scopes: ['admin:apis:read'] },
      config: { audit: { type: 'apis.listed' } },
      schema: { tags, operationId: 'listApis', summary: 'List APIs', querystring: S.ApiQuery, response: responses({ 200: S.Page(S.Api, 'A page of APIs.') }, 400) },
    },
    async (request) => {
      const { identifier, limit, offset } = request.query;
      if (identifier === undefined) return pageView(await listApis(db, { limit, offset }), view);
      const api = await findApi(db, identifier);
      return { items: api ? [view(api)] : [], total: api ? 1 : 0, limit: limit ?? 50, offset: offset ?? 0 };
    },
  );

  app.post<{ Body: Static<typeof S.NewApi> }>(
    '/apis',
    {
      auth: { scopes: ['admin:apis:write'] },
      config: { audit: { type: 'api.created', target: 'api' } },
      schema: { tags, operationId: 'createApi', summary: 'Create an API', body: S.NewApi, response: responses({ 201: S.Api }, 400, 409) },
    },
    async (request, reply) => {
      const body = request.body;
      noteAudit(request, { details: { identifier: body.identifier, scopes: body.scopes.map((s) => s.name) } });
      const api = await createApi(db, {
        identifier: body.identifier,
        name: body.name,
        scopes: scopeInput(body.scopes),
        accessTokenTtl: body.access_token_ttl,
        signingAlg: body.signing_alg,
        openToDynamicClients: body.open_to_dynamic_clients,
      });
      noteAudit(request, { target: { kind: 'api', id: api.id } });
      await changed('apis');
      return reply.code(201).send(view(api));
    },
  );

  app.get<{ Params: S.IdParams }>(
    '/apis/:id',
    {
      auth: { scopes: ['admin:apis:read'] },
      config: { audit: { type: 'api.viewed', target: 'api' } },
      schema: { tags, operationId: 'getApi', summary: 'Read an API', params: S.IdParams, response: responses({ 200: S.Api }, 404) },
    },
    async (request) => view(await requireApiById(db, request.params.id)),
  );

  app.patch<{ Params: S.IdParams; Body: Static<typeof S.ApiChanges> }>(
    '/apis/:id',
    {
      auth: { scopes: ['admin:apis:write'] },
      config: { audit: { type: 'api.updated', target: 'api' } },
      schema: {
        tags,
        operationId: 'updateApi',
        summary: 'Change an API',
        description: '`scopes` replaces its scopes; `null` puts the token TTL or signing algorithm back to the server default. The identifier never changes.',
        params: S.IdParams,
        body: S.ApiChanges,
        response: responses({ 200: S.Api }, 400, 404),
      },
    },
    async (request) => {
      const api = await changeableApi(request, request.params.id);
      const body = request.body;
      noteAudit(request, { details: { changed: Object.keys(body) } });
      const updated = await updateApi(db, api.id, {
        name: body.name,
        scopes: body.scopes === undefined ? undefined : scopeInput(body.scopes),
        accessTokenTtl: body.access_token_ttl,
        signingAlg: body.signing_alg,
        openToDynamicClients: body.open_to_dynamic_clients,
      });
      await changed('apis');
      return view(updated);
    },
  );

  app.delete<{ Params: S.IdParams }>(
    '/apis/:id',
    {
      auth: { scopes: ['admin:apis:write'] },
      config: { audit: { type: 'api.deleted', target: 'api' } },
      schema: {
        tags,
        operationId: 'deleteApi',
        summary: 'Delete an API and its API keys',
        description: 'Tokens already issued for it stay valid until they expire (JWTs are verified by the API itself).',
        params: S.IdParams,
        response: responses({ 204: NoContent('Deleted.') }, 404),
      },
    },
    async (request, reply) => {
      const api = await changeableApi(request, request.params.id);
      await deleteApi(db, api.id);
      await changed('apis');
      return reply.code(204).send();
    },
  );
}
