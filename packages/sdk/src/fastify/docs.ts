/**
 * Swagger UI that logs in against Gatehouse: registers @fastify/swagger with the security schemes
 * the authenticator enforces (OAuth2 endpoints read from the issuer's discovery document, so they
 * are the real ones) and @fastify/swagger-ui with authorization code + PKCE for a public client.
 * Never a client secret in the browser.
 *
 * The OAuth redirect URL is built from the API's configured public URL rather than from whatever
 * host the browser used, so it matches the redirect URI registered for the docs client even
 * behind a proxy.
 */
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import fastifyPlugin from 'fastify-plugin';
import { AUTH_ERROR_SCHEMA_ID, oauthFlows, securitySchemes, withAuthErrorExamples, withFlowSchemes, type OAuthFlowName, type SecurityRequirementObject } from '../openapi.ts';

export interface GatehouseDocsOptions {
  /** The API's public base URL as browsers see it, e.g. `https://api.example.com` (behind a proxy, the proxy's). */
  readonly publicUrl: string;
  /** The public OAuth client Swagger UI logs in as (authorization code + PKCE, no secret). */
  readonly clientId: string;
  /** Where the docs are served. Default `/docs`. */
  readonly routePrefix?: string;
  /** OAuth flows advertised. Default `['authorizationCode']`; add `'password'` for local development. */
  readonly flows?: readonly OAuthFlowName[];
  /** Scopes Swagger UI pre-selects in the Authorize dialog. */
  readonly defaultScopes?: readonly string[];
  /** Merged into @fastify/swagger's `openapi` option (info, servers, tags, components…). */
  readonly openapi?: Readonly<Record<string, unknown>>;
  /** Other @fastify/swagger options. */
  readonly swagger?: Readonly<Record<string, unknown>>;
  /** Other @fastify/swagger-ui options (`routePrefix` and `initOAuth` are set by this plugin). */
  readonly ui?: Readonly<Record<string, unknown>>;
}

/** Where @fastify/swagger-ui serves its OAuth redirect page: register this URI on the docs client. */
export function docsRedirectUrl(publicUrl: string, routePrefix = '/docs'): string {
  return `${publicUrl.replace(/\/+$/, '')}${routePrefix}/static/oauth2-redirect.html`;
}

// @fastify/swagger-ui computes the redirect URL from window.location; the served initializer is
// rewritten to use the configured one instead. Checked by the docs test against the installed version.
const REDIRECT_URL_IN_INITIALIZER = /oauth2RedirectUrl:\s*resolveUrl\([^)]*\)/;

/**
 * A script for Swagger UI's page (its `theme.js`) that opens the Authorize dialog at its top.
 * Swagger UI gives every credential field in the dialog `autofocus`, so the browser scrolled the
 * dialog down to the last one (the password flow's username, an API key's value) and the first
 * section, the authorization-code login, was out of sight. The first field takes the focus
 * instead, without scrolling. Runs after React's commit (a MutationObserver callback), once per
 * opening (the dialog is a new element each time).
 */
export const AUTHORIZE_DIALOG_SCRIPT = {
  filename: 'gatehouse-authorize-dialog.js',
  content: `new MutationObserver(function () {
  var content = document.querySelector('.modal-ux-content');
  if (content === null || content.dataset.gatehouseOpened) return;
  content.dataset.gatehouseOpened = 'true';
  var first = content.querySelector('input, select, textarea, button');
  if (first !== null) first.focus({ preventScroll: true });
  content.scrollTop = 0;
}).observe(document.body, { childList: true, subtree: true });
`,
} as const;

const plugin: FastifyPluginAsync<GatehouseDocsOptions> = async (fastify, options) => {
  const routePrefix = options.routePrefix ?? '/docs';
  validate(options, routePrefix);
  const { authenticator, scopes } = fastify.gatehouse;

  // Read discovery before registering anything, so the documented endpoints are the server's real
  // ones; an unreachable issuer fails the boot here instead of serving wrong docs.
  const metadata = await authenticator.discover();
  const flows = oauthFlows(metadata, { flows: options.flows ?? ['authorizationCode'], scopes: scopes ?? {} });
  const openapi = options.openapi ?? {};
  const components = (openapi.components ?? {}) as Record<string, unknown>;

  // Each flow is a security scheme of its own (oauthSchemeNames): a route that takes a bearer token
  // lists every flow's scheme. Runs after the gatehouse plugin's onRoute (which sets `security`) and
  // before @fastify/swagger's, which is registered below.
  fastify.addHook('onRoute', (route) => {
    const security = route.schema?.security as SecurityRequirementObject[] | undefined;
    if (route.auth === undefined || security === undefined) return;
    route.schema = { ...route.schema, security: withFlowSchemes(security, flows) };
  });

  const { default: swagger } = await import('@fastify/swagger');
  await fastify.register(swagger, {
    // The error schema of the 401/403/429/503 answers appears under its own name in
    // components.schemas (other shared schemas keep @fastify/swagger's `def-N`).
    refResolver: {
      buildLocalReference: (json: { $id?: unknown }, _base: unknown, _fragment: unknown, index: number) =>
        json.$id === AUTH_ERROR_SCHEMA_ID ? AUTH_ERROR_SCHEMA_ID : `def-${index}`,
    },
    ...options.swagger,
    // Realistic bodies for the SDK's 401/403/429/503 in Swagger UI, after any transform of the caller's.
    transformObject: (documentObject: { openapiObject?: object; swaggerObject?: object }) => {
      const own = options.swagger?.transformObject as ((input: typeof documentObject) => object) | undefined;
      const document = own === undefined ? (documentObject.openapiObject ?? documentObject.swaggerObject!) : own(documentObject);
      return withAuthErrorExamples(document);
    },
    openapi: {
      ...openapi,
      components: {
        ...components,
        securitySchemes: {
          ...(components.securitySchemes as Record<string, unknown> | undefined),
          ...securitySchemes(authenticator.description, flows),
        },
      },
    },
  } as Parameters<typeof swagger>[1]);

  const redirectUrl = docsRedirectUrl(options.publicUrl, routePrefix);
  const { default: swaggerUi } = await import('@fastify/swagger-ui');
  // A child context, so the initializer rewrite touches only the docs' own routes.
  await fastify.register(async (docs: FastifyInstance) => {
    docs.addHook('onSend', async (request, _reply, payload) => {
      if (typeof payload !== 'string' || !request.url.split('?')[0]?.endsWith('/static/swagger-initializer.js')) return payload;
      if (!REDIRECT_URL_IN_INITIALIZER.test(payload)) {
        request.log.error('gatehouseDocs: @fastify/swagger-ui initializer changed; oauth2RedirectUrl not set');
        return payload;
      }
      return payload.replace(REDIRECT_URL_IN_INITIALIZER, `oauth2RedirectUrl: ${JSON.stringify(redirectUrl)}`);
    });
    const title = (openapi.info as { title?: unknown } | undefined)?.title;
    const ui = options.ui ?? {};
    const theme = (ui.theme ?? {}) as Record<string, unknown>;
    await docs.register(swaggerUi, {
      ...ui,
      // The page is titled after the API (openapi.info.title), not "Swagger UI"; the rest of the
      // theme (an icon of the API's own, …) as given in `ui.theme`, plus the Authorize dialog's fix.
      theme: {
        ...(typeof title === 'string' ? { title } : {}),
        ...theme,
        js: [...((theme.js as unknown[] | undefined) ?? []), AUTHORIZE_DIALOG_SCRIPT],
      },
      routePrefix,
      initOAuth: {
        clientId: options.clientId,
        // RFC 7636 / RFC 9700 §2.1.1: a browser client uses PKCE and holds no secret.
        usePkceWithAuthorizationCodeGrant: true,
        // RFC 8707: ask for a token for this API, whatever the server's default API is.
        additionalQueryStringParams: { resource: authenticator.description.audience },
        ...(options.defaultScopes === undefined ? {} : { scopes: [...options.defaultScopes] }),
      },
    } as Parameters<typeof swaggerUi>[1]);
  });
};

function validate(options: GatehouseDocsOptions, routePrefix: string): void {
  let url: URL;
  try {
    url = new URL(options.publicUrl);
  } catch {
    throw new TypeError('gatehouseDocs.publicUrl: expected the API\'s absolute public URL, e.g. https://api.example.com');
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.search !== '' || url.hash !== '') {
    throw new TypeError('gatehouseDocs.publicUrl: expected an http(s) URL without query or fragment');
  }
  if (typeof options.clientId !== 'string' || options.clientId === '') {
    throw new TypeError('gatehouseDocs.clientId: required, the public client Swagger UI logs in as');
  }
  if (!/^\/[A-Za-z0-9\-._~/]*[^/]$/.test(routePrefix)) throw new TypeError('gatehouseDocs.routePrefix: expected a path like /docs');
  const ui = options.ui ?? {};
  if ('initOAuth' in ui || 'routePrefix' in ui) {
    throw new TypeError('gatehouseDocs.ui: initOAuth and routePrefix are set by gatehouseDocs (never put a client secret in the docs)');
  }
}

/**
 * Registers the API docs: `await app.register(gatehouseDocs, { publicUrl, clientId })`, after
 * the `gatehouse` plugin and before the routes to document.
 */
export const gatehouseDocs = fastifyPlugin(plugin, {
  fastify: '5.x',
  name: '@gatehouse/sdk/docs',
  dependencies: ['@gatehouse/sdk'],
});
