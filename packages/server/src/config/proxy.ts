// GATEHOUSE_TRUST_PROXY: which reverse proxies in front of the server may say who the client is.
//
// A proxy that appends to X-Forwarded-For (nginx's $proxy_add_x_forwarded_for, AWS ALB, Traefik,
// Cloudflare) keeps whatever the client sent on the left and adds the address it saw on the
// right. So the client's address is the right-most entry that was NOT written by a trusted
// proxy; the left-most entry is whatever the client chose. Trusting "everything" (the old `true`)
// took the left-most one: clients picked the address that login throttling, the registration
// and reset limits, the admin API's failure limit and the audit log saw.
//
// One rule for every consumer: Fastify's `request.ip` (the pages, the admin API, the audit log)
// and the protocol engine's `ctx.ip` (the password grant) both come from `clientAddress`.
import type { IncomingMessage } from 'node:http';
import proxyAddr from '@fastify/proxy-addr';
import type { SettingType } from './types.ts';

/** No proxy is trusted; the N nearest hops are proxies; or these addresses/ranges are. */
export type TrustProxy = false | { readonly hops: number } | { readonly addresses: readonly string[] };

/** proxy-addr's trust test: is the address at this hop (0 = the socket's peer) a trusted proxy? */
export type TrustFunction = (address: string, hop: number) => boolean;

const MAX_HOPS = 10;
const NAMED_RANGES = ['loopback', 'linklocal', 'uniquelocal'];

const REFUSED_TRUE =
  '"true" is no longer accepted: it trusted every X-Forwarded-For entry, so any client could choose its own address. ' +
  'Give the addresses of your proxies (e.g. "10.0.0.0/8" or "loopback") or how many there are in front of Gatehouse (e.g. "1"); see docs/security.md';

export function trustProxySetting(): SettingType<TrustProxy> {
  return {
    accepts: `false; the number of proxies in front of the server (1 to ${MAX_HOPS}); or a comma-separated list of proxy addresses and CIDR ranges (${NAMED_RANGES.join(', ')} name theirs)`,
    parse(raw) {
      if (raw === false) return false;
      if (raw === true) throw new Error(REFUSED_TRUE);
      if (typeof raw === 'number') return hops(String(raw));
      const entries = Array.isArray(raw) ? raw.map((entry) => String(entry).trim()) : String(raw).split(',').map((entry) => entry.trim());
      if (entries.length === 1) {
        const text = entries[0]!.toLowerCase();
        if (['false', 'no', 'off', '0'].includes(text)) return false;
        if (['true', 'yes', 'on'].includes(text)) throw new Error(REFUSED_TRUE);
        if (/^\d+$/.test(text)) return hops(text);
      }
      if (entries.length === 0 || entries.some((entry) => entry === '')) throw new Error(`got "${String(raw)}"`);
      for (const entry of entries) {
        try {
          proxyAddr.compile(entry);
        } catch {
          throw new Error(`"${entry}" is not an IP address, a CIDR range or one of ${NAMED_RANGES.join(', ')}`);
        }
      }
      return { addresses: entries };
    },
    show: (value) => (value === false ? 'false' : 'hops' in value ? String(value.hops) : value.addresses.join(', ')),
  };
}

function hops(text: string): TrustProxy {
  const count = Number(text);
  if (!Number.isInteger(count) || count < 0 || count > MAX_HOPS) throw new Error(`got ${text}: at most ${MAX_HOPS} proxies`);
  return count === 0 ? false : { hops: count };
}

/** The trust test for Fastify's `trustProxy` option (false: no forwarding header is read). */
export function trustFunction(setting: TrustProxy): TrustFunction | false {
  if (setting === false) return false;
  if ('hops' in setting) {
    // The socket's peer is hop 0, the right-most X-Forwarded-For entry hop 1…: the `hops`
    // nearest are proxies, and the next one is the client.
    const count = setting.hops;
    return (_address, hop) => hop < count;
  }
  return proxyAddr.compile([...setting.addresses]);
}

/**
 * The client's address: walking from the socket's peer leftwards through X-Forwarded-For, the
 * first address that is not a trusted proxy (Fastify computes `request.ip` the same way).
 */
export function clientAddress(req: IncomingMessage, trust: TrustFunction | false): string {
  if (trust === false) return req.socket.remoteAddress ?? '';
  return proxyAddr(req, trust);
}
