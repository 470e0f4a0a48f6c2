// The interaction routes: GET shows the page oidc-provider asked for (login or consent), POST
// handles the form and answers 303 to where the protocol continues.
import formbody from '@fastify/formbody';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { InteractionExpired, type InteractionApi } from '../engine/interactions.ts';
import { INTERACTION_PATH } from '../engine/provider.ts';
import type { Authenticator } from '../passwords/authenticate.ts';
import type { CsrfTokens } from './csrf.ts';
import { originOf, pageHeaders } from './html.ts';
import { consentPage, loginPage, messagePage } from './pages.ts';

export interface InteractionRoutesOptions {
  readonly interactions: InteractionApi;
  readonly authenticator: Authenticator;
  readonly csrf: CsrfTokens;
  readonly bodyLimit: number;
}

type UidParams = { Params: { uid: string } };
type FormBody = { Body: Record<string, string | string[] | undefined> };

const INVALID_CREDENTIALS = 'Invalid username or password.';

function field(body: FormBody['Body'] | undefined, name: string): string {
  const value = body?.[name];
  return typeof value === 'string' ? value : '';
}

function sendPage(reply: FastifyReply, status: number, body: string, formTargets: (string | undefined)[] = []): FastifyReply {
  return reply
    .status(status)
    .headers(pageHeaders(formTargets.filter((t): t is string => t !== undefined)))
    .send(body);
}

function expired(reply: FastifyReply): FastifyReply {
  return sendPage(reply, 400, messagePage('Sign-in expired', 'This sign-in page is no longer valid. Go back to the application and start again.'));
}

export async function interactionRoutes(app: FastifyInstance, options: InteractionRoutesOptions): Promise<void> {
  const { interactions, authenticator, csrf } = options;
  await app.register(formbody, { bodyLimit: options.bodyLimit });

  const actions = (uid: string) => ({
    login: `${INTERACTION_PATH}/${uid}/login`,
    consent: `${INTERACTION_PATH}/${uid}/consent`,
    abort: `${INTERACTION_PATH}/${uid}/abort`,
  });

  app.setErrorHandler((error, request, reply) => {
    if (error instanceof InteractionExpired) return expired(reply);
    if ((error as { statusCode?: number }).statusCode === 413) {
      return sendPage(reply, 413, messagePage('Request too large', 'The form you sent is too large.'));
    }
    request.log.error({ err: error }, 'interaction failed');
    return sendPage(reply, 500, messagePage('Something went wrong', 'Please go back to the application and try again.'));
  });

  app.get<UidParams>(`${INTERACTION_PATH}/:uid`, async (request, reply) => {
    const { uid } = request.params;
    const view = await interactions.load(request.raw, reply.raw, uid);
    const targets = [originOf(view.redirectUri)];
    if (view.prompt === 'login') {
      return sendPage(reply, 200, loginPage({ action: actions(uid).login, abortAction: actions(uid).abort, csrf: csrf.issue(uid, 'interaction'), clientName: view.clientName }), targets);
    }
    if (view.prompt === 'consent') {
      const consent = await interactions.consentView(request.raw, reply.raw, uid);
      return sendPage(
        reply,
        200,
        consentPage({ action: actions(uid).consent, abortAction: actions(uid).abort, csrf: csrf.issue(uid, 'interaction'), clientName: view.clientName, ...consent }),
        targets,
      );
    }
    return sendPage(reply, 400, messagePage('Unsupported request', 'This application asked for something this server does not support.'));
  });

  app.post<UidParams & FormBody>(`${INTERACTION_PATH}/:uid/login`, async (request, reply) => {
    const { uid } = request.params;
    const view = await interactions.load(request.raw, reply.raw, uid);
    const targets = [originOf(view.redirectUri)];
    const rerender = (status: number, error: string, username: string) =>
      sendPage(reply, status, loginPage({ action: actions(uid).login, abortAction: actions(uid).abort, csrf: csrf.issue(uid, 'interaction'), clientName: view.clientName, username, error }), targets);

    if (!csrf.verify(uid, 'interaction', field(request.body, 'csrf'))) {
      return sendPage(reply, 403, messagePage('Form expired', 'This form could not be verified. Go back to the application and start again.'));
    }
    if (view.prompt !== 'login') return expired(reply);

    const username = field(request.body, 'username').trim();
    const password = field(request.body, 'password');
    if (username === '' || password === '') return rerender(400, INVALID_CREDENTIALS, username);

    const outcome = await authenticator.authenticate(username, password, request.ip, { kind: 'login_page' });
    switch (outcome.kind) {
      case 'throttled':
        reply.header('retry-after', String(outcome.retryAfter));
        return rerender(429, `Too many failed attempts. Try again in ${Math.ceil(outcome.retryAfter / 60)} minute(s).`, username);
      case 'invalid':
        return rerender(401, INVALID_CREDENTIALS, username);
      case 'disabled':
        return rerender(403, 'This account is disabled.', username);
      case 'ok': {
        // 303: the browser follows with a GET, never re-posting the password (RFC 9110 §15.4.4).
        const returnTo = await interactions.finishLogin(request.raw, reply.raw, uid, outcome.userId);
        return reply.redirect(returnTo, 303);
      }
    }
  });

  app.post<UidParams & FormBody>(`${INTERACTION_PATH}/:uid/consent`, async (request, reply) => {
    const { uid } = request.params;
    if (!csrf.verify(uid, 'interaction', field(request.body, 'csrf'))) {
      return sendPage(reply, 403, messagePage('Form expired', 'This form could not be verified. Go back to the application and start again.'));
    }
    const view = await interactions.load(request.raw, reply.raw, uid);
    if (view.prompt !== 'consent') return expired(reply);
    return reply.redirect(await interactions.finishConsent(request.raw, reply.raw, uid), 303);
  });

  app.post<UidParams & FormBody>(`${INTERACTION_PATH}/:uid/abort`, async (request: FastifyRequest<UidParams & FormBody>, reply) => {
    const { uid } = request.params;
    if (!csrf.verify(uid, 'interaction', field(request.body, 'csrf'))) {
      return sendPage(reply, 403, messagePage('Form expired', 'This form could not be verified. Go back to the application and start again.'));
    }
    return reply.redirect(await interactions.abort(request.raw, reply.raw, uid), 303);
  });
}
