// Koa middleware in front of oidc-provider: requests are seen as addressed to the public URL,
// from the client's address as the trusted proxies report it.
import type { KoaContextWithOIDC } from 'oidc-provider';
import { clientAddress, trustFunction } from '../config/proxy.ts';
import type { Config } from '../config/schema.ts';

export function publicUrlMiddleware(config: Config): (ctx: KoaContextWithOIDC, next: () => Promise<void>) => Promise<void> {
  const trust = trustFunction(config.trustProxy);
  const publicUrl = new URL(config.publicUrl);
  return async (ctx, next) => {
    // Every URL the engine builds (discovery, redirects, form actions) comes from the public
    // URL, never from the Host header: behind a proxy, or when reached as 127.0.0.1, the
    // endpoints and redirect targets stay the ones clients registered against.
    const { originalUrl } = ctx.request;
    // The password grant throttles by ctx.ip: the same address the pages and the audit log see.
    if (trust !== false) ctx.request.ip = clientAddress(ctx.req, trust);
    Object.defineProperty(ctx.request, 'href', { value: new URL(originalUrl, publicUrl.origin).href, configurable: true });
    // Cookies are Secure whenever the public URL is https, even behind a proxy that does not
    // say so (a Secure cookie over what Node sees as plain HTTP is refused by Koa otherwise).
    // oidc-provider sets its session cookie through a context of its own, Secure when
    // ctx.secure is: the request is https as far as it is concerned (a __Host- cookie without
    // Secure would be dropped by the browser).
    if (publicUrl.protocol === 'https:') {
      ctx.cookies.secure = true;
      Object.defineProperty(ctx.request, 'protocol', { value: 'https', configurable: true });
    }
    await next();
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('Referrer-Policy', 'no-referrer');
  };
}
