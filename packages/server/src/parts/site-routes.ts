// The routes that are neither protocol, pages nor admin API: the stylesheet, the favicon, the
// health checks (health.ts) and the service document at /.
import type { FastifyInstance } from 'fastify';
import type { RedisThrottleStore } from '../cluster/redis-throttle.ts';
import type { Config } from '../config/schema.ts';
import { healthRoutes } from '../health.ts';
import { FAVICON_PATH, faviconSvg } from '../html/favicon.ts';
import { STYLESHEET_PATH, type Layout } from '../html/layout.ts';
import type { Db } from '../storage/database.ts';

export interface SiteRoutesOptions {
  readonly config: Config;
  readonly db: Db;
  readonly layout: Layout;
  readonly redisThrottle: RedisThrottleStore | undefined;
}

export async function siteRoutes(app: FastifyInstance, { config, db, layout, redisThrottle }: SiteRoutesOptions): Promise<void> {
  app.get(STYLESHEET_PATH, async (_request, reply) =>
    reply.header('content-type', 'text/css; charset=utf-8').header('cache-control', 'public, max-age=3600').send(layout.stylesheet),
  );
  const favicon = faviconSvg(layout.brand);
  app.get(FAVICON_PATH, async (_request, reply) =>
    reply.header('content-type', 'image/svg+xml').header('cache-control', 'public, max-age=86400').send(favicon),
  );
  // /healthz (readiness, for load balancers) and /livez (liveness): health.ts.
  await app.register(healthRoutes, {
    checks: {
      database: async () => {
        await db.selectFrom('gatehouse_migrations' as never).select((eb) => eb.fn.countAll().as('n')).executeTakeFirst();
        return true;
      },
      ...(redisThrottle ? { redis: () => redisThrottle.answers() } : {}),
    },
    required: ['database'],
  });
  app.get('/', async () => ({
    name: 'Gatehouse',
    issuer: config.publicUrl,
    discovery: `${config.publicUrl}/.well-known/openid-configuration`,
  }));
}
