// The resource owner password grant (RFC 6749 §4.3), for clients configured for it only (the
// token endpoint checks the client's grant_types). It shares the login page's throttling and
// timing (passwords/password-login.ts) and the same scope policy as every other user token.
// OAuth 2.0 Security BCP (RFC 9700 §2.4) says not to use it; it is here for the FastAPI
// tutorial's flow and local development, off unless a client is given it.
import { errors, type KoaContextWithOIDC, type Provider } from 'oidc-provider';
import type { PasswordLogin } from '../passwords/password-login.ts';
import type { Db } from '../storage/database.ts';
import { atomically } from '../storage/scope.ts';
import { grantedScopes } from '../storage/users.ts';
import { setResourceScopes } from './grants.ts';
import type { createResourceIndicators } from './resources.ts';
import { decideUserScopes, splitScope } from './scope-policy.ts';
import { TooManyAttempts, accountDisabled, emailNotVerified, invalidCredentials, secondFactorRequired } from './token-errors.ts';

export const PASSWORD_GRANT_PARAMETERS = ['username', 'password', 'scope', 'resource'] as const;

export interface PasswordGrantDeps {
  readonly db: Db;
  readonly passwordLogin: PasswordLogin;
  readonly resources: ReturnType<typeof createResourceIndicators>;
}

function singleResource(value: unknown): string | undefined {
  if (Array.isArray(value)) {
    if (value.length > 1) throw new errors.InvalidTarget('only a single resource indicator value is supported for this grant type');
    return value[0] as string | undefined;
  }
  return typeof value === 'string' ? value : undefined;
}

export function registerPasswordGrant(provider: Provider, deps: PasswordGrantDeps): void {
  provider.registerGrantType(
    'password',
    async (ctx) => {
      const { client, params } = ctx.oidc;
      const { username, password } = params as { username?: unknown; password?: unknown };
      if (typeof username !== 'string' || username === '' || typeof password !== 'string' || password === '') {
        throw new errors.InvalidRequest("missing required parameter 'username' or 'password'");
      }

      const outcome = await deps.passwordLogin.authenticate(username, password, ctx.ip, { kind: 'password_grant', clientId: client.clientId });
      if (outcome.kind === 'throttled') throw new TooManyAttempts(ctx as KoaContextWithOIDC, outcome.retryAfter);
      if (outcome.kind === 'invalid') throw invalidCredentials();
      if (outcome.kind === 'disabled') throw accountDisabled();
      if (outcome.kind === 'unverified') throw emailNotVerified();
      if (outcome.kind === 'second_factor') throw secondFactorRequired();

      const resource = singleResource(params.resource) ?? (await deps.resources.defaultResource(ctx as KoaContextWithOIDC, client));
      const resourceServer = resource
        ? new provider.ResourceServer(resource, await deps.resources.getResourceServerInfo(ctx, resource, client))
        : undefined;

      // No `scope` asks for everything the user may have at this API (RFC 6749 §3.3 default).
      const requested = splitScope(params.scope);
      const available = resourceServer?.scopes ?? new Set<string>();
      const decision = decideUserScopes(requested.length > 0 ? requested : available, available, await grantedScopes(deps.db, outcome.userId));

      // The grant, its access-token record and its refresh token: all or nothing.
      await atomically(deps.db, async () => {
        const grant = new provider.Grant({ accountId: outcome.userId, clientId: client.clientId });
        if (resource) setResourceScopes(grant, resource, decision.granted, decision.rejected);
        const grantId = await grant.save();

        const at = new provider.AccessToken({ accountId: outcome.userId, client, grantId, gty: 'password' });
        if (resourceServer) at.resourceServer = resourceServer;
        at.scope = decision.granted.join(' ');
        ctx.oidc.entity('AccessToken', at);
        const accessToken = await at.save();

        let refreshToken: string | undefined;
        if (client.grantTypeAllowed('refresh_token')) {
          const rt = new provider.RefreshToken({
            accountId: outcome.userId,
            client,
            grantId,
            gty: 'password',
            scope: decision.granted.join(' '),
            ...(resource ? { resource } : {}),
            rotations: 0,
          });
          refreshToken = await rt.save();
        }

        ctx.body = {
          access_token: accessToken,
          token_type: 'Bearer',
          expires_in: at.expiration,
          scope: at.scope,
          ...(refreshToken ? { refresh_token: refreshToken } : {}),
        };
      });
    },
    PASSWORD_GRANT_PARAMETERS,
    'resource',
  );
}
