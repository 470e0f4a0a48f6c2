// Reads the configuration from the environment (and an optional JSON file named by
// GATEHOUSE_CONFIG_FILE), validates every setting against the schema and fails with
// one message per bad setting, naming it and what it accepts.
import { readFileSync } from 'node:fs';
import { isProduction } from './production.ts';
import { settings, type Config, type SettingKey } from './schema.ts';

export class ConfigError extends Error {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

export interface LoadedConfig {
  readonly config: Config;
  /** Things worth telling the operator at start (development-only defaults, unknown variables). */
  readonly warnings: readonly string[];
}

const CONFIG_FILE_ENV = 'GATEHOUSE_CONFIG_FILE';

function readConfigFile(path: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new ConfigError([`${CONFIG_FILE_ENV}: cannot read a JSON object from "${path}" (${(error as Error).message})`]);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError([`${CONFIG_FILE_ENV}: "${path}" must contain a JSON object`]);
  }
  return parsed as Record<string, unknown>;
}

export function loadConfig(
  env: Readonly<Record<string, string | undefined>> = process.env,
  overrides: Partial<Record<SettingKey, unknown>> = {},
): LoadedConfig {
  const file = env[CONFIG_FILE_ENV] ? readConfigFile(env[CONFIG_FILE_ENV]) : {};
  const problems: string[] = [];
  const warnings: string[] = [];
  const values: Record<string, unknown> = {};
  const known = new Set<string>([CONFIG_FILE_ENV]);

  for (const [key, definition] of Object.entries(settings) as [SettingKey, (typeof settings)[SettingKey]][]) {
    known.add(definition.env);
    // Precedence: explicit overrides (tests, CLI flags) > environment > file > default. An empty
    // variable counts as unset (`GATEHOUSE_PORT=` in a compose file), so it does not hide the file.
    const fromEnv = env[definition.env] === '' ? undefined : env[definition.env];
    const raw = key in overrides ? overrides[key] : fromEnv ?? file[definition.env] ?? file[key];
    if (raw === undefined || raw === '') {
      values[key] = definition.default;
      if ('devOnlyDefault' in definition && definition.devOnlyDefault) {
        warnings.push(`${definition.env} is not set: ${definition.devOnlyDefault}`);
      }
      continue;
    }
    try {
      values[key] = (definition.type.parse as (raw: unknown) => unknown)(raw);
    } catch (error) {
      const got = 'secret' in definition && definition.secret ? '' : ` (${(error as Error).message})`;
      problems.push(`${definition.env}: expected ${definition.type.accepts}${got}`);
    }
  }

  for (const name of Object.keys(env)) {
    if (name.startsWith('GATEHOUSE_') && !known.has(name)) {
      warnings.push(`${name} is not a Gatehouse server setting and is ignored (see docs/configuration.md)`);
    }
  }
  for (const name of Object.keys(file)) {
    if (!known.has(name) && !Object.hasOwn(settings, name)) problems.push(`${CONFIG_FILE_ENV}: unknown setting "${name}"`);
  }

  if (problems.length === 0) problems.push(...crossChecks(values as Config));
  if (problems.length > 0) throw new ConfigError(problems);
  return { config: Object.freeze(values) as Config, warnings };
}

/** Settings that are each valid but wrong together. */
function crossChecks(config: Config): string[] {
  const problems: string[] = [];
  if (config.databaseQueryTimeout > 0 && config.databaseQueryTimeout <= config.databaseStatementTimeout) {
    problems.push(
      `${settings.databaseQueryTimeout.env}: must be longer than ${settings.databaseStatementTimeout.env} (${config.databaseStatementTimeout}s), so PostgreSQL cancels a slow statement before Gatehouse gives up on the connection`,
    );
  }
  if (config.headersTimeout > config.requestTimeout) {
    problems.push(`${settings.headersTimeout.env}: must be at most ${settings.requestTimeout.env} (${config.requestTimeout}s)`);
  }
  // Fetching from loopback lets any client id make the server GET its own machine's services.
  if (config.clientIdMetadataDocumentsLoopback && isProduction(config)) {
    problems.push(`${settings.clientIdMetadataDocumentsLoopback.env}: for development only; refused with ${settings.publicUrl.env}=${config.publicUrl} (only an http URL on a loopback host is development)`);
  }
  if (config.clientIdMetadataDocumentsLoopback && !config.clientIdMetadataDocuments) {
    problems.push(`${settings.clientIdMetadataDocumentsLoopback.env}: needs ${settings.clientIdMetadataDocuments.env}=true`);
  }
  return problems;
}
