// /admin/api/users: create, list (filters), read, change email and roles, disable/enable, set password,
// reset two-factor, end sessions, list and remove passkeys.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Static } from 'typebox';
import { rolesByName } from '../../storage/roles.ts';
import { GatehouseError } from '../../errors.ts';
import { listPasskeys, removePasskey } from '../../storage/passkeys.ts';
import { disableTwoFactor } from '../../storage/two-factor.ts';
import { setUserPassword, withPasswordHash } from '../../passwords/user-passwords.ts';
import { createUser, findUser, grantedScopes, listUsers, requireUser, revokeUserSessions, setUserDisabled, updateUser, type User } from '../../storage/users.ts';
import { noteAudit } from '../audit.ts';
import { assertGrantable, assertManageable, assertNotApiKey, assertNotSelf } from '../policy.ts';
import * as S from '../schemas.ts';
import { pageView, passkeyView, userView } from '../views.ts';
import { NoContent, responses, type AdminContext } from './common.ts';

const tags = ['users'];

export async function userRoutes(app: FastifyInstance, { db, changed, endingSessions }: AdminContext): Promise<void> {
  /** The user named by `:id` (404 first), whom the caller must be allowed to manage. */
  async function manageableUser(request: FastifyRequest, id: string): Promise<User> {
    const user = await requireUser(db, id);
    assertManageable(request.auth!, await grantedScopes(db, user.id), `user ${user.username}`);
    return user;
  }

  /** Roles handed to a user carry no admin scope the caller lacks (unknown roles: 400 from the repository). */
  async function assertRolesGrantable(request: FastifyRequest, names: readonly string[]): Promise<void> {
    const roles = await rolesByName(db, names);
    assertGrantable(request.auth!, roles.flatMap((role) => role.scopes), 'roles');
  }

  app.get<{ Querystring: Static<typeof S.UserQuery> }>(
    '/users',
    {
      auth: { scopes: ['admin:users:read'] },
      config: { audit: { type: 'users.listed' } },
      schema: {
        tags,
        operationId: 'listUsers',
        summary: 'List users',
        description: 'Filter by `q` (username or email), `username`, `email` (case-insensitive substrings) and `disabled`.',
        querystring: S.UserQuery,
        response: responses({ 200: S.Page(S.User, 'A page of users.') }, 400),
      },
    },
    async (request) => {
      const { q, username, email, disabled, limit, offset } = request.query;
      return pageView(await listUsers(db, { query: q, username, email, disabled, limit, offset }), userView);
    },
  );

  app.post<{ Body: Static<typeof S.NewUser> }>(
    '/users',
    {
      auth: { scopes: ['admin:users:write'] },
      config: { audit: { type: 'user.created', target: 'user' } },
      schema: {
        tags,
        operationId: 'createUser',
        summary: 'Create a user',
        description: 'The password, if given, is hashed with argon2id (and refused if it is one of the most common passwords). Roles must exist, and carry no admin scope the caller lacks. An API key may not give a password, an email address or `email_verified`.',
        body: S.NewUser,
        response: responses({ 201: S.User }, 400, 409),
      },
    },
    async (request, reply) => {
      const body = request.body;
      noteAudit(request, { details: { username: body.username, roles: body.roles ?? [] } });
      // A password never expires, and an email address leads to one through the forgot-password
      // page: an API key (which may expire) sets neither (see index.ts, rule 5).
      if (body.password !== undefined) assertNotApiKey(request.auth!, 'set a password', 'password');
      if (body.email !== undefined) assertNotApiKey(request.auth!, 'set an email address', 'email');
      if (body.email_verified !== undefined) assertNotApiKey(request.auth!, 'mark an email address verified', 'email_verified');
      if (body.roles) await assertRolesGrantable(request, body.roles);
      const user = await createUser(
        db,
        await withPasswordHash({
          username: body.username,
          email: body.email,
          emailVerified: body.email_verified,
          password: body.password,
          roles: body.roles,
          disabled: body.disabled,
        }),
      );
      noteAudit(request, { target: { kind: 'user', id: user.id } });
      return reply.code(201).send(userView(user));
    },
  );

  app.get<{ Params: S.IdParams }>(
    '/users/:id',
    {
      auth: { scopes: ['admin:users:read'] },
      config: { audit: { type: 'user.viewed', target: 'user' } },
      schema: { tags, operationId: 'getUser', summary: 'Read a user (by id or username)', params: S.IdParams, response: responses({ 200: S.User }, 404) },
    },
    async (request) => userView(await requireUser(db, request.params.id)),
  );

  app.patch<{ Params: S.IdParams; Body: Static<typeof S.UserChanges> }>(
    '/users/:id',
    {
      auth: { scopes: ['admin:users:write'] },
      config: { audit: { type: 'user.updated', target: 'user' } },
      schema: {
        tags,
        operationId: 'updateUser',
        summary: 'Change a user\'s email or roles',
        description: 'A new email is unverified unless `email_verified` says otherwise, and reset links sent to the old one stop working. `roles` replaces the user\'s roles. An API key may change roles only: an email address leads to a password through the forgot-password page.',
        params: S.IdParams,
        body: S.UserChanges,
        response: responses({ 200: S.User }, 400, 404, 409),
      },
    },
    async (request) => {
      const user = await manageableUser(request, request.params.id);
      noteAudit(request, { target: { kind: 'user', id: user.id }, details: { changed: Object.keys(request.body), ...(request.body.roles ? { roles: request.body.roles } : {}) } });
      // The way to a password (the forgot-password page mails the account's address): not for API keys.
      if (request.body.email !== undefined) assertNotApiKey(request.auth!, 'change an email address', 'email');
      if (request.body.email_verified !== undefined) assertNotApiKey(request.auth!, 'mark an email address verified', 'email_verified');
      if (request.body.roles) await assertRolesGrantable(request, request.body.roles);
      const updated = await updateUser(db, user.id, { email: request.body.email, emailVerified: request.body.email_verified, roles: request.body.roles });
      if (request.body.roles) await changed('users');
      return userView(updated);
    },
  );

  for (const [action, disabled] of [['disable', true], ['enable', false]] as const) {
    app.post<{ Params: S.IdParams }>(
      `/users/:id/${action}`,
      {
        auth: { scopes: ['admin:users:write'] },
        config: { audit: { type: disabled ? 'user.disabled' : 'user.enabled', target: 'user' } },
        schema: {
          tags,
          operationId: disabled ? 'disableUser' : 'enableUser',
          summary: disabled ? 'Disable a user (their sessions, grants and refresh tokens end; issued JWTs stop at introspection; no login, no new tokens)' : 'Enable a user',
          params: S.IdParams,
          response: responses({ 200: S.User }, 404),
        },
      },
      async (request) => {
        const user = await manageableUser(request, request.params.id);
        noteAudit(request, { target: { kind: 'user', id: user.id } });
        if (disabled) assertNotSelf(request.auth!, { kind: 'user', id: user.id }, 'disable');
        const result = disabled ? await endingSessions(user.id, () => setUserDisabled(db, user.id, true)) : await setUserDisabled(db, user.id, false);
        await changed('users');
        return userView(result);
      },
    );
  }

  app.put<{ Params: S.IdParams; Body: Static<typeof S.NewPassword> }>(
    '/users/:id/password',
    {
      // A password never expires: API keys (which may) cannot set one (index.ts, rule 5).
      auth: { scopes: ['admin:users:write'], kinds: ['user', 'client'] },
      config: { audit: { type: 'user.password_set', target: 'user' } },
      schema: {
        tags,
        operationId: 'setUserPassword',
        summary: 'Set a user\'s password',
        description: 'Not for API keys. Refused for a user holding admin scopes the caller lacks (it would let the caller log in as them). Refused if the password is one of the most common ones. Ends every session, grant, refresh token and access token of the user, and their unused reset links.',
        params: S.IdParams,
        body: S.NewPassword,
        response: responses({ 200: S.User }, 400, 404),
      },
    },
    async (request) => {
      const user = await manageableUser(request, request.params.id);
      noteAudit(request, { target: { kind: 'user', id: user.id } });
      return userView(await endingSessions(user.id, () => setUserPassword(db, user.id, request.body.password)));
    },
  );

  app.delete<{ Params: S.IdParams }>(
    '/users/:id/two-factor',
    {
      // Like setting a password, it weakens how the account signs in: not for API keys.
      auth: { scopes: ['admin:users:write'], kinds: ['user', 'client'] },
      config: { audit: { type: 'user.two_factor_reset', target: 'user' } },
      schema: {
        tags,
        operationId: 'resetUserTwoFactor',
        summary: 'Turn off a user\'s two-factor authentication',
        description:
          'For a user who lost their authenticator and their recovery codes; they can enrol again from their account page. Not for API keys; refused for a user holding admin scopes the caller lacks.',
        params: S.IdParams,
        response: responses({ 200: S.User }, 404),
      },
    },
    async (request) => {
      const user = await manageableUser(request, request.params.id);
      noteAudit(request, { target: { kind: 'user', id: user.id } });
      await disableTwoFactor(db, user.id);
      return userView((await findUser(db, user.id))!);
    },
  );

  app.delete<{ Params: S.IdParams }>(
    '/users/:id/sessions',
    {
      auth: { scopes: ['admin:users:write'] },
      config: { audit: { type: 'user.sessions_ended', target: 'user' } },
      schema: {
        tags,
        operationId: 'endUserSessions',
        summary: 'End every session of a user',
        description:
          'Signs the user out everywhere: their login sessions, grants and refresh tokens end, and issued access tokens stop at introspection. The account stays enabled: they can sign in again. Refused for a user holding admin scopes the caller lacks.',
        params: S.IdParams,
        response: responses({ 200: S.User }, 404),
      },
    },
    async (request) => {
      const user = await manageableUser(request, request.params.id);
      noteAudit(request, { target: { kind: 'user', id: user.id } });
      await endingSessions(user.id, () => revokeUserSessions(db, user.id));
      await changed('users');
      return userView(user);
    },
  );

  // Passkeys (docs/adr/0015-passkeys.md): what an operator needs to help a user who lost a
  // device, never the public key or the credential id.
  app.get<{ Params: S.IdParams }>(
    '/users/:id/passkeys',
    {
      auth: { scopes: ['admin:users:read'] },
      config: { audit: { type: 'user.passkeys_listed', target: 'user' } },
      schema: {
        tags,
        operationId: 'listUserPasskeys',
        summary: "List a user's passkeys",
        description: 'Name, when enrolled, when last used; oldest first. Never the public key or the credential id.',
        params: S.IdParams,
        response: responses({ 200: S.PasskeyList }, 404),
      },
    },
    async (request) => {
      const user = await requireUser(db, request.params.id);
      noteAudit(request, { target: { kind: 'user', id: user.id } });
      return { items: (await listPasskeys(db, user.id)).map(passkeyView) };
    },
  );

  app.delete<{ Params: S.PasskeyParams }>(
    '/users/:id/passkeys/:passkeyId',
    {
      auth: { scopes: ['admin:users:write'] },
      config: { audit: { type: 'user.passkey_removed', target: 'user' } },
      schema: {
        tags,
        operationId: 'removeUserPasskey',
        summary: "Remove one of a user's passkeys",
        description:
          'For a lost or stolen device: the passkey signs in no more. Refused (409) when it is the last way into an account without a password. Refused for a user holding admin scopes the caller lacks.',
        params: S.PasskeyParams,
        response: responses({ 204: NoContent('Removed.') }, 404, 409),
      },
    },
    async (request, reply) => {
      const user = await manageableUser(request, request.params.id);
      noteAudit(request, { target: { kind: 'user', id: user.id }, details: { passkey_id: request.params.passkeyId } });
      const removal = await removePasskey(db, user.id, request.params.passkeyId);
      if (removal.kind === 'not_found') throw new GatehouseError('not_found', `user ${user.username} has no passkey ${request.params.passkeyId}`);
      if (removal.kind === 'last_way_in') throw new GatehouseError('conflict', `passkey ${request.params.passkeyId} is the last way user ${user.username} can sign in (no password, no other passkey)`);
      noteAudit(request, { details: { passkey_id: removal.passkey.id, name: removal.passkey.name } });
      return reply.code(204).send();
    },
  );
}
