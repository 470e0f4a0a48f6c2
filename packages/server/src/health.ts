// Health endpoints (docs/operations.md):
//   /healthz  readiness, for load balancers: 200 when this instance can serve (the database
//             answers), 503 with Retry-After and the name of what is down otherwise. Optional
//             dependencies (Redis) down: 200 "degraded", naming them — every instance shares
//             them, so taking this one out of rotation would help nothing.
//   /livez    liveness, for process supervisors: 200 while the process answers HTTP at all. It
//             checks no dependency, so a database outage never gets every instance restarted.
import type { FastifyInstance } from 'fastify';
import { RETRY_AFTER_SECONDS } from './unavailable.ts';

export interface HealthOptions {
  /** Each dependency's check: resolves true when it answers. */
  readonly checks: Readonly<Record<string, () => Promise<boolean>>>;
  /** The checks without which this instance cannot serve. */
  readonly required: readonly string[];
}

/** A check that has not answered by then counts as down: a health check must itself be quick. */
export const HEALTH_CHECK_TIMEOUT_MS = 2000;

async function probe(check: () => Promise<boolean>): Promise<'ok' | 'unavailable'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), HEALTH_CHECK_TIMEOUT_MS);
  });
  try {
    return (await Promise.race([check().catch(() => false), timeout])) ? 'ok' : 'unavailable';
  } finally {
    clearTimeout(timer);
  }
}

export async function healthRoutes(app: FastifyInstance, options: HealthOptions): Promise<void> {
  app.get('/healthz', async (_request, reply) => {
    const names = Object.keys(options.checks);
    const results = await Promise.all(names.map((name) => probe(options.checks[name]!)));
    const checks = Object.fromEntries(names.map((name, index) => [name, results[index]!]));
    const down = names.filter((name) => checks[name] !== 'ok');
    reply.header('cache-control', 'no-store');
    if (down.some((name) => options.required.includes(name))) {
      return reply.status(503).header('retry-after', String(RETRY_AFTER_SECONDS)).send({ status: 'unavailable', checks });
    }
    return { status: down.length > 0 ? 'degraded' : 'ok', checks };
  });
  app.get('/livez', async (_request, reply) => reply.header('cache-control', 'no-store').send({ status: 'ok' }));
}
