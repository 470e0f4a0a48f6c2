// /admin/api/clients: create (the secret shown once), list, read, change what is safe to change,
// revoke, delete, rotate the secret (the new one shown once, the old one stops working).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Static } from 'typebox';
import { GatehouseError } from '../../errors.ts';
import {
  createClient,
  deleteClient,
  listClients,
  requireStoredClient,
  revokeClient,
  rotateClientSecret,
  updateClient,
  publicView,
  type Client,
} from '../../storage/clients.ts';
import { noteAudit } from '../audit.ts';
import { assertGrantable, assertManageable, assertNotManaged, assertNotSelf } from '../policy.ts';
import { ADMIN_INTROSPECTION_CLIENT_ID } from '../scopes.ts';
import * as S from '../schemas.ts';
import { clientView, pageView } from '../views.ts';
import { NoContent, responses, type AdminContext } from './common.ts';

const tags = ['clients'];

const isManaged = (client: Client) => client.clientId === ADMIN_INTROSPECTION_CLIENT_ID;
const view = (client: Client) => clientView(client, isManaged(client));

export async function clientRoutes(app: FastifyInstance, { db, changed }: AdminContext): Promise<void> {
  /**
   * The client named by `:id` (404 first), not one Gatehouse manages, and not out-ranking the
   * caller: whoever can change a client, or take its secret, can act with its scopes.
   */
  async function manageableClient(request: FastifyRequest, id: string, options: { live?: boolean } = {}): Promise<Client> {
    const client = publicView(await requireStoredClient(db, id));
    noteAudit(request, { target: { kind: 'client', id: client.clientId } });
    assertNotManaged(isManaged(client), `client ${client.clientId}`);
    assertManageable(request.auth!, client.scopes, `client ${client.clientId}`);
    if (options.live && client.revokedAt !== null) {
      throw new GatehouseError('conflict', `client ${client.clientId} is revoked`, { field: 'client_id' });
    }
    return client;
  }

  app.get<{ Querystring: Static<typeof S.PageQuery> }>(
    '/clients',
    {
      auth: { scopes: ['admin:clients:read'] },
      config: { audit: { type: 'clients.listed' } },
      schema: { tags, operationId: 'listClients', summary: 'List clients', querystring: S.PageQuery, response: responses({ 200: S.Page(S.Client, 'A page of clients.') }, 400) },
    },
    async (request) => pageView(await listClients(db, request.query), view),
  );

  app.post<{ Body: Static<typeof S.NewClient> }>(
    '/clients',
    {
      // A client secret never expires: API keys (which may) cannot create one (index.ts, rule 5).
      auth: { scopes: ['admin:clients:write'], kinds: ['user', 'client'] },
      config: { audit: { type: 'client.created', target: 'client' } },
      schema: {
        tags,
        operationId: 'createClient',
        summary: 'Create a client',
        description:
          'A confidential client\'s secret is in the response, once: it is stored only as a hash. The client gets tokens only for the APIs in `apis`. `first_party` is required with the `authorization_code` grant. The client\'s scopes carry no admin scope the caller lacks. Not for API keys.',
        body: S.NewClient,
        response: responses({ 201: S.ClientWithSecret }, 400, 409),
      },
    },
    async (request, reply) => {
      const body = request.body;
      noteAudit(request, { details: { name: body.name, grant_types: body.grant_types, scopes: body.scopes ?? [], apis: body.apis ?? [] } });
      assertGrantable(request.auth!, body.scopes ?? [], 'scopes');
      const created = await createClient(db, {
        clientId: body.client_id,
        name: body.name,
        public: body.public,
        applicationType: body.application_type,
        tokenEndpointAuthMethod: body.token_endpoint_auth_method,
        grantTypes: body.grant_types,
        redirectUris: body.redirect_uris,
        postLogoutRedirectUris: body.post_logout_redirect_uris,
        scopes: body.scopes,
        apis: body.apis,
        corsOrigins: body.cors_origins,
        firstParty: body.first_party,
        backchannelLogoutUri: body.backchannel_logout_uri,
        backchannelLogoutSessionRequired: body.backchannel_logout_session_required,
      });
      noteAudit(request, { target: { kind: 'client', id: created.client.clientId } });
      await changed('clients');
      return reply.code(201).send({ client: view(created.client), ...(created.clientSecret === undefined ? {} : { client_secret: created.clientSecret }) });
    },
  );

  app.get<{ Params: S.IdParams }>(
    '/clients/:id',
    {
      auth: { scopes: ['admin:clients:read'] },
      config: { audit: { type: 'client.viewed', target: 'client' } },
      schema: { tags, operationId: 'getClient', summary: 'Read a client', params: S.IdParams, response: responses({ 200: S.Client }, 404) },
    },
    async (request) => view(publicView(await requireStoredClient(db, request.params.id))),
  );

  app.patch<{ Params: S.IdParams; Body: Static<typeof S.ClientChanges> }>(
    '/clients/:id',
    {
      auth: { scopes: ['admin:clients:write'] },
      config: { audit: { type: 'client.updated', target: 'client' } },
      schema: {
        tags,
        operationId: 'updateClient',
        summary: 'Change a client',
        description: 'Name, grants, redirect URIs, scopes, granted APIs, CORS origins, first-party flag, back-channel logout URI; checked as a whole like a new client. The id, type and authentication method never change.',
        params: S.IdParams,
        body: S.ClientChanges,
        response: responses({ 200: S.Client }, 400, 404, 409),
      },
    },
    async (request) => {
      const client = await manageableClient(request, request.params.id, { live: true });
      const body = request.body;
      noteAudit(request, { details: { changed: Object.keys(body), ...(body.scopes ? { scopes: body.scopes } : {}), ...(body.apis ? { apis: body.apis } : {}) } });
      if (body.scopes) assertGrantable(request.auth!, body.scopes, 'scopes');
      const updated = await updateClient(db, client.clientId, {
        name: body.name,
        grantTypes: body.grant_types,
        redirectUris: body.redirect_uris,
        postLogoutRedirectUris: body.post_logout_redirect_uris,
        scopes: body.scopes,
        apis: body.apis,
        corsOrigins: body.cors_origins,
        firstParty: body.first_party,
        backchannelLogoutUri: body.backchannel_logout_uri,
        backchannelLogoutSessionRequired: body.backchannel_logout_session_required,
      });
      await changed('clients');
      return view(updated);
    },
  );

  app.post<{ Params: S.IdParams }>(
    '/clients/:id/revoke',
    {
      auth: { scopes: ['admin:clients:write'] },
      config: { audit: { type: 'client.revoked', target: 'client' } },
      schema: {
        tags,
        operationId: 'revokeClient',
        summary: 'Revoke a client',
        description: 'It can no longer authenticate; its refresh tokens and grants are deleted, its API keys stop working, and introspection answers `active: false` for its access tokens.',
        params: S.IdParams,
        response: responses({ 200: S.Client }, 404),
      },
    },
    async (request) => {
      const client = await manageableClient(request, request.params.id);
      assertNotSelf(request.auth!, { kind: 'client', id: client.clientId }, 'revoke');
      const revoked = await revokeClient(db, client.clientId);
      await changed('clients');
      return view(revoked);
    },
  );

  app.delete<{ Params: S.IdParams }>(
    '/clients/:id',
    {
      auth: { scopes: ['admin:clients:write'] },
      config: { audit: { type: 'client.deleted', target: 'client' } },
      schema: {
        tags,
        operationId: 'deleteClient',
        summary: 'Delete a client and everything issued to it',
        params: S.IdParams,
        response: responses({ 204: NoContent('Deleted.') }, 404),
      },
    },
    async (request, reply) => {
      const client = await manageableClient(request, request.params.id);
      assertNotSelf(request.auth!, { kind: 'client', id: client.clientId }, 'delete');
      await deleteClient(db, client.clientId);
      await changed('clients');
      return reply.code(204).send();
    },
  );

  app.post<{ Params: S.IdParams }>(
    '/clients/:id/secret',
    {
      // A client secret never expires: API keys (which may) cannot obtain one (index.ts, rule 5).
      auth: { scopes: ['admin:clients:write'], kinds: ['user', 'client'] },
      config: { audit: { type: 'client.secret_rotated', target: 'client' } },
      schema: {
        tags,
        operationId: 'rotateClientSecret',
        summary: 'Rotate a confidential client\'s secret',
        description: 'The new secret is in the response, once; the old one stops working at once. Not for API keys.',
        params: S.IdParams,
        response: responses({ 200: S.ClientWithSecret }, 400, 404, 409),
      },
    },
    async (request) => {
      const client = await manageableClient(request, request.params.id, { live: true });
      const rotated = await rotateClientSecret(db, client.clientId);
      await changed('clients');
      return { client: view(rotated.client), client_secret: rotated.clientSecret };
    },
  );
}
