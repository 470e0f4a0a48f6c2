/**
 * The principal: who is calling, the same shape for every credential (JWT access token, opaque
 * token, API key), and the rule that decides whether it is a user, a client or an API key.
 */
import { AuthError } from './errors.ts';

/**
 * Claims of a verified access token or an introspection answer.
 *
 * Add your own claims by declaration merging; they then have their type everywhere a principal
 * is read:
 * ```ts
 * declare module '@gatehouse/sdk' {
 *   interface Claims { tenant_id?: string }
 * }
 * ```
 * Declared types are a promise about what your issuer puts in tokens; the SDK does not check
 * custom claims.
 */
export interface Claims {
  iss?: string;
  sub?: string;
  aud?: string | string[];
  exp?: number;
  nbf?: number;
  iat?: number;
  jti?: string;
  client_id?: string;
  scope?: string;
  [claim: string]: unknown;
}

/** `aud` is a string or an array of strings (RFC 7519 §4.1.3). */
export function isAudience(value: unknown): value is string | string[] {
  return typeof value === 'string' || (Array.isArray(value) && value.every((item) => typeof item === 'string'));
}

/** `user`: acts for a person. `client`: an application acting for itself. `api_key`: an API key. */
export type PrincipalKind = 'user' | 'client' | 'api_key';

export const PRINCIPAL_KINDS: readonly PrincipalKind[] = ['user', 'client', 'api_key'];

export interface Principal {
  readonly kind: PrincipalKind;
  /** The user id for `user`; the client id for `client`; the key's owner for `api_key`. */
  readonly subject: string;
  /** The OAuth client the credential was issued to, when known. */
  readonly clientId: string | undefined;
  /** Granted scopes (exact, case-sensitive values). */
  readonly scopes: ReadonlySet<string>;
  readonly claims: Readonly<Claims>;
  /** When the credential stops being valid; undefined for a credential without expiry. */
  readonly expiresAt: Date | undefined;
}

/** Where a credential came from, as far as the kind rule cares. */
export type CredentialOrigin = 'token' | 'api_key';

/**
 * The kind rule, the same for JWTs and introspection answers:
 * - a credential from an API-key source is `api_key`;
 * - a token is `client` when it has no `sub`, when `sub === client_id` (RFC 9068 §2.2: for a
 *   client-credentials grant the subject is the client), or when `gty`/`grant_type` says
 *   `client_credentials`;
 * - otherwise it is `user`.
 * Erring toward `client` is the safe side: a client token must never pass as a user.
 */
export function principalKind(origin: CredentialOrigin, claims: Claims): PrincipalKind {
  if (origin === 'api_key') return 'api_key';
  if (claims.sub === undefined) return 'client';
  if (claims.client_id !== undefined && claims.sub === claims.client_id) return 'client';
  if (claims['gty'] === 'client_credentials' || claims['grant_type'] === 'client_credentials') return 'client';
  return 'user';
}

/** Builds a frozen principal from claims whose types were already checked. */
export function buildPrincipal(origin: CredentialOrigin, claims: Claims, scopes: ReadonlySet<string>): Principal {
  const kind = principalKind(origin, claims);
  const subject = kind === 'user' ? claims.sub : (claims.sub ?? claims.client_id);
  if (subject === undefined || subject === '') {
    throw new AuthError('invalid_token', 'The credential names neither a subject nor a client', {
      scheme: origin === 'api_key' ? 'ApiKey' : 'Bearer',
    });
  }
  return Object.freeze({
    kind,
    subject,
    clientId: claims.client_id,
    scopes,
    claims: Object.freeze({ ...claims }),
    expiresAt: claims.exp === undefined ? undefined : new Date(claims.exp * 1000),
  });
}
