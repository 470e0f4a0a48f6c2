// What "production" means for Gatehouse: anything but a server only this machine can use.
//
// A deployment is in production unless its public URL (the issuer) is an http:// URL on a
// loopback host (localhost, *.localhost, 127.0.0.0/8, [::1]). Such an issuer can only be reached
// from the machine itself, so nothing there is worth a production guard; any other URL (https, a
// LAN address, a real host name) is one that others use. It is derived from a setting every
// deployment must get right anyway, so there is no separate switch to forget. Settings that are
// only safe for development (a missing GATEHOUSE_SECRET_KEY) refuse to start in production.
import type { Config } from './schema.ts';

export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.toLowerCase().replace(/^\[|\]$/g, '');
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (host === '::1') return true;
  return /^127(\.\d{1,3}){3}$/.test(host);
}

export function isProduction(config: Pick<Config, 'publicUrl'>): boolean {
  const url = new URL(config.publicUrl);
  return !(url.protocol === 'http:' && isLoopbackHost(url.hostname));
}
