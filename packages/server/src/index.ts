// @gatehouse/server: build and run the Gatehouse authorization server from code.
// This is the whole public API: a program embedding the server builds it from a configuration;
// everything else (users, clients, keys…) is managed through the admin API or the CLI.
// The repository's own scripts and tests reach internals through `@gatehouse/server/internal/*`,
// which exists only under the `@gatehouse/source` condition and is never published.
export { buildServer, type BuildOptions, type GatehouseServer } from './app.ts';
export { loadConfig, ConfigError, type LoadedConfig } from './config/load.ts';
export { settings, type Config } from './config/schema.ts';
export { openStorage, migrate, type Storage, type Db } from './storage/database.ts';
// Where the key that encrypts the secrets in the database comes from (a KMS plugs in here).
export type { KeyProvider, SecretKeyMaterial } from './secret-key/key-provider.ts';
export { GatehouseError, type ErrorCode } from './errors.ts';
export { ADMIN_SCOPES, adminApiIdentifier } from './admin/scopes.ts';
