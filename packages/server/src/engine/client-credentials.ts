// The client credentials grant, with one addition to oidc-provider's: a request without
// `scope` gets every scope the client may have at the API (RFC 6749 §3.3 lets the server pick
// a default; "everything this service was given" is what operators expect).
import type { KoaContextWithOIDC, Provider } from 'oidc-provider';
import * as grantHelpers from 'oidc-provider/lib/helpers/grants.js';
import { handler as clientCredentialsHandler, parameters as clientCredentialsParameters } from 'oidc-provider/lib/actions/grants/client_credentials.js';
import type { createResourceIndicators } from './resources.ts';

export function registerClientCredentials(provider: Provider, resources: ReturnType<typeof createResourceIndicators>): void {
  const helpers = Object.fromEntries(Object.entries(grantHelpers).map(([name, helper]) => [name, helper.bind(undefined, provider)]));
  provider.registerGrantType(
    'client_credentials',
    async (ctx) => {
      const { params, client } = ctx.oidc;
      if (params.scope === undefined) {
        const resource = (Array.isArray(params.resource) ? params.resource[0] : params.resource) ?? (await resources.defaultResource(ctx as unknown as KoaContextWithOIDC, client));
        if (typeof resource === 'string') {
          const info = await resources.getResourceServerInfo(ctx, resource, client);
          if (info.scope) params.scope = info.scope;
        }
      }
      await clientCredentialsHandler(provider, helpers, ctx as unknown as KoaContextWithOIDC);
    },
    [...clientCredentialsParameters, 'resource'],
    'resource',
  );
}
