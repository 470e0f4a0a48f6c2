// @gatehouse/server: build and run the Gatehouse authorization server from code.
export { buildServer, type BuildOptions, type GatehouseServer } from './app.ts';
export { loadConfig, ConfigError, type LoadedConfig } from './config/load.ts';
export { settings, type Config } from './config/schema.ts';
export { openStorage, migrate, type Storage, type Db } from './storage/database.ts';
export { GatehouseError, type ErrorCode } from './errors.ts';
export { hashPassword } from './passwords/hash.ts';
export * as users from './storage/users.ts';
export * as roles from './storage/roles.ts';
export * as apis from './storage/apis.ts';
export * as clients from './storage/clients.ts';
export * as apiKeys from './storage/api-keys.ts';
export * as audit from './storage/audit.ts';
export * as signingKeys from './storage/keys.ts';
export { ADMIN_SCOPES, adminApiIdentifier } from './admin/scopes.ts';
