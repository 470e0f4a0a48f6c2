// Type tests: this file only has to compile (`tsc -p tsconfig.json` at the repo root includes it;
// the test runner does not run it). Each `@ts-expect-error` fails the build if the error it
// expects disappears, so loosened types are caught too.
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import { AuthError, createAuthenticator, type AuthErrorCode, type AuthOutcome, type Principal } from '@gatehouse/sdk';
import { gatehouse as expressGatehouse } from '@gatehouse/sdk/express';
import { gatehouse as fastifyGatehouse } from '@gatehouse/sdk/fastify';
import { gatehouse as honoGatehouse } from '@gatehouse/sdk/hono';

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
      return 403;
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

void [tenant, roles, wrongTenant, unknownClaim, subject, scopes, kind, notACode];
