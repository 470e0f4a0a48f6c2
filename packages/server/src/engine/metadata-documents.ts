// OAuth Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document; MCP's way for
// a client to arrive with no registration): a `client_id` that is an https URL names a JSON
// document describing the client. oidc-provider fetches and caches it (its experimental
// `clientIdMetadataDocument` feature); this module decides what such a client is and which
// documents are fetched at all. docs/adr/0012-client-id-metadata-documents.md.
//
// Fetching a URL an unauthenticated request names is a server-side request forgery surface, so:
// - https only (oidc-provider), with a path, never a special-use address: an IP literal is
//   refused here before any connection, and a host name that resolves to one is refused by
//   oidc-provider's dispatcher at connect time (after DNS, so rebinding cannot slip past);
// - no redirects, 2.5 s, 5 KiB (oidc-provider's fetch, limits set in configuration.ts);
// - a rate per client address for documents not already cached;
// - loopback only under GATEHOUSE_CLIENT_ID_METADATA_DOCUMENTS_LOOPBACK, which the configuration
//   refuses outside development.
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { errors, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import type { Config } from '../config/schema.ts';
import { GatehouseError } from '../errors.ts';
import { addressKey, type RateLimiter } from '../passwords/throttle.ts';
import { redirectUri } from '../storage/validate.ts';

/** oidc-provider's name for the document in `fetchResponseBodyLimits`. */
export const METADATA_DOCUMENT_LIMIT_NAME = 'client_id metadata document';
export const METADATA_DOCUMENT_MAX_BYTES = 5 * 1024;
/** Seconds a fetched document is kept: its Cache-Control's max-age, within these bounds. */
export const METADATA_DOCUMENT_CACHE = { min: 60, max: 3600 } as const;
/** Documents fetched (not served from the cache) per client address and minute (IPv6 per /64). */
export const METADATA_FETCHES_PER_ADDRESS_PER_MINUTE = 30;

export const MAX_CLIENT_ID_URL_LENGTH = 1024;

/** Gatehouse's own client metadata: never taken from a document (first_party would skip consent). */
const GATEHOUSE_PROPERTIES = ['api_scopes', 'apis', 'cors_origins', 'first_party', 'registered_dynamically'] as const;
/**
 * Addresses the server itself POSTs to (Back-Channel Logout). Taken from an operator's registration
 * only: that fetch is allowed private and loopback addresses (outboundFetch), so a document must
 * not be able to aim it.
 */
const SERVER_CALLED_PROPERTIES = ['backchannel_logout_uri', 'backchannel_logout_session_required'] as const;
const OFFERED_GRANTS = new Set(['authorization_code', 'refresh_token']);
const SHARED_SECRET_METHODS = new Set(['client_secret_basic', 'client_secret_post', 'client_secret_jwt']);

/** A client whose id is a URL: described by its metadata document. Stored client ids never contain `:`. */
export function isMetadataDocumentClientId(clientId: unknown): clientId is string {
  return typeof clientId === 'string' && /^https:\/\//i.test(clientId);
}

/** The host that published the client's document (shown on the consent page), if it is such a client. */
export function metadataDocumentHost(clientId: string): string | undefined {
  if (!isMetadataDocumentClientId(clientId)) return undefined;
  try {
    return new URL(clientId).host;
  } catch {
    return undefined;
  }
}

// Addresses no document may come from (IANA special-purpose registries, as oidc-provider's list):
// this-network, private, shared (CGNAT), loopback, link-local (cloud metadata at 169.254.169.254),
// documentation, benchmarking, multicast and reserved ranges; IPv6 loopback, unspecified,
// unique-local, link-local, site-local, documentation, NAT64 and 6to4.
const SPECIAL_USE = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.88.99.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['198.51.100.0', 24],
  ['203.0.113.0', 24], ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) SPECIAL_USE.addSubnet(network, prefix, 'ipv4');
for (const [network, prefix] of [
  ['::', 128], ['::1', 128], ['64:ff9b::', 96], ['64:ff9b:1::', 48], ['100::', 64], ['2001::', 23], ['2001:db8::', 32],
  ['2002::', 16], ['fc00::', 7], ['fe80::', 10], ['fec0::', 10], ['ff00::', 8],
] as const) SPECIAL_USE.addSubnet(network, prefix, 'ipv6');

function literalAddress(hostname: string): { address: string; family: 'ipv4' | 'ipv6' } | undefined {
  const host = hostname.replace(/^\[|\]$/g, '');
  if (isIPv4(host)) return { address: host, family: 'ipv4' };
  if (isIPv6(host)) {
    // An IPv4-mapped address (::ffff:10.0.0.1) is the IPv4 address.
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(host);
    return mapped ? { address: mapped[1]!, family: 'ipv4' } : { address: host, family: 'ipv6' };
  }
  return undefined;
}

/** Loopback as the development allowance means it: what this machine answers on. */
export function isLoopbackDocumentHost(hostname: string): boolean {
  const host = hostname.toLowerCase().replace(/^\[|\]$/g, '');
  if (host === 'localhost' || host === '::1') return true;
  return /^127(\.\d{1,3}){3}$/.test(host);
}

/** Why a document URL may not be fetched, or undefined when it may. */
export function refusedDocumentUrl(clientId: string, allowLoopback: boolean): string | undefined {
  // It is stored with every grant and token and written in the audit log.
  if (clientId.length > MAX_CLIENT_ID_URL_LENGTH) return `client_id URL must be at most ${MAX_CLIENT_ID_URL_LENGTH} characters`;
  let url: URL;
  try {
    url = new URL(clientId);
  } catch {
    return 'client_id is not a URL';
  }
  if (url.protocol !== 'https:') return 'client_id metadata documents are fetched over https only';
  // The draft: the URL MUST have a path; a bare origin names a site, not a client.
  if (url.pathname === '/' || url.pathname === '') return 'client_id URL must have a path';
  if (url.search !== '') return 'client_id URL must not have a query';
  const loopback = isLoopbackDocumentHost(url.hostname);
  if (loopback) return allowLoopback ? undefined : 'client_id metadata documents are not fetched from loopback addresses';
  if (url.hostname.toLowerCase().endsWith('.localhost')) return 'client_id metadata documents are not fetched from loopback addresses';
  const literal = literalAddress(url.hostname);
  if (literal && SPECIAL_USE.check(literal.address, literal.family)) return 'client_id metadata documents are not fetched from private, loopback or link-local addresses';
  return undefined;
}

export interface MetadataDocumentParts {
  readonly limiter?: RateLimiter;
}

type Features = NonNullable<Configuration['features']>;

/** oidc-provider's `clientIdMetadataDocument` feature, as Gatehouse configures it. */
export function metadataDocumentFeature(config: Config, parts: MetadataDocumentParts): Features['clientIdMetadataDocument'] {
  if (!config.clientIdMetadataDocuments) return { enabled: false };
  return {
    enabled: true,
    // The feature implements draft 02; oidc-provider asks that the draft be acknowledged.
    ack: 'draft-02',
    cacheDuration: { ...METADATA_DOCUMENT_CACHE },
    async allowFetch(ctx: KoaContextWithOIDC, clientId: string) {
      const refused = refusedDocumentUrl(clientId, config.clientIdMetadataDocumentsLoopback);
      if (refused) throw new errors.InvalidClient(refused);
      if (parts.limiter && ctx?.ip) {
        const limit = await parts.limiter.take([{ key: `cimd:ip:${addressKey(ctx.ip)}`, max: METADATA_FETCHES_PER_ADDRESS_PER_MINUTE }], 60);
        if (limit.limited) throw new errors.InvalidClient('too many client metadata documents fetched for this address; try again later');
      }
      return true;
    },
  };
}

/**
 * oidc-provider's outgoing requests (metadata documents, a document client's jwks_uri): through
 * its own dispatcher, which refuses special-use addresses at connect time, except loopback URLs
 * under the development allowance, which go through Node's default one.
 */
export function outboundFetch(config: Config): NonNullable<Configuration['fetch']> {
  return (url, options) => {
    if (isBackchannelLogout(options)) return fetch(url, withoutDispatcher(options));
    if (config.clientIdMetadataDocumentsLoopback && isLoopbackDocumentHost(new URL(url instanceof Request ? url.url : url).hostname)) {
      return fetch(url, withoutDispatcher(options));
    }
    return fetch(url, options);
  };
}

function withoutDispatcher(options: RequestInit = {}): RequestInit {
  const { dispatcher: _protected, ...rest } = options as RequestInit & { dispatcher?: unknown };
  return rest;
}

/**
 * A logout token POSTed to a client's backchannel_logout_uri (oidc-provider's
 * Client#backchannelLogout, the only form POST carrying `logout_token`). That URI comes only from
 * an operator's registration (never a document: SERVER_CALLED_PROPERTIES), and relying parties
 * commonly live on a private network or, in development, on loopback: the special-use address
 * refusal, which is there for URLs strangers name, does not apply to it.
 */
function isBackchannelLogout(options: RequestInit = {}): boolean {
  return options.method === 'POST' && options.body instanceof URLSearchParams && options.body.has('logout_token');
}

/**
 * What a document may and may not say (extraClientMetadata.validator; oidc-provider calls it
 * once per Gatehouse property, before its own checks): Gatehouse's properties are dropped, the
 * client is public unless it authenticates with private_key_jwt, its grants are the
 * authorization code (and refresh tokens), its redirect URIs follow ADR 0009 (post-logout ones
 * are dropped), and its `scope`
 * holds OpenID scopes only (an API's scopes come from the API's policy, not from the document).
 */
export function constrainMetadataDocumentClient(metadata: Record<string, unknown>, openidScopes: readonly string[]): void {
  if (!isMetadataDocumentClientId(metadata.client_id)) return;
  for (const property of GATEHOUSE_PROPERTIES) delete metadata[property];
  for (const property of SERVER_CALLED_PROPERTIES) delete metadata[property];
  // oidc-provider refuses a document that names a shared-secret method, so one seen here is the
  // server's default filling the document's silence: such a client is public.
  const stated = metadata.token_endpoint_auth_method;
  const method = stated === undefined || SHARED_SECRET_METHODS.has(stated as string) ? 'none' : stated;
  if (method !== 'none' && method !== 'private_key_jwt') {
    throw new errors.InvalidClientMetadata('token_endpoint_auth_method must be none or private_key_jwt');
  }
  if (method === 'private_key_jwt' && typeof metadata.jwks_uri !== 'string') {
    throw new errors.InvalidClientMetadata('private_key_jwt needs a jwks_uri in the client metadata document');
  }
  metadata.token_endpoint_auth_method = method;
  const grants = Array.isArray(metadata.grant_types) ? metadata.grant_types : ['authorization_code'];
  if (grants.some((grant) => !OFFERED_GRANTS.has(grant as string))) {
    throw new errors.InvalidClientMetadata('grant_types: only authorization_code and refresh_token are offered to client metadata documents');
  }
  const applicationType = metadata.application_type === 'native' ? 'native' : 'web';
  const uris = Array.isArray(metadata.redirect_uris) ? metadata.redirect_uris : [];
  for (const uri of uris) {
    try {
      redirectUri(uri, 'redirect_uris', applicationType);
    } catch (error) {
      if (error instanceof GatehouseError) throw new errors.InvalidClientMetadata(error.message);
      throw error;
    }
  }
  // No post-logout redirects, as for registered dynamic clients: oidc-provider sends a browser
  // without a session there with no page shown, so anyone publishing a document could use the
  // logout endpoint as an open redirector (RFC 9700 §4.11.2).
  delete metadata.post_logout_redirect_uris;
  const asked = typeof metadata.scope === 'string' ? metadata.scope.split(' ') : [];
  const allowed = openidScopes.filter((scope) => scope !== 'offline_access' || grants.includes('refresh_token'));
  metadata.scope = (asked.length > 0 ? asked.filter((scope) => allowed.includes(scope)) : allowed).join(' ') || 'openid';
}
