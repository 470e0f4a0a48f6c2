// /admin/api/roles: create, list, read, change (description, scopes), delete.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Static } from 'typebox';
import { createRole, deleteRole, listRoles, requireRole, updateRole, type Role } from '../../storage/roles.ts';
import { noteAudit } from '../audit.ts';
import { assertGrantable, assertManageable } from '../policy.ts';
import * as S from '../schemas.ts';
import { pageView, roleView } from '../views.ts';
import { NoContent, responses, type AdminContext } from './common.ts';

const tags = ['roles'];

export async function roleRoutes(app: FastifyInstance, { db, changed }: AdminContext): Promise<void> {
  /** The role named by `:id` (404 first); changing it changes its users, so it must not out-rank the caller. */
  async function manageableRole(request: FastifyRequest, id: string): Promise<Role> {
    const role = await requireRole(db, id);
    noteAudit(request, { target: { kind: 'role', id: role.id }, details: { name: role.name } });
    assertManageable(request.auth!, role.scopes, `role ${role.name}`);
    return role;
  }

  app.get<{ Querystring: Static<typeof S.PageQuery> }>(
    '/roles',
    {
      auth: { scopes: ['admin:roles:read'] },
      config: { audit: { type: 'roles.listed' } },
      schema: { tags, operationId: 'listRoles', summary: 'List roles', querystring: S.PageQuery, response: responses({ 200: S.Page(S.Role, 'A page of roles.') }, 400) },
    },
    async (request) => pageView(await listRoles(db, request.query), roleView),
  );

  app.post<{ Body: Static<typeof S.NewRole> }>(
    '/roles',
    {
      auth: { scopes: ['admin:roles:write'] },
      config: { audit: { type: 'role.created', target: 'role' } },
      schema: {
        tags,
        operationId: 'createRole',
        summary: 'Create a role',
        description: 'Its scopes carry no admin scope the caller lacks.',
        body: S.NewRole,
        response: responses({ 201: S.Role }, 400, 409),
      },
    },
    async (request, reply) => {
      noteAudit(request, { details: { name: request.body.name, scopes: request.body.scopes } });
      assertGrantable(request.auth!, request.body.scopes, 'scopes');
      const role = await createRole(db, request.body);
      noteAudit(request, { target: { kind: 'role', id: role.id } });
      return reply.code(201).send(roleView(role));
    },
  );

  app.get<{ Params: S.IdParams }>(
    '/roles/:id',
    {
      auth: { scopes: ['admin:roles:read'] },
      config: { audit: { type: 'role.viewed', target: 'role' } },
      schema: { tags, operationId: 'getRole', summary: 'Read a role (by id or name)', params: S.IdParams, response: responses({ 200: S.Role }, 404) },
    },
    async (request) => roleView(await requireRole(db, request.params.id)),
  );

  app.patch<{ Params: S.IdParams; Body: Static<typeof S.RoleChanges> }>(
    '/roles/:id',
    {
      auth: { scopes: ['admin:roles:write'] },
      config: { audit: { type: 'role.updated', target: 'role' } },
      schema: {
        tags,
        operationId: 'updateRole',
        summary: 'Change a role\'s description or scopes',
        description: '`scopes` replaces the role\'s scopes; every user with the role gets the new ones at their next token or refresh.',
        params: S.IdParams,
        body: S.RoleChanges,
        response: responses({ 200: S.Role }, 400, 404),
      },
    },
    async (request) => {
      const role = await manageableRole(request, request.params.id);
      if (request.body.scopes) {
        noteAudit(request, { details: { scopes: request.body.scopes } });
        assertGrantable(request.auth!, request.body.scopes, 'scopes');
      }
      const updated = await updateRole(db, role.id, request.body);
      await changed('users');
      return roleView(updated);
    },
  );

  app.delete<{ Params: S.IdParams }>(
    '/roles/:id',
    {
      auth: { scopes: ['admin:roles:write'] },
      config: { audit: { type: 'role.deleted', target: 'role' } },
      schema: {
        tags,
        operationId: 'deleteRole',
        summary: 'Delete a role (its users lose the scopes it granted)',
        params: S.IdParams,
        response: responses({ 204: NoContent('Deleted.') }, 404),
      },
    },
    async (request, reply) => {
      const role = await manageableRole(request, request.params.id);
      await deleteRole(db, role.id);
      await changed('users');
      return reply.code(204).send();
    },
  );
}
