/**
 * OpenAPI description of what the authenticator enforces: `components.securitySchemes` for every
 * enabled credential source, for each route a `security` list whose alternatives are exactly
 * the credentials the route accepts, with the scopes it requires, and the error answers it may
 * give (401, 403, 429, 503) with their body schema. Framework-free; the Fastify adapter feeds it
 * to @fastify/swagger.
 */
import type { AuthenticatorDescription } from './authenticator.ts';
import type { IssuerMetadata } from './discovery.ts';
import { PRINCIPAL_KINDS } from './principal.ts';
import type { ResolvedRequirement } from './requirement.ts';

/** Names of the security schemes in `components.securitySchemes`. */
export const SECURITY_SCHEMES = {
  /**
   * Access token in `Authorization: Bearer` — HTTP bearer, or OAuth2 with the first advertised
   * flow (each further flow is a scheme of its own, `oauthSchemeNames`).
   */
  bearer: 'gatehouse',
  cookie: 'accessTokenCookie',
  query: 'accessTokenQuery',
  apiKeyHeader: 'apiKeyHeader',
  apiKeyQuery: 'apiKeyQuery',
  apiKeyCookie: 'apiKeyCookie',
} as const;

export type OAuthFlowName = 'authorizationCode' | 'password' | 'clientCredentials';

export interface OAuthDocsOptions {
  /** Flows to advertise. Default `['authorizationCode']`. */
  readonly flows?: readonly OAuthFlowName[];
  /** The API's scopes and their descriptions. */
  readonly scopes?: Readonly<Record<string, string>>;
}

export type SecurityScheme = Record<string, unknown>;
export type SecurityRequirementObject = Record<string, string[]>;

/** OAuth flows read from the issuer's metadata, so the docs log in against the real endpoints. */
export function oauthFlows(metadata: IssuerMetadata, options: OAuthDocsOptions = {}): Record<string, unknown> {
  const scopes = { ...options.scopes };
  const flows: Record<string, unknown> = {};
  const tokenUrl = metadata.token_endpoint;
  for (const flow of options.flows ?? ['authorizationCode']) {
    if (tokenUrl === undefined) throw new TypeError(`openapi flows: the issuer's discovery document has no token_endpoint`);
    if (flow === 'authorizationCode') {
      if (metadata.authorization_endpoint === undefined) {
        throw new TypeError(`openapi flows: the issuer's discovery document has no authorization_endpoint`);
      }
      flows.authorizationCode = { authorizationUrl: metadata.authorization_endpoint, tokenUrl, scopes };
    } else {
      flows[flow] = { tokenUrl, scopes };
    }
  }
  return flows;
}

/**
 * The OAuth2 scheme of each flow, by flow name, in the order given: the first flow is
 * `SECURITY_SCHEMES.bearer` (`gatehouse`), each other one `gatehouse` + its name
 * (`gatehousePassword`, `gatehouseClientCredentials`). One scheme per flow, because Swagger UI keeps
 * one "Authorized" state per scheme: flows sharing a scheme all showed as authorized after a login
 * with one of them.
 */
export function oauthSchemeNames(flows: Readonly<Record<string, unknown>>): Record<string, string> {
  const names: Record<string, string> = {};
  Object.keys(flows).forEach((flow, index) => {
    names[flow] = index === 0 ? SECURITY_SCHEMES.bearer : `${SECURITY_SCHEMES.bearer}${flow[0]!.toUpperCase()}${flow.slice(1)}`;
  });
  return names;
}

/**
 * `components.securitySchemes` for the enabled sources. With `flows` the bearer token is OAuth2,
 * one scheme per flow, the first flow first (Swagger UI's Authorize button logs in with them, in
 * this order); without, it is plain HTTP bearer.
 */
export function securitySchemes(description: AuthenticatorDescription, flows?: Record<string, unknown>): Record<string, SecurityScheme> {
  const { locations } = description;
  const schemes: Record<string, SecurityScheme> = {};
  if (locations.bearer) {
    const tokenDescription = `Access token issued by ${description.issuer}`;
    if (flows === undefined || Object.keys(flows).length === 0) {
      schemes[SECURITY_SCHEMES.bearer] = { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: tokenDescription };
    } else {
      for (const [flow, name] of Object.entries(oauthSchemeNames(flows))) {
        schemes[name] = { type: 'oauth2', description: tokenDescription, flows: { [flow]: flows[flow] } };
      }
    }
  }
  if (locations.cookie !== undefined) {
    schemes[SECURITY_SCHEMES.cookie] = { type: 'apiKey', in: 'cookie', name: locations.cookie, description: 'Access token in a cookie' };
  }
  if (locations.query !== undefined) {
    schemes[SECURITY_SCHEMES.query] = { type: 'apiKey', in: 'query', name: locations.query, description: 'Access token in the query (RFC 6750 §2.3)' };
  }
  const apiKey = locations.apiKey;
  if (apiKey?.header !== undefined) schemes[SECURITY_SCHEMES.apiKeyHeader] = { type: 'apiKey', in: 'header', name: apiKey.header };
  if (apiKey?.query !== undefined) schemes[SECURITY_SCHEMES.apiKeyQuery] = { type: 'apiKey', in: 'query', name: apiKey.query };
  if (apiKey?.cookie !== undefined) schemes[SECURITY_SCHEMES.apiKeyCookie] = { type: 'apiKey', in: 'cookie', name: apiKey.cookie };
  return schemes;
}

/**
 * A route's `security`: one alternative per accepted credential (OpenAPI: any one entry
 * suffices), carrying the required scopes on the OAuth2 scheme. Any-of scopes become one
 * alternative per acceptable scope. An optional route adds `{}` (anonymous allowed).
 * Scopes are listed on OAuth2 entries only: OpenAPI 3.0 requires other schemes' arrays to be empty.
 * With `flows` (as given to `securitySchemes`), the bearer alternatives are repeated for each
 * flow's scheme (`withFlowSchemes`).
 */
export function securityRequirements(
  description: AuthenticatorDescription,
  requirement: ResolvedRequirement,
  flows?: Readonly<Record<string, unknown>>,
): SecurityRequirementObject[] {
  const { locations } = description;
  const scopeSets: string[][] =
    requirement.anyScopes.length === 0
      ? [[...requirement.scopes]]
      : requirement.anyScopes.map((scope) => [...new Set([...requirement.scopes, scope])]);

  const alternatives: SecurityRequirementObject[] = [];
  if (requirement.sources.has('bearer') && locations.bearer) {
    for (const scopes of scopeSets) alternatives.push({ [SECURITY_SCHEMES.bearer]: scopes });
  }
  if (requirement.sources.has('cookie') && locations.cookie !== undefined) alternatives.push({ [SECURITY_SCHEMES.cookie]: [] });
  if (requirement.sources.has('query') && locations.query !== undefined) alternatives.push({ [SECURITY_SCHEMES.query]: [] });
  if (requirement.sources.has('apiKey') && locations.apiKey !== undefined) {
    if (locations.apiKey.header !== undefined) alternatives.push({ [SECURITY_SCHEMES.apiKeyHeader]: [] });
    if (locations.apiKey.query !== undefined) alternatives.push({ [SECURITY_SCHEMES.apiKeyQuery]: [] });
    if (locations.apiKey.cookie !== undefined) alternatives.push({ [SECURITY_SCHEMES.apiKeyCookie]: [] });
  }
  if (requirement.optional) alternatives.push({});
  return flows === undefined ? alternatives : withFlowSchemes(alternatives, flows);
}

/**
 * A `security` list with each bearer alternative followed by the same one on every other flow's
 * scheme (`oauthSchemeNames`): a token from any flow is accepted where a bearer token is, and
 * Swagger UI sends whichever the user authorized with.
 */
export function withFlowSchemes(security: readonly SecurityRequirementObject[], flows: Readonly<Record<string, unknown>>): SecurityRequirementObject[] {
  const others = Object.values(oauthSchemeNames(flows)).filter((name) => name !== SECURITY_SCHEMES.bearer);
  return security.flatMap((alternative) => {
    const scopes = alternative[SECURITY_SCHEMES.bearer];
    if (scopes === undefined || Object.keys(alternative).length !== 1) return [alternative];
    return [alternative, ...others.map((name) => ({ [name]: [...scopes] }))];
  });
}

/** Name of the error body schema in `components.schemas` (the Fastify adapter's shared schema `$id`). */
export const AUTH_ERROR_SCHEMA_ID = 'GatehouseAuthError';

/**
 * JSON Schema of the body of every error the SDK answers: RFC 6750 §3's attributes as JSON.
 * Other members are allowed, so a framework that serializes with it keeps what a route's own
 * error of the same status carries.
 */
export function authErrorSchema(): Record<string, unknown> {
  return {
    type: 'object',
    description: 'Authentication refused (RFC 6750 §3). `error` is absent when no credential was sent (RFC 6750 §3.1).',
    properties: {
      error: {
        type: 'string',
        description: '`invalid_request`, `invalid_token`, `insufficient_scope`, `too_many_requests` or `temporarily_unavailable`.',
      },
      error_description: { type: 'string', description: 'What went wrong, for developers. Never contains the credential.' },
      scope: { type: 'string', description: 'With `insufficient_scope`: the scopes the route requires, space-delimited.' },
    },
    additionalProperties: true,
  };
}

/** What the SDK answers, by status, as the example Swagger UI shows (the descriptions are the SDK's own). */
const AUTH_ERROR_EXAMPLES: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  401: { error: 'invalid_token', error_description: 'The access token has expired' },
  403: { error: 'insufficient_scope', error_description: 'The credential lacks a scope this route requires' },
  429: { error: 'too_many_requests', error_description: 'Too many invalid credentials from this address; try again later' },
  503: { error: 'temporarily_unavailable', error_description: 'The authorization server could not be reached' },
};

/** An example body of the SDK's answer with this status; a 403's `scope` is `scopes`, when there are some. */
export function authErrorExample(status: number | string, scopes: readonly string[] = []): Record<string, string> | undefined {
  const example = AUTH_ERROR_EXAMPLES[String(status)];
  if (example === undefined) return undefined;
  return String(status) === '403' && scopes.length > 0 ? { ...example, scope: scopes.join(' ') } : { ...example };
}

/**
 * A copy of an OpenAPI document in which every response whose body is the SDK's error schema
 * (`$ref` to `AUTH_ERROR_SCHEMA_ID`) and has no example gets `authErrorExample(status)`, a 403 with
 * the scopes of the operation's first `security` alternative. Without, Swagger UI showed
 * `{"error": "string", …}`. Examples go on the media type: OpenAPI ignores a `$ref`'s siblings.
 */
export function withAuthErrorExamples<T extends object>(document: T): T {
  const copy = structuredClone(document) as T & { paths?: Record<string, Record<string, unknown>> };
  for (const item of Object.values(copy.paths ?? {})) {
    for (const operation of Object.values(item)) {
      if (typeof operation !== 'object' || operation === null || !('responses' in operation)) continue;
      const { responses, security } = operation as { responses?: Record<string, { content?: Record<string, Record<string, unknown>> }>; security?: SecurityRequirementObject[] };
      const scopes = Object.values(security?.[0] ?? {})[0] ?? [];
      for (const [status, response] of Object.entries(responses ?? {})) {
        const media = response.content?.['application/json'];
        const ref = (media?.schema as { $ref?: unknown } | undefined)?.$ref;
        if (media === undefined || typeof ref !== 'string' || !ref.endsWith(`/${AUTH_ERROR_SCHEMA_ID}`)) continue;
        if (media.example !== undefined || media.examples !== undefined) continue;
        const example = authErrorExample(status, scopes);
        if (example !== undefined) media.example = example;
      }
    }
  }
  return copy;
}

export interface ErrorResponseDoc {
  readonly description: string;
  readonly headers?: Readonly<Record<string, { readonly type: string; readonly description: string }>>;
}

const CHALLENGE_HEADER = {
  'WWW-Authenticate': { type: 'string', description: 'The accepted schemes, and the error when a credential was refused (RFC 6750 §3).' },
} as const;

/**
 * The error answers the SDK may give on a route, by status: 401 always; 403 when the route requires
 * scopes or principal kinds; 429 when failed introspections are throttled; 503 when a request may
 * need the issuer. Each has the `authErrorSchema()` body.
 */
export function errorResponses(description: AuthenticatorDescription, requirement: ResolvedRequirement): Record<string, ErrorResponseDoc> {
  const responses: Record<string, ErrorResponseDoc> = {
    401: {
      description: 'No credential, or an invalid, expired or revoked one (`invalid_token`).',
      headers: CHALLENGE_HEADER,
    },
  };
  const restricted = requirement.scopes.length > 0 || requirement.anyScopes.length > 0 || requirement.kinds.size < PRINCIPAL_KINDS.length;
  if (restricted) {
    responses[403] = { description: 'The credential lacks a scope or kind this route requires (`insufficient_scope`).', headers: CHALLENGE_HEADER };
  }
  if (description.failureLimit) {
    responses[429] = {
      description: 'Too many invalid API keys or tokens from this address (`too_many_requests`).',
      headers: { 'Retry-After': { type: 'integer', description: 'Seconds to wait before trying again.' } },
    };
  }
  if (description.usesIssuer) {
    responses[503] = { description: 'The authorization server could not be reached (`temporarily_unavailable`); the credential may be fine.' };
  }
  return responses;
}
