// Input rules shared by the CLI and the admin API. Each failure names the field.
import { GatehouseError } from '../errors.ts';

function invalid(field: string, message: string): never {
  throw new GatehouseError('invalid_request', `${field} ${message}`, { field });
}

const USERNAME = /^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$/;
// RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]{1,128}$/;
const NAME = /^[A-Za-z0-9][A-Za-z0-9 ._:-]{0,99}$/;

export function username(value: unknown, field = 'username'): string {
  if (typeof value !== 'string' || !USERNAME.test(value)) {
    invalid(field, 'must be 1-64 characters: letters, digits and . _ @ + - (starting with a letter or digit)');
  }
  return value;
}

export function email(value: unknown, field = 'email'): string {
  // Deliberately loose (one @, no spaces): the only real check is a verification email.
  if (typeof value !== 'string' || value.length > 254 || !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(value)) {
    invalid(field, 'must be an email address');
  }
  return value;
}

export function name(value: unknown, field = 'name'): string {
  if (typeof value !== 'string' || !NAME.test(value)) {
    invalid(field, 'must be 1-100 characters: letters, digits, spaces and . _ : -');
  }
  return value;
}

export function displayName(value: unknown, field = 'name'): string {
  if (typeof value !== 'string' || value.trim() === '' || value.length > 200 || /[\u0000-\u001f]/.test(value)) {
    invalid(field, 'must be 1-200 printable characters');
  }
  return value.trim();
}

/** Accepts "a b c" or ["a", "b"]; returns unique scope tokens in the given order. */
export function scopes(value: unknown, field = 'scopes'): string[] {
  const list = typeof value === 'string' ? value.split(/\s+/).filter(Boolean) : value;
  if (!Array.isArray(list)) invalid(field, 'must be a space-separated list of scopes');
  for (const scope of list) {
    if (typeof scope !== 'string' || !SCOPE_TOKEN.test(scope)) {
      invalid(field, `contains an invalid scope (RFC 6749 §3.3 scope tokens have no spaces, quotes or backslashes)`);
    }
  }
  return [...new Set(list as string[])];
}

export function absoluteUrl(value: unknown, field: string): string {
  if (typeof value !== 'string' || !URL.canParse(value) || value.length > 2000) invalid(field, 'must be an absolute URL');
  return value;
}

const FORBIDDEN_SCHEMES = ['javascript:', 'data:', 'file:', 'vbscript:', 'blob:', 'about:'];
// RFC 8252 §7.1: a private-use scheme is a reverse domain name the app owns (com.example.app).
const PRIVATE_USE_SCHEME = /^[a-z][a-z0-9+.-]*\.[a-z0-9+.-]+:$/;

/**
 * A redirect URI, registered to be matched exactly: absolute, no fragment (RFC 6749 §3.1.2), no
 * wildcard and no user:password@ (never useful, and an invitation to believe in pattern matching
 * or to leak a password). Web clients: https, or http on a loopback host (development). Native
 * apps (RFC 8252): http on a loopback IP literal (§7.3, any port at authorization; not `localhost`,
 * §8.3), a private-use scheme that is a reverse domain name (§7.1), or a claimed https URI (§7.2).
 */
export function redirectUri(value: unknown, field = 'redirect_uri', applicationType: 'web' | 'native' = 'web'): string {
  const uri = absoluteUrl(value, field);
  const url = new URL(uri);
  if (url.hash || uri.includes('#')) invalid(field, 'must not contain a fragment');
  if (uri.includes('*') || /%2a/i.test(uri)) invalid(field, 'must not contain a wildcard (*): redirect URIs are matched exactly');
  if (url.username !== '' || url.password !== '') invalid(field, 'must not contain a user name or password (user:password@)');
  if (FORBIDDEN_SCHEMES.includes(url.protocol)) invalid(field, 'uses a forbidden scheme');
  if (applicationType === 'native') {
    if (url.protocol === 'http:') {
      if (!isLoopbackIp(url.hostname)) invalid(field, 'of a native app must use http only on 127.0.0.1 or [::1] (RFC 8252 §7.3, §8.3: not localhost)');
    } else if (url.protocol === 'https:') {
      if (isLoopbackHost(url.hostname)) invalid(field, 'of a native app must use http, not https, on a loopback address (RFC 8252 §7.3)');
    } else if (!PRIVATE_USE_SCHEME.test(url.protocol)) {
      invalid(field, 'of a native app must use a private-use scheme that is a reverse domain name, such as com.example.app:/callback (RFC 8252 §7.1)');
    }
    return uri;
  }
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
    invalid(field, 'must use https (http is allowed for localhost, 127.0.0.1 and [::1] only)');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    invalid(field, 'of a web client must use https (app schemes are for native apps: application_type native)');
  }
  return uri;
}

export function isLoopbackHost(hostname: string): boolean {
  return hostname === 'localhost' || isLoopbackIp(hostname);
}

export function isLoopbackIp(hostname: string): boolean {
  return hostname === '127.0.0.1' || hostname === '[::1]' || hostname === '::1';
}

/** A browser origin, for CORS: scheme://host[:port], nothing else. */
export function origin(value: unknown, field = 'cors_origin'): string {
  const uri = absoluteUrl(value, field);
  const url = new URL(uri);
  if (!['http:', 'https:'].includes(url.protocol) || url.origin !== uri.replace(/\/$/, '')) {
    invalid(field, 'must be an origin such as https://app.example.com (no path)');
  }
  return url.origin;
}

export function ttl(value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    invalid(field, `must be a whole number of seconds from ${min} to ${max}`);
  }
  return value;
}

export function oneOf<T extends string>(value: unknown, allowed: readonly T[], field: string): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    invalid(field, `must be one of ${allowed.join(', ')}`);
  }
  return value as T;
}
