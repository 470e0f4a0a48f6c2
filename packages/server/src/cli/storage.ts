// Opens the storage named by GATEHOUSE_DATABASE_URL for one command, migrated, and closes it.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { publishOnce, type ClusterEvent } from '../cluster/bus.ts';
import { ConfigError, loadConfig } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { DEVELOPMENT_KEY_FILE, keyProviderFromConfig, type KeyProvider } from '../secret-key/key-provider.ts';
import { databaseTimeouts, migrate, openStorage, type Db, type Storage } from '../storage/database.ts';
import { parseDatabaseUrl } from '../config/urls.ts';
import type { CommandContext } from './command.ts';

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

/** The SQLite file a database URL names, or undefined for PostgreSQL and `sqlite::memory:`. */
function sqliteFile(databaseUrl: string): string | undefined {
  const location = parseDatabaseUrl(databaseUrl);
  return location.kind === 'sqlite' && location.path !== ':memory:' ? resolve(location.path) : undefined;
}

/** The SQLite file the configuration names when it does not exist yet (it is about to be created). */
export function missingSqliteFile(config: Config): string | undefined {
  const file = sqliteFile(config.databaseUrl);
  return file !== undefined && !existsSync(file) ? file : undefined;
}

type DbContext = Pick<CommandContext, 'env' | 'out'>;

/**
 * Opens the configured storage for a command. A command that only reads never creates a SQLite
 * file (nor its directory): a mistyped path is an error naming it, not an empty database. A command
 * that writes may create it, and says so, so that a typo is noticed the first time.
 */
export function openForCommand(config: Config, mode: 'read' | 'write', out: CommandContext['out']): Storage {
  const file = sqliteFile(config.databaseUrl);
  const creating = file !== undefined && !existsSync(file);
  if (creating && mode === 'read') {
    throw new ConfigError([`GATEHOUSE_DATABASE_URL: there is no database at ${file}; check the path (a command that writes, such as \`gatehouse migrate\`, creates it)`]);
  }
  const storage = openStorage(config.databaseUrl, { keys: cliKeys(config), timeouts: databaseTimeouts(config) });
  if (creating) out.warn(`created a new SQLite database at ${file}`);
  return storage;
}

async function withStorage<T>(mode: 'read' | 'write', { env, out }: DbContext, run: (db: Db) => Promise<T>): Promise<T> {
  const { config } = loadConfig(env);
  const storage = openForCommand(config, mode, out);
  try {
    await migrate(storage.db);
    return await run(storage.db);
  } finally {
    await storage.close();
  }
}

/** The storage, migrated, for a command that writes (it creates a missing SQLite file, and says so). */
export function withDb<T>(context: DbContext, run: (db: Db) => Promise<T>): Promise<T> {
  return withStorage('write', context, run);
}

/** The storage for a command that only reads: a missing SQLite file is an error naming the path. */
export function readDb<T>(context: DbContext, run: (db: Db) => Promise<T>): Promise<T> {
  return withStorage('read', context, run);
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
