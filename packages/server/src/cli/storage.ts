// Opens the storage named by GATEHOUSE_DATABASE_URL for one command, migrated, and closes it.
import { publishOnce, type ClusterEvent } from '../cluster/bus.ts';
import { ConfigError, loadConfig } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { DEVELOPMENT_KEY_FILE, keyProviderFromConfig, type KeyProvider } from '../secret-key/key-provider.ts';
import { databaseTimeouts, migrate, openStorage, type Db } from '../storage/database.ts';

/**
 * The secret key for a CLI command, as `gatehouse serve` would use it (the development key file
 * outside production). Loaded only by commands that touch secrets: without a key in production,
 * `users create` still works and `keys list` says which setting is missing.
 */
export function cliKeys(config: Config): KeyProvider {
  try {
    return keyProviderFromConfig(config, { developmentKeyFile: DEVELOPMENT_KEY_FILE }).provider;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return { source: 'none', load: () => Promise.reject(error) };
  }
}

export async function withDb<T>(env: Readonly<Record<string, string | undefined>>, run: (db: Db) => Promise<T>): Promise<T> {
  const { config } = loadConfig(env);
  const storage = openStorage(config.databaseUrl, { keys: cliKeys(config), timeouts: databaseTimeouts(config) });
  try {
    await migrate(storage.db);
    return await run(storage.db);
  } finally {
    await storage.close();
  }
}

/**
 * Tells running instances that something changed, when they share a Redis (otherwise their cache
 * TTL and key-check interval bound how long they take to notice). A Redis that cannot be reached
 * is reported, not fatal: the change itself is already stored. One attempt, bounded in time, and
 * the connection closed after it: the command always exits.
 */
export async function announce(env: Readonly<Record<string, string | undefined>>, type: ClusterEvent['type'], warn: (text: string) => void): Promise<void> {
  const { config } = loadConfig(env);
  if (!config.redisUrl) return;
  try {
    await publishOnce(config.redisUrl, config.redisPrefix, { type });
  } catch (error) {
    warn(`the change is stored, but running instances were not told (${(error as Error).message}); they notice within GATEHOUSE_CACHE_TTL / GATEHOUSE_KEY_CHECK_INTERVAL`);
  }
}
