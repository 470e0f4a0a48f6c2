// What the pages need from the protocol engine, without importing oidc-provider outside this
// folder: load an interaction, finish it with a login, a consent or an error, and get back the
// URL to send the browser to; and, for the account pages, the browser's login session.
import type { IncomingMessage, ServerResponse } from 'node:http';
import Provider, { errors, type Interaction } from 'oidc-provider';
import type { Db } from '../storage/database.ts';
import { findApi } from '../storage/apis.ts';
import { grantedScopes } from '../storage/users.ts';
import { decideUserScopes } from './scope-policy.ts';
import { metadataDocumentHost } from './metadata-documents.ts';

export interface InteractionView {
  readonly uid: string;
  readonly prompt: string;
  readonly clientId: string;
  readonly clientName: string;
  /** For a client described by a metadata document, the host that published it (its client_id's). */
  readonly publisher: string | undefined;
  readonly redirectUri: string | undefined;
  readonly accountId: string | undefined;
}

export interface ConsentView {
  /** Per API: what the user is asked to allow, and what their roles do not allow. */
  readonly apis: { readonly name: string; readonly identifier: string; readonly granted: readonly string[]; readonly refused: readonly string[] }[];
  readonly oidcScopes: readonly string[];
}

type PromptDetails = {
  missingOIDCScope?: string[];
  missingOIDCClaims?: string[];
  missingResourceScopes?: Record<string, string[]>;
};

/** The interaction cookie is missing, expired or belongs to another interaction. */
export class InteractionExpired extends Error {
  constructor(cause?: unknown) {
    super('the sign-in session has expired', { cause });
    this.name = 'InteractionExpired';
  }
}

export interface InteractionApi {
  load(req: IncomingMessage, res: ServerResponse, uid: string): Promise<InteractionView>;
  consentView(req: IncomingMessage, res: ServerResponse, uid: string): Promise<ConsentView>;
  /** `amr` (RFC 8176): `pwd`, `hwk` or `swk` (a passkey), plus `otp` and `mfa` when a second factor was checked, `mfa` for a passkey that verified its user. */
  finishLogin(req: IncomingMessage, res: ServerResponse, uid: string, accountId: string, amr?: readonly string[]): Promise<string>;
  finishConsent(req: IncomingMessage, res: ServerResponse, uid: string): Promise<string>;
  abort(req: IncomingMessage, res: ServerResponse, uid: string): Promise<string>;
  /** The browser's login session at this server (oidc-provider's session cookie), if signed in. */
  loginSession(req: IncomingMessage, res: ServerResponse): Promise<LoginSession | undefined>;
}

export function createInteractionApi(currentProvider: () => Provider, db: Db): InteractionApi {
  async function details(req: IncomingMessage, res: ServerResponse, uid: string): Promise<Interaction> {
    const provider = currentProvider();
    let interaction: Interaction;
    try {
      interaction = await provider.interactionDetails(req, res);
    } catch (error) {
      if (error instanceof errors.SessionNotFound) throw new InteractionExpired(error);
      throw error;
    }
    // The cookie names the interaction; the URL must name the same one.
    if (interaction.uid !== uid) throw new InteractionExpired();
    return interaction;
  }

  async function decide(interaction: Interaction) {
    const accountId = interaction.session?.accountId;
    if (!accountId) throw new InteractionExpired();
    const prompt = interaction.prompt.details as PromptDetails;
    const roleScopes = await grantedScopes(db, accountId);
    const apis = Object.entries(prompt.missingResourceScopes ?? {}).map(([identifier, scopes]) => ({
      identifier,
      ...decideUserScopes(scopes, new Set(scopes), roleScopes),
    }));
    return { accountId, prompt, apis };
  }

  return {
    async load(req, res, uid) {
      const interaction = await details(req, res, uid);
      const clientId = String(interaction.params.client_id);
      const client = await currentProvider().Client.find(clientId);
      return {
        uid: interaction.uid,
        prompt: interaction.prompt.name,
        clientId,
        clientName: client?.clientName ?? clientId,
        publisher: metadataDocumentHost(clientId),
        redirectUri: typeof interaction.params.redirect_uri === 'string' ? interaction.params.redirect_uri : undefined,
        accountId: interaction.session?.accountId,
      };
    },

    async consentView(req, res, uid) {
      const { prompt, apis } = await decide(await details(req, res, uid));
      return {
        apis: await Promise.all(
          apis.map(async (api) => ({
            identifier: api.identifier,
            name: (await findApi(db, api.identifier))?.name ?? api.identifier,
            granted: api.granted,
            refused: api.rejected,
          })),
        ),
        oidcScopes: prompt.missingOIDCScope ?? [],
      };
    },

    async finishLogin(req, res, uid, accountId, amr = ['pwd']) {
      await details(req, res, uid);
      return currentProvider().interactionResult(req, res, { login: { accountId, amr: [...amr] } }, { mergeWithLastSubmission: false });
    },

    async finishConsent(req, res, uid) {
      const interaction = await details(req, res, uid);
      const { accountId, prompt, apis } = await decide(interaction);
      const clientId = String(interaction.params.client_id);
      const { Grant } = currentProvider();
      let grant = interaction.grantId ? await Grant.find(interaction.grantId) : undefined;
      grant ??= new Grant({ accountId, clientId });
      if (prompt.missingOIDCScope?.length) grant.addOIDCScope(prompt.missingOIDCScope.join(' '));
      if (prompt.missingOIDCClaims?.length) grant.addOIDCClaims(prompt.missingOIDCClaims);
      for (const api of apis) {
        if (api.granted.length) grant.addResourceScope(api.identifier, api.granted.join(' '));
        if (api.rejected.length) grant.rejectResourceScope(api.identifier, api.rejected.join(' '));
      }
      const grantId = await grant.save();
      return currentProvider().interactionResult(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    },

    async abort(req, res, uid) {
      await details(req, res, uid);
      return currentProvider().interactionResult(
        req,
        res,
        { error: 'access_denied', error_description: 'the user cancelled the sign-in' },
        { mergeWithLastSubmission: false },
      );
    },

    loginSession: (req, res) => readLoginSession(currentProvider(), req, res),
  };
}

export interface LoginSession {
  /** The session's id (its `jti`): what the account pages' CSRF tokens are bound to. */
  readonly id: string;
  readonly accountId: string;
}

async function readLoginSession(provider: Provider, req: IncomingMessage, res: ServerResponse): Promise<LoginSession | undefined> {
  const ctx = (provider as unknown as { createContext(req: IncomingMessage, res: ServerResponse): Parameters<typeof provider.Session.get>[0] }).createContext(req, res);
  const session = await provider.Session.get(ctx);
  if (!session.accountId || !session.jti) return undefined;
  return { id: session.jti, accountId: session.accountId };
}
