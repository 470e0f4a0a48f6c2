// Opens the storage named by GATEHOUSE_DATABASE_URL for one command, migrated, and closes it.
import { loadConfig } from '../config/load.ts';
import { migrate, openStorage, type Db } from '../storage/database.ts';

export async function withDb<T>(env: Readonly<Record<string, string | undefined>>, run: (db: Db) => Promise<T>): Promise<T> {
  const { config } = loadConfig(env);
  const storage = openStorage(config.databaseUrl);
  try {
    await migrate(storage.db);
    return await run(storage.db);
  } finally {
    await storage.close();
  }
}
