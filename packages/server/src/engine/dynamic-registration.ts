// Dynamic client registration (RFC 7591) at /connect/register, for MCP clients that arrive with
// no prior configuration: docs/adr/0011-dynamic-client-registration.md.
//
// What a registered client is, whatever it asks for: public (`none`), third-party (consent page),
// the authorization code grant with PKCE (provider.ts requires it of public clients) and refresh
// tokens, reaching the APIs an operator opened to such clients (decided at each token request,
// engine/resources.ts), with their scopes (the user's roles still decide what a token carries).
// Redirect URIs follow ADR 0009.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { GatehouseError } from '../errors.ts';
import { addressKey, type RateLimiter } from '../passwords/throttle.ts';
import { apisOpenToDynamicClients } from '../storage/apis.ts';
import { createClient, type Client } from '../storage/clients.ts';
import type { Db } from '../storage/database.ts';
import { ROUTES } from './configuration.ts';

export const REGISTRATION_PATH = ROUTES.registration;

/** Registrations accepted per client address and hour (IPv6 per /64). */
export const REGISTRATIONS_PER_ADDRESS_PER_HOUR = 20;
const HOUR = 3600;
const DEFAULT_NAME = 'Dynamically registered client';
/** As many redirect URIs as the admin API lets an operator give a client (admin/schemas.ts). */
export const MAX_REDIRECT_URIS = 50;

export interface RegistrationOptions {
  readonly db: Db;
  readonly limiter: RateLimiter;
  /** Told after each registration (caches, the audit log). */
  readonly onRegistered?: (client: Client, ip: string) => Promise<void> | void;
}

/** RFC 7591 §3.2.2 error codes. */
type RegistrationErrorCode = 'invalid_redirect_uri' | 'invalid_client_metadata';

class RegistrationError extends Error {
  readonly code: RegistrationErrorCode;
  constructor(code: RegistrationErrorCode, description: string) {
    super(description);
    this.code = code;
  }
}

const stringList = (value: unknown, field: string): string[] | undefined => {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) {
    throw new RegistrationError(field === 'redirect_uris' ? 'invalid_redirect_uri' : 'invalid_client_metadata', `${field} must be an array of strings`);
  }
  return value as string[];
};

/** The client metadata accepted, checked field by field; anything else in the body is ignored (RFC 7591 §2). */
function readMetadata(body: unknown): { name: string; redirectUris: string[]; applicationType: string | undefined } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new RegistrationError('invalid_client_metadata', 'the body must be a JSON object');
  const metadata = body as Record<string, unknown>;
  const redirectUris = stringList(metadata.redirect_uris, 'redirect_uris');
  if (redirectUris === undefined || redirectUris.length === 0) throw new RegistrationError('invalid_redirect_uri', 'redirect_uris is required');
  if (redirectUris.length > MAX_REDIRECT_URIS) throw new RegistrationError('invalid_redirect_uri', `redirect_uris: at most ${MAX_REDIRECT_URIS}`);
  // Public clients only: a client that registers itself has no secret an operator handed it.
  const method = metadata.token_endpoint_auth_method;
  if (method !== undefined && method !== 'none') {
    throw new RegistrationError('invalid_client_metadata', 'token_endpoint_auth_method must be "none": dynamically registered clients are public');
  }
  const grants = stringList(metadata.grant_types, 'grant_types') ?? ['authorization_code'];
  const unsupported = grants.filter((grant) => grant !== 'authorization_code' && grant !== 'refresh_token');
  if (unsupported.length > 0) throw new RegistrationError('invalid_client_metadata', `grant_types: only authorization_code and refresh_token are offered (not ${unsupported.join(', ')})`);
  const responseTypes = stringList(metadata.response_types, 'response_types') ?? ['code'];
  if (responseTypes.some((type) => type !== 'code')) throw new RegistrationError('invalid_client_metadata', 'response_types: only code is offered');
  const name = metadata.client_name;
  if (name !== undefined && typeof name !== 'string') throw new RegistrationError('invalid_client_metadata', 'client_name must be a string');
  const applicationType = metadata.application_type;
  if (applicationType !== undefined && applicationType !== 'web' && applicationType !== 'native') {
    throw new RegistrationError('invalid_client_metadata', 'application_type must be web or native');
  }
  return { name: name === undefined || name.trim() === '' ? DEFAULT_NAME : name.trim().slice(0, 100), redirectUris, applicationType };
}

function refuse(reply: FastifyReply, status: number, error: string, description: string): FastifyReply {
  return reply.status(status).header('cache-control', 'no-store').send({ error, error_description: description });
}

export async function registrationRoutes(app: FastifyInstance, options: RegistrationOptions): Promise<void> {
  app.post(REGISTRATION_PATH, async (request: FastifyRequest, reply: FastifyReply) => {
    const limit = await options.limiter.take([{ key: `dcr:ip:${addressKey(request.ip)}`, max: REGISTRATIONS_PER_ADDRESS_PER_HOUR }], HOUR);
    if (limit.limited) {
      reply.header('retry-after', String(limit.retryAfter));
      return refuse(reply, 429, 'too_many_requests', 'too many registrations from this address; try again later');
    }
    let metadata: ReturnType<typeof readMetadata>;
    try {
      metadata = readMetadata(request.body);
    } catch (error) {
      if (error instanceof RegistrationError) return refuse(reply, 400, error.code, error.message);
      throw error;
    }
    // What it reaches is decided at each token request (resources.ts): the APIs open now. The
    // answer's `scope` says what those offer today.
    const offered = [...new Set((await apisOpenToDynamicClients(options.db)).flatMap((api) => api.scopes.map((scope) => scope.name)))];
    let client: Client;
    try {
      ({ client } = await createClient(options.db, {
        name: metadata.name,
        public: true,
        redirectUris: metadata.redirectUris,
        // Refresh tokens always: MCP clients never ask for offline_access (provider.ts issues them
        // to plain OAuth requests of clients allowed the grant).
        grantTypes: ['authorization_code', 'refresh_token'],
        firstParty: false,
        applicationType: metadata.applicationType,
        registeredDynamically: true,
      }));
    } catch (error) {
      // The redirect URI rules of ADR 0009, in RFC 7591's words.
      if (error instanceof GatehouseError && error.status === 400) {
        const code = error.field === 'redirect_uris' ? 'invalid_redirect_uri' : 'invalid_client_metadata';
        return refuse(reply, 400, code, error.message);
      }
      throw error;
    }
    await options.onRegistered?.(client, request.ip);
    // RFC 7591 §3.2.1: the metadata as registered, which may differ from what was asked.
    return reply
      .status(201)
      .header('cache-control', 'no-store')
      .send({
        client_id: client.clientId,
        client_id_issued_at: Math.floor(Date.parse(client.createdAt) / 1000),
        client_name: client.name,
        redirect_uris: client.redirectUris,
        grant_types: client.grantTypes,
        response_types: ['code'],
        token_endpoint_auth_method: 'none',
        application_type: client.applicationType,
        ...(offered.length > 0 ? { scope: offered.join(' ') } : {}),
      });
  });
}
