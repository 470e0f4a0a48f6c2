// gatehouse doctor: checks a deployment and says clearly what is wrong and what to do.
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import { Migrator } from 'kysely/migration';
import { ConfigError, loadConfig } from '../../config/load.ts';
import { redact } from '../../config/urls.ts';
import type { Config } from '../../config/schema.ts';
import type { Db, Storage } from '../../storage/database.ts';
import { listSigningKeys, SIGNING_ALGS } from '../../storage/keys.ts';
import { migrationProvider } from '../../storage/migrations/index.ts';
import { keyringFor } from '../../storage/sealing.ts';
import { inspectSecrets } from '../../storage/secrets-at-rest.ts';
import { stringList, type Command } from '../command.ts';
import { openForCommand } from '../storage.ts';

type Status = 'ok' | 'warn' | 'fail';
interface Check {
  readonly name: string;
  readonly status: Status;
  readonly message: string;
  readonly fix?: string;
}

const SYMBOL: Record<Status, string> = { ok: '✓', warn: '!', fail: '✗' };

async function fetchJson(url: string): Promise<{ status: number; body: any }> {
  const response = await fetch(url, { signal: AbortSignal.timeout(5000), headers: { accept: 'application/json' } });
  return { status: response.status, body: await response.json().catch(() => undefined) };
}

async function databaseChecks(config: Config, db: Db): Promise<{ checks: Check[]; activeKids: Set<string> }> {
  const checks: Check[] = [];
  const activeKids = new Set<string>();
  try {
    await sql`select 1`.execute(db);
    checks.push({ name: 'database', status: 'ok', message: `reachable (${redact(config.databaseUrl)})` });
  } catch (error) {
    checks.push({ name: 'database', status: 'fail', message: `cannot connect to ${redact(config.databaseUrl)}: ${(error as Error).message}`, fix: 'check GATEHOUSE_DATABASE_URL and that the database is running' });
    return { checks, activeKids };
  }
  const migrator = new Migrator({ db, provider: migrationProvider, migrationTableName: 'gatehouse_migrations', migrationLockTableName: 'gatehouse_migrations_lock' });
  const pending = (await migrator.getMigrations()).filter((m) => m.executedAt === undefined).map((m) => m.name);
  checks.push(
    pending.length === 0
      ? { name: 'migrations', status: 'ok', message: 'the schema is up to date' }
      : { name: 'migrations', status: 'fail', message: `pending: ${pending.join(', ')}`, fix: 'run `gatehouse migrate` (servers also migrate at start)' },
  );
  if (pending.length > 0) return { checks, activeKids };

  // States only: no private key is decrypted here (secretsCheck does that).
  const keys = await db.selectFrom('signing_keys').select(['kid', 'alg', 'state']).execute();
  const missing = SIGNING_ALGS.filter((alg) => !keys.some((k) => k.alg === alg && k.state === 'active'));
  for (const key of keys) if (key.state === 'active') activeKids.add(key.kid);
  checks.push(
    missing.length === 0
      ? { name: 'signing keys', status: 'ok', message: `${keys.filter((k) => k.state === 'active').length} active, ${keys.filter((k) => k.state === 'next').length} scheduled, ${keys.filter((k) => k.state === 'retired').length} retired; shared by every instance through the database` }
      : { name: 'signing keys', status: 'fail', message: `no active ${missing.join(', ')} key`, fix: 'start `gatehouse serve` once: it creates the keys' },
  );
  const secrets = await db.selectFrom('server_secrets').select(['purpose']).execute();
  const cookie = secrets.filter((s) => s.purpose === 'cookie').length;
  checks.push(
    cookie > 0
      ? { name: 'cookie secrets', status: 'ok', message: `${cookie} cookie-signing key(s) in the database: every instance signs and reads the same cookies` }
      : { name: 'cookie secrets', status: 'fail', message: 'none yet', fix: 'start `gatehouse serve` once: it creates them' },
  );
  checks.push(await secretsCheck(db));
  return { checks, activeKids };
}

/**
 * Secrets at rest: every private signing key and server secret opens with the configured key,
 * and which are still under a previous key (rotation not finished) or not encrypted at all.
 */
async function secretsCheck(db: Db): Promise<Check> {
  const name = 'secrets at rest';
  let keyring;
  try {
    keyring = await keyringFor(db);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return { name, status: 'fail', message: error.problems.join('; '), fix: 'see docs/security.md#secrets-at-rest' };
  }
  const reports = await inspectSecrets(db, keyring);
  const unreadable = reports.filter((r) => r.problem !== undefined);
  if (unreadable.length > 0) {
    return { name, status: 'fail', message: [...new Set(unreadable.map((r) => r.problem!))].join('; '), fix: 'see docs/security.md#secrets-at-rest' };
  }
  const previous = reports.filter((r) => r.status === 'previous');
  if (previous.length > 0) {
    const keyIds = [...new Set(previous.map((r) => r.keyId!))];
    return {
      name,
      status: 'warn',
      message: `${previous.length} of ${reports.length} secret(s) still under previous key(s) ${keyIds.join(', ')}; the current key is ${keyring.currentKeyId}`,
      fix: 'run `gatehouse secrets reencrypt`, then remove the old key from GATEHOUSE_SECRET_KEY_PREVIOUS',
    };
  }
  const unused = keyring.keyIds.filter((id) => id !== keyring.currentKeyId);
  return {
    name,
    status: 'ok',
    message:
      `${reports.length} secret(s) (private signing keys, cookie/CSRF/TOTP keys) encrypted under key ${keyring.currentKeyId}` +
      (unused.length > 0 ? `; previous key(s) ${unused.join(', ')} encrypt nothing any more and can be removed` : ''),
  };
}

async function redisCheck(config: Config, instances: number): Promise<Check> {
  if (!config.redisUrl) {
    return instances > 1
      ? { name: 'redis', status: 'warn', message: 'not configured, with several instances: each throttles logins on its own and learns of changes only after GATEHOUSE_CACHE_TTL', fix: 'set GATEHOUSE_REDIS_URL on every instance' }
      : { name: 'redis', status: 'ok', message: 'not configured (fine for one instance)' };
  }
  const redis = new Redis(config.redisUrl, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, connectTimeout: 3000, retryStrategy: () => null });
  // The failure is reported by the check, never as ioredis's unhandled-error stack trace.
  redis.on('error', () => {});
  try {
    await redis.connect();
    const pong = await redis.ping();
    return { name: 'redis', status: pong === 'PONG' ? 'ok' : 'fail', message: `reachable (${redact(config.redisUrl)}), prefix "${config.redisPrefix}"` };
  } catch (error) {
    return { name: 'redis', status: 'fail', message: `cannot reach ${redact(config.redisUrl)}: ${(error as Error).message}`, fix: 'check GATEHOUSE_REDIS_URL and that Redis is running; password checks answer 503 without it' };
  } finally {
    redis.disconnect();
  }
}

async function urlChecks(label: string, base: string, config: Config, activeKids: Set<string>): Promise<Check[]> {
  let discovery;
  try {
    discovery = await fetchJson(`${base}/.well-known/openid-configuration`);
  } catch (error) {
    return [{ name: label, status: 'fail', message: `${base} does not answer from here (${(error as Error).message})`, fix: label === 'public URL' ? 'GATEHOUSE_PUBLIC_URL must be the URL clients and browsers use; check DNS, the proxy and that a server runs' : 'check that this instance runs and listens there' }];
  }
  if (discovery.status !== 200 || typeof discovery.body?.issuer !== 'string') {
    return [{ name: label, status: 'fail', message: `${base}/.well-known/openid-configuration answered ${discovery.status}, not a discovery document`, fix: 'the URL reaches something that is not Gatehouse (a proxy route?)' }];
  }
  const checks: Check[] = [];
  if (discovery.body.issuer !== config.publicUrl) {
    checks.push({ name: label, status: 'fail', message: `${base} says its issuer is ${discovery.body.issuer}, this configuration says ${config.publicUrl}`, fix: 'every instance needs the same GATEHOUSE_PUBLIC_URL' });
  } else {
    checks.push({ name: label, status: 'ok', message: `${base} serves discovery for ${config.publicUrl}` });
  }
  try {
    const jwks = await fetchJson(discovery.body.jwks_uri);
    const published = new Set<string>((jwks.body?.keys ?? []).map((k: { kid: string }) => k.kid));
    const unpublished = [...activeKids].filter((kid) => !published.has(kid));
    checks.push(
      unpublished.length === 0
        ? { name: `${label} keys`, status: 'ok', message: 'publishes every active signing key of the database' }
        : { name: `${label} keys`, status: 'fail', message: `does not publish active key(s) ${unpublished.join(', ')}`, fix: 'this instance uses another database, or has not reloaded its keys (GATEHOUSE_KEY_CHECK_INTERVAL)' },
    );
  } catch (error) {
    checks.push({ name: `${label} keys`, status: 'fail', message: `JWKS at ${discovery.body.jwks_uri} unreachable (${(error as Error).message})` });
  }
  return checks;
}

export const doctorCommand: Command = {
  usage: 'gatehouse doctor [--instance <url> …]   (checks the deployment configured by GATEHOUSE_*; --instance adds each server\'s own address)',
  summary: 'Check a deployment: database, migrations, keys, secrets at rest, Redis, public URL and instances.',
  options: { instance: { type: 'string', multiple: true } },
  async run({ values, out, env }) {
    const checks: Check[] = [];
    let config: Config;
    try {
      config = loadConfig(env).config;
      checks.push({ name: 'configuration', status: 'ok', message: 'every GATEHOUSE_* setting is valid' });
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      checks.push({ name: 'configuration', status: 'fail', message: error.problems.join('; '), fix: 'see docs/configuration.md' });
      return report(checks);
    }
    const instances = stringList(values, 'instance');
    let storage: Storage;
    try {
      storage = openForCommand(config, 'read', out);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      checks.push({ name: 'database', status: 'fail', message: error.problems.join('; '), fix: 'point GATEHOUSE_DATABASE_URL at the database the servers use' });
      return report(checks);
    }
    try {
      const { checks: dbChecks, activeKids } = await databaseChecks(config, storage.db);
      checks.push(...dbChecks);
      checks.push(await redisCheck(config, Math.max(instances.length, 1)));
      checks.push(...(await urlChecks('public URL', config.publicUrl, config, activeKids)));
      for (const instance of instances) checks.push(...(await urlChecks(`instance ${instance}`, instance.replace(/\/+$/, ''), config, activeKids)));
    } finally {
      await storage.close();
    }
    return report(checks);

    function report(list: Check[]): number {
      for (const check of list) {
        out.text(`${SYMBOL[check.status]} ${check.name}: ${check.message}`);
        if (check.fix) out.text(`    → ${check.fix}`);
      }
      const failed = list.filter((c) => c.status === 'fail').length;
      out.text(failed === 0 ? '\nThe deployment looks right.' : `\n${failed} problem(s) found.`);
      out.json({ ok: failed === 0, checks: list });
      return failed > 0 ? 1 : 0;
    }
  },
};
