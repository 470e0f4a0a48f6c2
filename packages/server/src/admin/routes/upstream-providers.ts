// /admin/api/upstream-providers: the other identity providers users may sign in with (ADR 0017):
// list, add (the client secret given once, kept sealed, never shown), enable or disable, delete.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import Type, { type Static } from 'typebox';
import { createUpstreamProvider, deleteUpstreamProvider, findUpstreamProvider, listUpstreamProviders, setUpstreamProviderEnabled, type UpstreamProvider } from '../../storage/upstream.ts';
import { GatehouseError } from '../../errors.ts';
import { rolesByName } from '../../storage/roles.ts';
import { noteAudit } from '../audit.ts';
import { assertGrantable, assertManageable } from '../policy.ts';
import * as S from '../schemas.ts';
import { NoContent, responses, type AdminContext } from './common.ts';

const tags = ['upstream-providers'];

const EXAMPLE = {
  id: 'corp',
  name: 'Corp SSO',
  kind: 'oidc',
  issuer: 'https://sso.corp.example',
  client_id: 'gatehouse',
  scopes: ['openid', 'email', 'profile'],
  trust_mfa: false,
  roles: ['user'],
  role_claim: null,
  role_map: {},
  enabled: true,
  redirect_uri: 'https://auth.example.com/upstream/corp/callback',
  created_at: '2026-12-01T09:30:00.000Z',
};

const Provider = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    kind: Type.String({ description: '`oidc` (any OpenID Connect provider, Google included) or `github`.' }),
    issuer: Type.String({ description: 'OpenID Connect: the issuer. GitHub: its web URL.' }),
    client_id: Type.String(),
    scopes: Type.Array(Type.String()),
    trust_mfa: Type.Boolean({ description: 'A sign-in the provider says used a second factor (`amr` contains `mfa`) asks no TOTP code here.' }),
    roles: Type.Array(Type.String(), { description: 'Roles of the users it creates.' }),
    role_claim: Type.Union([Type.String(), Type.Null()]),
    role_map: Type.Record(Type.String(), Type.String()),
    enabled: Type.Boolean(),
    redirect_uri: Type.String({ description: 'To register at the provider.' }),
    created_at: Type.String({ format: 'date-time' }),
  },
  { description: 'An upstream identity provider (never its client secret).', examples: [EXAMPLE] },
);

const NewProvider = Type.Object(
  {
    id: Type.String({ minLength: 1, maxLength: 32, description: 'Lower-case letters, digits and -: it names the callback URL.' }),
    name: Type.String({ minLength: 1, maxLength: 100 }),
    kind: Type.Union([Type.Literal('oidc'), Type.Literal('github')]),
    issuer: Type.String({ maxLength: 2048 }),
    client_id: Type.String({ minLength: 1, maxLength: 255 }),
    client_secret: Type.String({ minLength: 1, maxLength: 1024 }),
    scopes: Type.Optional(Type.Array(Type.String({ maxLength: 100 }), { maxItems: 20 })),
    trust_mfa: Type.Optional(Type.Boolean()),
    roles: Type.Optional(Type.Array(Type.String({ maxLength: 100 }), { maxItems: 50 })),
    role_claim: Type.Optional(Type.String({ maxLength: 100 })),
    role_map: Type.Optional(Type.Record(Type.String({ maxLength: 200 }), Type.String({ maxLength: 100 }))),
  },
  { additionalProperties: false, examples: [{ ...Object.fromEntries(Object.entries(EXAMPLE).filter(([key]) => !['enabled', 'redirect_uri', 'created_at'].includes(key))), client_secret: '…' }] },
);

export async function upstreamProviderRoutes(app: FastifyInstance, { db, config }: AdminContext): Promise<void> {
  const view = (provider: UpstreamProvider): Static<typeof Provider> => ({
    id: provider.id,
    name: provider.name,
    kind: provider.kind,
    issuer: provider.issuer,
    client_id: provider.clientId,
    scopes: [...provider.scopes],
    trust_mfa: provider.trustMfa,
    roles: [...provider.roles],
    role_claim: provider.roleClaim,
    role_map: { ...provider.roleMap },
    enabled: provider.enabled,
    redirect_uri: `${config.publicUrl}/upstream/${provider.id}/callback`,
    created_at: provider.createdAt,
  });
  /** The provider, which the caller may act on only if it holds every admin scope the provider's roles give. */
  const existing = async (request: FastifyRequest, id: string) => {
    const provider = await findUpstreamProvider(db, id);
    if (!provider) throw new GatehouseError('not_found', `no upstream provider ${id}`);
    const roles = await rolesByName(db, [...provider.roles, ...Object.values(provider.roleMap)]);
    assertManageable(request.auth!, roles.flatMap((role) => role.scopes), `upstream provider ${id}`);
    return provider;
  };

  app.get(
    '/upstream-providers',
    {
      auth: { scopes: ['admin:providers:read'] },
      schema: { tags, operationId: 'listUpstreamProviders', summary: 'List the upstream identity providers', response: responses({ 200: Type.Object({ items: Type.Array(Provider) }, { examples: [{ items: [EXAMPLE] }] }) }) },
    },
    async () => ({ items: (await listUpstreamProviders(db)).map(view) }),
  );

  app.post<{ Body: Static<typeof NewProvider> }>(
    '/upstream-providers',
    {
      auth: { scopes: ['admin:providers:write'], kinds: ['user', 'client'] },
      config: { audit: { type: 'upstream_provider.created', target: 'upstream_provider' } },
      schema: {
        tags,
        operationId: 'createUpstreamProvider',
        summary: 'Add an upstream identity provider',
        description: 'Register this server at the provider first, with the `redirect_uri` the answer gives (`<public URL>/upstream/<id>/callback`).',
        body: NewProvider,
        response: responses({ 201: Provider }, 400, 409),
      },
    },
    async (request, reply) => {
      const body = request.body;
      // Whoever signs in there gets these roles: none may carry an admin scope the caller lacks.
      const roles = await rolesByName(db, [...(body.roles ?? []), ...Object.values(body.role_map ?? {})]);
      assertGrantable(request.auth!, roles.flatMap((role) => role.scopes), 'roles');
      const provider = await createUpstreamProvider(db, {
        id: body.id,
        name: body.name,
        kind: body.kind,
        issuer: body.issuer,
        clientId: body.client_id,
        clientSecret: body.client_secret,
        scopes: body.scopes,
        trustMfa: body.trust_mfa,
        roles: body.roles,
        roleClaim: body.role_claim,
        roleMap: body.role_map,
      });
      noteAudit(request, { target: { kind: 'upstream_provider', id: provider.id }, details: { kind: provider.kind, issuer: provider.issuer } });
      return reply.code(201).send(view(provider));
    },
  );

  app.patch<{ Params: S.IdParams; Body: { enabled: boolean } }>(
    '/upstream-providers/:id',
    {
      auth: { scopes: ['admin:providers:write'] },
      config: { audit: { type: 'upstream_provider.updated', target: 'upstream_provider' } },
      schema: {
        tags,
        operationId: 'updateUpstreamProvider',
        summary: 'Offer a provider on the login page, or stop offering it',
        params: S.IdParams,
        body: Type.Object({ enabled: Type.Boolean() }, { additionalProperties: false, examples: [{ enabled: false }] }),
        response: responses({ 200: Provider }, 400, 404),
      },
    },
    async (request) => {
      await existing(request, request.params.id);
      noteAudit(request, { details: { enabled: request.body.enabled } });
      return view(await setUpstreamProviderEnabled(db, request.params.id, request.body.enabled));
    },
  );

  app.delete<{ Params: S.IdParams }>(
    '/upstream-providers/:id',
    {
      auth: { scopes: ['admin:providers:write'] },
      config: { audit: { type: 'upstream_provider.deleted', target: 'upstream_provider' } },
      schema: {
        tags,
        operationId: 'deleteUpstreamProvider',
        summary: 'Delete a provider and the links to it (users keep their accounts and other ways in)',
        params: S.IdParams,
        response: responses({ 204: NoContent('Deleted.') }, 404),
      },
    },
    async (request, reply) => {
      await existing(request, request.params.id);
      await deleteUpstreamProvider(db, request.params.id);
      return reply.code(204).send();
    },
  );
}
