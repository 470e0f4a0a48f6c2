// gatehouse serve | migrate
import { buildServer } from '../../app.ts';
import { ConfigError, loadConfig } from '../../config/load.ts';
import type { Config } from '../../config/schema.ts';
import { DEVELOPMENT_KEY_FILE, keyProviderFromConfig } from '../../secret-key/key-provider.ts';
import { migrate } from '../../storage/database.ts';
import { startBanner } from '../banner.ts';
import type { Command } from '../command.ts';
import { missingSqliteFile, openForCommand } from '../storage.ts';

/** Listens on the configured address; a port already taken is a configuration error naming the setting. */
async function listen(server: Awaited<ReturnType<typeof buildServer>>, config: Config): Promise<string> {
  try {
    return await server.app.listen({ port: config.port, host: config.host });
  } catch (error) {
    await server.close();
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EADDRINUSE' && code !== 'EACCES') throw error;
    const why = code === 'EADDRINUSE' ? 'is already in use (another Gatehouse, or another program)' : 'needs privileges this process does not have';
    throw new ConfigError([`GATEHOUSE_PORT: port ${config.port} on ${config.host} ${why}; choose another with GATEHOUSE_PORT=<n> or --port <n>`]);
  }
}

export const serveCommand: Command = {
  usage: 'gatehouse serve [--port <n>] [--host <h>]   (settings: GATEHOUSE_* variables, see docs/configuration.md)',
  summary: 'Run the authorization server.',
  options: { port: { type: 'string' }, host: { type: 'string' } },
  async run({ values, env, out }) {
    const overrides = {
      ...(values.port === undefined ? {} : { port: values.port }),
      ...(values.host === undefined ? {} : { host: values.host }),
    };
    const { config, warnings } = loadConfig(env, overrides);
    // Refuses to start in production without GATEHOUSE_SECRET_KEY; elsewhere, a development key.
    const keys = keyProviderFromConfig(config, { developmentKeyFile: DEVELOPMENT_KEY_FILE });
    // Like every command that writes, serve says when it creates the SQLite file: a mistyped path
    // is noticed at once, not as an empty database.
    const creating = missingSqliteFile(config);
    const server = await buildServer({ config, keys: keys.provider });
    if (creating !== undefined) out.warn(`created a new SQLite database at ${creating}`);
    for (const warning of [...warnings, ...keys.warnings]) server.app.log.warn(warning);
    // What is open beyond the defaults: registration, password-grant clients, development settings.
    for (const line of await startBanner(config, server.storage.db)) server.app.log[line.level](line.message);
    const address = await listen(server, config);
    server.app.log.info({ issuer: config.publicUrl, address }, `Gatehouse is listening on ${address}; issuer ${config.publicUrl}`);

    await new Promise<void>((resolve) => {
      const stop = (signal: string) => {
        server.app.log.info(`${signal} received: closing`);
        server.close().then(resolve, (error: unknown) => {
          server.app.log.error({ err: error }, 'error while closing');
          resolve();
        });
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
  },
};

export const migrateCommand: Command = {
  usage: 'gatehouse migrate',
  summary: 'Apply pending database migrations (the server also does it at start).',
  options: {},
  async run({ out, env }) {
    const { config } = loadConfig(env);
    // Migration 004 encrypts secrets written in plaintext by earlier versions: it needs the key.
    const storage = openForCommand(config, 'write', out);
    try {
      const result = await migrate(storage.db);
      const applied = (result.results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
      out.text(applied.length ? `Applied ${applied.length} migration(s): ${applied.join(', ')}` : 'The database is up to date.');
      out.json({ applied });
    } finally {
      await storage.close();
    }
  },
};
