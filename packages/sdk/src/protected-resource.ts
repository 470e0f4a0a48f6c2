/**
 * OAuth 2.0 Protected Resource Metadata (RFC 9728): the document that tells a client which
 * authorization server issues tokens for this API and which scopes it understands, and the URL
 * the 401 challenges point to (`resource_metadata`, §5.1). MCP clients start from it.
 */

export interface ProtectedResourceOptions {
  /** `scopes_supported`: the scopes this API's routes ask for. */
  readonly scopes?: readonly string[];
  /** `resource_documentation`: a page for people about this API. */
  readonly documentation?: string;
  /** `resource_name`: a name for people. */
  readonly name?: string;
}

/** RFC 9728 §2: the metadata members Gatehouse publishes. */
export interface ProtectedResourceMetadata {
  readonly resource: string;
  readonly authorization_servers: readonly string[];
  readonly bearer_methods_supported: readonly string[];
  readonly scopes_supported?: readonly string[];
  readonly resource_documentation?: string;
  readonly resource_name?: string;
}

export interface ResolvedProtectedResource {
  /** Where the document is served, relative to the resource's origin (RFC 9728 §3.1). */
  readonly path: string;
  /** The absolute URL of the document: the `resource_metadata` of every Bearer challenge. */
  readonly url: string;
  readonly metadata: ProtectedResourceMetadata;
}

const WELL_KNOWN = '/.well-known/oauth-protected-resource';

/**
 * RFC 9728 §3.1: the well-known segment goes between the host and the resource's path, so
 * `https://api.example.com/mcp` publishes at `https://api.example.com/.well-known/oauth-protected-resource/mcp`.
 */
export function metadataLocation(resource: string): { path: string; url: string } {
  const url = new URL(resource);
  const suffix = url.pathname === '/' ? '' : url.pathname.replace(/\/$/, '');
  const path = `${WELL_KNOWN}${suffix}`;
  return { path, url: `${url.origin}${path}` };
}

export function resolveProtectedResource(
  options: ProtectedResourceOptions | true | undefined,
  context: { audience: string; issuer: string; query: boolean },
): ResolvedProtectedResource | undefined {
  if (options === undefined) return undefined;
  const given = options === true ? {} : options;
  if (typeof given !== 'object' || given === null) throw new TypeError('protectedResource: expected true or an object');
  // The published resource is the audience: the one identifier tokens are accepted for.
  const resource = context.audience;
  let parsed: URL;
  try {
    parsed = new URL(resource);
  } catch {
    throw new TypeError('protectedResource: the audience must be an absolute URL to publish resource metadata');
  }
  // RFC 9728 §2: the resource identifier has no query and no fragment.
  if (parsed.hash !== '' || parsed.search !== '') throw new TypeError('protectedResource: the audience must not have a query or fragment');
  const scopes = given.scopes;
  if (scopes !== undefined && (!Array.isArray(scopes) || scopes.some((s) => typeof s !== 'string' || !/^[\x21\x23-\x5B\x5D-\x7E]+$/.test(s)))) {
    throw new TypeError('protectedResource.scopes: expected scope names (RFC 6749 §3.3)');
  }
  const metadata: ProtectedResourceMetadata = {
    resource,
    authorization_servers: [context.issuer],
    // RFC 9728 §2: only RFC 6750's methods are named here; cookies and API keys are not OAuth methods.
    bearer_methods_supported: context.query ? ['header', 'query'] : ['header'],
    ...(scopes !== undefined && scopes.length > 0 ? { scopes_supported: [...new Set(scopes)] } : {}),
    ...(given.documentation !== undefined ? { resource_documentation: given.documentation } : {}),
    ...(given.name !== undefined ? { resource_name: given.name } : {}),
  };
  return { ...metadataLocation(resource), metadata };
}

/** The metadata's HTTP answer, the same bytes from every adapter. */
export function metadataResponse(resolved: ResolvedProtectedResource, scopes?: readonly string[]): { status: number; headers: Record<string, string>; body: string } {
  const metadata = resolved.metadata.scopes_supported === undefined && scopes !== undefined && scopes.length > 0
    ? { ...resolved.metadata, scopes_supported: [...scopes] }
    : resolved.metadata;
  return {
    status: 200,
    headers: {
      'content-type': 'application/json; charset=utf-8',
      // Public by design (RFC 9728 §3.2); browser-based clients such as the MCP Inspector read it cross-origin.
      'access-control-allow-origin': '*',
      'cache-control': 'public, max-age=300',
    },
    body: JSON.stringify(metadata),
  };
}
