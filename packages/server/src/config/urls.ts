// Connection URLs. Their passwords are never echoed in errors.
import type { SettingType } from './types.ts';

export type DatabaseLocation =
  | { readonly kind: 'sqlite'; readonly path: string }
  | { readonly kind: 'postgres'; readonly url: string };

/** Removes the password from a URL so it can be shown. */
export function redact(value: string): string {
  try {
    const url = new URL(value);
    if (url.password) url.password = '***';
    return url.toString();
  } catch {
    return value.replace(/:[^:@/]*@/, ':***@');
  }
}

export function parseDatabaseUrl(value: string): DatabaseLocation {
  if (value.startsWith('sqlite:')) {
    const path = value.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    if (path === '') throw new Error('got "sqlite:" with no path');
    return { kind: 'sqlite', path };
  }
  if (/^postgres(ql)?:\/\//.test(value) && URL.canParse(value)) {
    return { kind: 'postgres', url: value };
  }
  throw new Error(`got "${redact(value)}"`);
}

export function databaseUrl(): SettingType<string> {
  return {
    accepts: 'sqlite:<path> or postgres://…',
    parse(raw) {
      const value = String(raw).trim();
      parseDatabaseUrl(value);
      return value;
    },
    show: redact,
  };
}

/** A connection URL with one of the given schemes; shown (and refused) without its password. */
function connectionUrl(schemes: RegExp, accepts: string): SettingType<string> {
  return {
    accepts,
    parse(raw) {
      const value = String(raw).trim();
      if (!schemes.test(value) || !URL.canParse(value)) throw new Error(`got "${redact(value)}"`);
      return value;
    },
    show: redact,
  };
}

export const redisUrl = (): SettingType<string> => connectionUrl(/^rediss?:\/\//, 'redis://… or rediss://…');

export const smtpUrl = (): SettingType<string> => connectionUrl(/^smtps?:\/\//, 'smtp://… or smtps://…');

/** A logo: an https URL (http on loopback, for development) or a path on this server. */
export function logoUrl(): SettingType<string> {
  return {
    accepts: 'an https:// URL or a path starting with /',
    parse(raw) {
      const value = String(raw).trim();
      if (/^\/(?!\/)[^\s"'<>\\]*$/.test(value)) return value;
      if (!URL.canParse(value)) throw new Error(`got "${value}"`);
      const url = new URL(value);
      const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
      if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) throw new Error(`got "${value}"`);
      return url.href;
    },
    show: String,
  };
}
