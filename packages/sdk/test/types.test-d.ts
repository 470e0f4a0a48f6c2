// Type tests: this file only has to compile (`tsc -p tsconfig.json` at the repo root includes it;
// the test runner does not run it). Each `@ts-expect-error` fails the build if the error it
// expects disappears, so loosened types are caught too.
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import { AuthError, createAuthenticator, type AuthErrorCode, type AuthOutcome, type Principal } from '@gatehouse/sdk';
import { gatehouse as expressGatehouse, gatehouseWebApp as expressWebApp } from '@gatehouse/sdk/express';
import { gatehouse as fastifyGatehouse, gatehouseWebApp as fastifyWebApp } from '@gatehouse/sdk/fastify';
import { gatehouse as honoGatehouse, gatehouseWebApp as honoWebApp } from '@gatehouse/sdk/hono';
import { createWebApp, type WebAppErrorCode, type WebSession } from '@gatehouse/sdk/webapp';

// 1. Custom claims by declaration merging.
declare module '@gatehouse/sdk' {
  interface Claims {
    tenant_id?: string;
    roles?: readonly string[];
  }
}

declare const principal: Principal;
const tenant: string | undefined = principal.claims.tenant_id;
const roles: readonly string[] | undefined = principal.claims.roles;
// @ts-expect-error tenant_id is a string, not a number
const wrongTenant: number | undefined = principal.claims.tenant_id;
const unknownClaim: unknown = principal.claims.anything_else;
const subject: string = principal.subject;
const scopes: ReadonlySet<string> = principal.scopes;
// @ts-expect-error scopes are read-only
principal.scopes.add('admin');
// @ts-expect-error the kind is a closed union
const kind: 'user' | 'client' = principal.kind;

// 2. Error codes narrow in a switch, exhaustively.
function statusFor(code: AuthErrorCode): number {
  switch (code) {
    case 'missing_credentials':
    case 'invalid_token':
      return 401;
    case 'invalid_request':
      return 400;
    case 'insufficient_scope':
    case 'cross_site_request':
      return 403;
    case 'too_many_requests':
      return 429;
    case 'temporarily_unavailable':
      return 503;
    default: {
      const exhaustive: never = code;
      return exhaustive;
    }
  }
}
declare const outcome: AuthOutcome;
if (!outcome.ok) {
  const status: number = statusFor(outcome.error.code);
  const body: string = outcome.response.body;
  void status;
  void body;
} else {
  const maybe: Principal | undefined = outcome.principal;
  void maybe;
}
// @ts-expect-error not a code
const notACode: AuthErrorCode = 'unauthorized';
void new AuthError('invalid_token', 'x');

// 3. Required options.
// @ts-expect-error audience and algorithms are required
createAuthenticator({ issuer: 'https://id.example.test' });
// @ts-expect-error only asymmetric algorithms exist
createAuthenticator({ issuer: 'https://id.example.test', audience: 'a', algorithms: ['HS256'] });
const authenticator = createAuthenticator({ issuer: 'https://id.example.test', audience: 'a', algorithms: ['ES256'] });

// 4. Fastify: route options and request.auth.
const app = Fastify();
void app.register(fastifyGatehouse, { authenticator });
app.get('/items', { auth: { scopes: ['items'], kinds: ['user'] } }, async (request) => {
  const who: Principal | undefined = request.auth;
  return { subject: who?.subject };
});
// @ts-expect-error scopes is an array
app.get('/bad', { auth: { scopes: 'items' } }, async () => ({}));
// @ts-expect-error unknown source
app.get('/bad2', { auth: { sources: ['header'] } }, async () => ({}));

// 5. Express: req.auth.
const expressApp = express();
const { requireAuth } = expressGatehouse(authenticator);
expressApp.get('/items', requireAuth({ anyScopes: ['a', 'b'] }), (req, res) => {
  const who: Principal | undefined = req.auth;
  res.json({ subject: who?.subject });
});

// 6. Hono: typed variables; a required route's principal is never undefined.
const hono = new Hono();
const gate = honoGatehouse(authenticator);
hono.get('/items', gate.requireAuth({ scopes: ['items'] }), (c) => c.json({ subject: c.get('auth').subject }));
hono.get('/feed', gate.requireAuth({ optional: true }), (c) => {
  // @ts-expect-error optional routes may have no principal
  const required: Principal = c.get('auth');
  return c.json({ subject: c.get('auth')?.subject ?? null, required });
});

// 7. The web-app flow: the same Principal, plus the session (with its access token).
// @ts-expect-error clientId, clientSecret, publicUrl and secret are required
createWebApp({ authenticator });
const webApp = createWebApp({ authenticator, clientId: 'web', clientSecret: 's', publicUrl: 'https://app.example.test', secret: 'x'.repeat(32) });
void app.register(fastifyWebApp, { webApp });
app.get('/profile', { session: { scopes: ['items'] } }, async (request) => {
  const who: Principal | undefined = request.auth;
  const session: WebSession | undefined = request.webSession;
  return { subject: who?.subject, token: session?.accessToken, expires: session?.expiresAt.getTime() };
});
// @ts-expect-error a web session always comes from the session cookie: no sources
app.get('/bad3', { session: { sources: ['cookie'] } }, async () => ({}));
const web = expressWebApp(webApp);
expressApp.use(web.routes);
expressApp.get('/profile', web.requireSession(), (req, res) => {
  const session: WebSession | undefined = req.webSession;
  res.send(session?.principal.subject);
});
const honoWeb = honoWebApp(webApp);
hono.get('/profile', honoWeb.requireSession(), (c) => c.text(c.get('webSession').accessToken + c.get('auth').subject));
hono.get('/home', honoWeb.requireSession({ optional: true }), (c) => {
  // @ts-expect-error optional routes may have no session
  const required: WebSession = c.get('webSession');
  return c.json({ signedIn: required !== undefined });
});
function webStatus(code: WebAppErrorCode): number {
  switch (code) {
    case 'login_required':
      return 401;
    case 'cross_site_request':
    case 'insufficient_scope':
    case 'cross_site_request':
      return 403;
    case 'invalid_callback':
    case 'login_failed':
      return 400;
    case 'method_not_allowed':
      return 405;
    case 'temporarily_unavailable':
      return 503;
    default: {
      const unreachable: never = code;
      return unreachable;
    }
  }
}

void [tenant, roles, wrongTenant, unknownClaim, subject, scopes, kind, notACode, webStatus];
