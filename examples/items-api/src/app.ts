// The items API from the scenarios (FastAPI's security tutorials, the JupyterHub service, Fief's
// example), protected by @gatehouse/sdk. Each route says what it needs; the SDK answers 401/403
// with RFC 6750 headers, and the docs show the same requirements.
import Fastify, { type FastifyInstance } from 'fastify';
import { createAuthenticator, type AuthenticatorOptions } from '@gatehouse/sdk';
import { gatehouse, gatehouseDocs } from '@gatehouse/sdk/fastify';

/** The items API's icon: an "I" on the demo's colour. */
const ITEMS_ICON =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="6" fill="#2f6fde"/>' +
  '<text x="16" y="23" font-family="sans-serif" font-size="20" font-weight="700" text-anchor="middle" fill="#fff">I</text></svg>';

export interface ItemsApiOptions {
  /** The Gatehouse server (the token issuer). */
  readonly issuer: string;
  /** This API's public URL: its identifier (the token audience) and where the docs are served from. */
  readonly publicUrl: string;
  /** The public client Swagger UI logs in as. */
  readonly docsClientId: string;
  /** A confidential client this API uses to introspect API keys and opaque tokens (optional). */
  readonly introspection?: AuthenticatorOptions['introspection'];
  /** Keep a Shared Signals stream with the introspection client, so revocations are refused as they happen. */
  readonly signals?: boolean;
  readonly logger?: boolean;
}

/** The cookie `/me` reads a token from (the JupyterHub service's `jupyterhub-services` cookie), over http. */
export const TOKEN_COOKIE = 'items-token';

/**
 * The cookie's name: `__Host-items-token` when the issuer or this API is https, `items-token`
 * over http. Under an https issuer the SDK reads a credential cookie only under a name no other
 * site or subdomain can set (RFC 6265bis §4.1.3); browsers keep `__Host-` cookies from https
 * origins only, so plain http (local development) keeps the bare name.
 */
export function tokenCookieName(urls: Pick<ItemsApiOptions, 'issuer' | 'publicUrl'>): string {
  const https = [urls.issuer, urls.publicUrl].some((url) => new URL(url).protocol === 'https:');
  return https ? `__Host-${TOKEN_COOKIE}` : TOKEN_COOKIE;
}

export const SCOPES = {
  me: 'Read information about the current user.',
  items: 'Read items.',
  'accounts:read': 'Read any account.',
} as const;

// What each route answers, with the examples Swagger UI shows (not its `"string"` placeholders).
// The SDK adds its 401/403 (RFC 6750 bodies) to these; the serializer writes only what is listed.
const strings = { type: 'array', items: { type: 'string' } } as const;
const object = (properties: Record<string, unknown>, example: Record<string, unknown>) =>
  ({ type: 'object', properties, required: Object.keys(properties), additionalProperties: false, examples: [example] }) as const;

const USER = object(
  { id: { type: 'string' }, username: { type: ['string', 'null'] }, scopes: strings, client_id: { type: ['string', 'null'] } },
  { id: '5f0c6a1e-8b2d-4c3f-9a7e-1d2b3c4d5e6f', username: 'johndoe', scopes: ['items', 'me'], client_id: 'docs' },
);
const WHO = object(
  { kind: { type: 'string', enum: ['user', 'client', 'api_key'] }, name: { type: 'string' }, scopes: strings },
  { kind: 'user', name: 'johndoe', scopes: ['items', 'me'] },
);
const ITEMS = {
  type: 'array',
  items: object({ item_id: { type: 'string' }, owner: { type: 'string' } }, { item_id: 'Foo', owner: 'johndoe' }),
  examples: [[{ item_id: 'Foo', owner: 'johndoe' }]],
} as const;
const ACCOUNT = object(
  {
    username: { type: 'string' },
    plan: { type: 'string' },
    read_by: object({ kind: { type: 'string' }, subject: { type: 'string' } }, { kind: 'client', subject: 'items-service' }),
  },
  { username: 'alice', plan: 'free', read_by: { kind: 'client', subject: 'items-service' } },
);
const NOT_FOUND = { ...object({ detail: { type: 'string' } }, { detail: 'No such account' }), description: 'No such account.' };

// A stand-in for the API's own data.
const ACCOUNTS: Record<string, { username: string; plan: string }> = {
  johndoe: { username: 'johndoe', plan: 'pro' },
  alice: { username: 'alice', plan: 'free' },
};

export async function buildItemsApi(options: ItemsApiOptions): Promise<FastifyInstance> {
  const tokenCookie = tokenCookieName(options);
  const authenticator = createAuthenticator({
    issuer: options.issuer,
    audience: options.publicUrl,
    algorithms: ['ES256'],
    realm: 'items-api',
    // The JupyterHub service's three ways in (`/me` only): the bearer header, a cookie and `?token=`.
    credentials: { bearer: true, cookie: tokenCookie, query: 'token', ...(options.introspection ? { apiKey: { header: 'X-API-Key' } } : {}) },
    // Every other route reads the bearer header alone: cookies and query tokens only where a route says so.
    defaultSources: ['bearer'],
    ...(options.introspection ? { introspection: options.introspection } : {}),
    // Revocations reach this API as they happen (a Shared Signals stream of the introspection client).
    ...(options.signals === true ? { signals: true } : {}),
  });

  const app = Fastify({ logger: options.logger ?? false });
  await app.register(gatehouse, { authenticator, scopes: SCOPES });
  await app.register(gatehouseDocs, {
    publicUrl: options.publicUrl,
    clientId: options.docsClientId,
    // The password flow is for local development (the FastAPI tutorial's flow); PKCE is the real one.
    flows: ['authorizationCode', 'password'],
    defaultScopes: ['me', 'items'],
    openapi: { info: { title: 'Items API', version: '1.0.0', description: 'The Gatehouse demo API.' } },
    // The API's own icon on its docs page, not Swagger's.
    ui: { theme: { favicon: [{ filename: 'favicon.svg', rel: 'icon', type: 'image/svg+xml', sizes: 'any', content: ITEMS_ICON }] } },
  });

  app.get('/', { schema: { summary: 'Public: no credentials needed', response: { 200: object({ Hello: { type: 'string' } }, { Hello: 'World' }) } } }, async () => ({
    Hello: 'World',
  }));
  // The icon is the issuer's brand: browsers follow the redirect (and the docs page shows it).
  app.get('/favicon.ico', { schema: { hide: true } }, async (_request, reply) => reply.redirect(new URL('/favicon.ico', options.issuer).href, 302));

  app.get(
    '/users/me',
    { auth: { scopes: ['me'], kinds: ['user'] }, schema: { summary: 'The current user (a user token with `me`)', response: { 200: USER } } },
    async (request) => {
      const principal = request.auth!;
      return {
        id: principal.subject,
        username: principal.claims.preferred_username ?? null,
        scopes: [...principal.scopes].sort(),
        client_id: principal.clientId ?? null,
      };
    },
  );

  // Scenario 4 (the JupyterHub service): who the token belongs to, from `?token=`, the bearer header
  // or the cookie. Query tokens are enabled for this route only (URLs end up in logs); two at once is 400.
  app.get(
    '/me',
    {
      auth: { sources: ['bearer', 'cookie', 'query'] },
      schema: { summary: `Who the token belongs to: from \`?token=\`, the bearer header or the \`${tokenCookie}\` cookie`, response: { 200: WHO } },
    },
    async (request) => {
      const principal = request.auth!;
      return { kind: principal.kind, name: principal.claims.preferred_username ?? principal.subject, scopes: [...principal.scopes].sort() };
    },
  );

  app.get(
    '/users/me/items/',
    { auth: { scopes: ['items'], kinds: ['user'] }, schema: { summary: "The current user's items (scope `items`)", response: { 200: ITEMS } } },
    async (request) => [{ item_id: 'Foo', owner: request.auth!.claims.preferred_username ?? request.auth!.subject }],
  );

  app.get<{ Params: { username: string } }>(
    '/accounts/:username',
    {
      auth: { scopes: ['accounts:read'], sources: options.introspection ? ['bearer', 'apiKey'] : ['bearer'] },
      schema: {
        summary: 'Any account (scope `accounts:read`, a bearer token or an API key)',
        params: { type: 'object', properties: { username: { type: 'string', maxLength: 64 } }, required: ['username'] },
        response: { 200: ACCOUNT, 404: NOT_FOUND },
      },
    },
    async (request, reply) => {
      const account = ACCOUNTS[request.params.username];
      if (!account) return reply.status(404).send({ detail: 'No such account' });
      return { ...account, read_by: { kind: request.auth!.kind, subject: request.auth!.subject } };
    },
  );

  return app;
}
