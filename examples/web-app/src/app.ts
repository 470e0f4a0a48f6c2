// A server-rendered web app whose visitors sign in on the Gatehouse login page (shared/SCENARIOS.md
// §5, Fief's web example), built on @gatehouse/sdk/webapp: the helper answers /auth/login,
// /auth/callback, /auth/logout and /auth/backchannel-logout; a page that needs a signed-in visitor says `session: {}`.
// The session's access token is for the items API, which the notes page calls as the user.
import Fastify, { type FastifyInstance } from 'fastify';
import { createAuthenticator } from '@gatehouse/sdk';
import { gatehouseWebApp } from '@gatehouse/sdk/fastify';
import { createWebApp, type WebAppOptions } from '@gatehouse/sdk/webapp';
import { homePage, notesPage, STYLE, type NotesPage } from './pages.ts';
import { refusalReason } from './api-refusal.ts';

export interface NotesAppOptions {
  /** The Gatehouse server. */
  readonly issuer: string;
  /** This app's origin as browsers see it, e.g. http://localhost:8002. */
  readonly publicUrl: string;
  /** The items API's identifier, which is also its URL: the access tokens are for it. */
  readonly api: string;
  /** The app's confidential client at Gatehouse (authorization_code refresh_token). */
  readonly clientId: string;
  readonly clientSecret: string;
  /** Encrypts the session cookie; at least 32 characters. A list rotates secrets (newest first). */
  readonly secret: string | readonly string[];
  /** Seconds before expiry the access token is refreshed (default 60). */
  readonly refreshSkew?: number;
  readonly onError?: WebAppOptions['onError'];
  readonly logger?: boolean;
}

/** At most this many notes per user, kept in memory: the point is the form, not the storage. */
const MAX_NOTES = 20;

export async function buildNotesApp(options: NotesAppOptions): Promise<FastifyInstance> {
  const webApp = createWebApp({
    // Verifies the access tokens: issued by Gatehouse, for the items API.
    authenticator: createAuthenticator({ issuer: options.issuer, audience: options.api, algorithms: ['ES256'] }),
    clientId: options.clientId,
    clientSecret: options.clientSecret,
    publicUrl: options.publicUrl,
    secret: options.secret,
    scopes: ['me', 'items'],
    // POST /auth/backchannel-logout: when the visitor signs out at Gatehouse (or an admin ends
    // their sessions), Gatehouse sends a logout token here and this app's session ends too.
    backchannelLogout: true,
    ...(options.refreshSkew === undefined ? {} : { refreshSkew: options.refreshSkew }),
    ...(options.onError === undefined ? {} : { onError: options.onError }),
  });
  const notes = new Map<string, string[]>();

  const app = Fastify({ logger: options.logger ?? false });
  // Pages are served with a strict policy. The sign-out form posts here and is then redirected to
  // Gatehouse; Chrome applies form-action to that redirect, so Gatehouse's origin is listed.
  // The icon is the issuer's brand: browsers follow the redirect.
  app.get('/favicon.ico', async (_request, reply) => reply.redirect(new URL('/favicon.ico', options.issuer).href, 302));
  const csp = [
    "default-src 'none'",
    "style-src 'self'",
    `form-action 'self' ${new URL(options.issuer).origin}`,
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join('; ');
  app.addHook('onSend', async (_request, reply) => {
    reply.header('content-security-policy', csp);
    reply.header('referrer-policy', 'no-referrer');
    reply.header('x-content-type-options', 'nosniff');
  });
  // The note form, without a dependency: urlencoded bodies up to 4 KiB.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 4096 }, (_request, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });

  await app.register(gatehouseWebApp, { webApp });

  app.get('/style.css', async (_request, reply) => reply.type('text/css; charset=utf-8').send(STYLE));

  // Public, but personalised when the visitor is signed in.
  app.get('/', { session: { optional: true } }, async (request, reply) => {
    reply.type('text/html; charset=utf-8').header('cache-control', 'private, no-store');
    return homePage(username(request.auth));
  });

  // Needs a signed-in visitor: without a session, the browser is sent to the Gatehouse login page
  // and comes back here.
  app.get('/notes', { session: {} }, async (request, reply) => {
    const principal = request.auth!;
    const session = request.webSession!;
    const page: NotesPage = {
      user: username(principal) ?? principal.subject,
      subject: principal.subject,
      scopes: [...principal.scopes].sort(),
      expiresAt: session.expiresAt,
      notes: notes.get(principal.subject) ?? [],
      items: await itemsFor(options.api, session.accessToken),
    };
    reply.type('text/html; charset=utf-8').header('cache-control', 'private, no-store');
    return notesPage(page);
  });

  // A form POST with the session cookie: the helper has already checked it comes from this app's
  // own pages (Fetch Metadata / Origin), before the body was even read.
  app.post<{ Body: { note?: string } }>('/notes', { session: {} }, async (request, reply) => {
    const note = typeof request.body?.note === 'string' ? request.body.note.trim().slice(0, 200) : '';
    if (note !== '') {
      const list = notes.get(request.auth!.subject) ?? [];
      notes.set(request.auth!.subject, [...list, note].slice(-MAX_NOTES));
    }
    // 303 after a POST: reloading the page does not post again.
    return reply.redirect('/notes', 303);
  });

  return app;
}

function username(principal: { claims: Record<string, unknown> } | undefined): string | undefined {
  const name = principal?.claims['preferred_username'];
  return typeof name === 'string' ? name : undefined;
}

/** Calls the items API as the signed-in user, with the session's access token. */
async function itemsFor(api: string, accessToken: string): Promise<NotesPage['items']> {
  try {
    const response = await fetch(new URL('/users/me/items/', api), {
      headers: { authorization: `Bearer ${accessToken}`, accept: 'application/json' },
      signal: AbortSignal.timeout(3000),
    });
    if (!response.ok) return { ok: false, reason: await refusalReason(response) };
    const items = (await response.json()) as { item_id?: unknown }[];
    return { ok: true, names: items.map((item) => String(item.item_id)) };
  } catch {
    return { ok: false, reason: 'The items API is not reachable (start it with npm start at the repository root).' };
  }
}
