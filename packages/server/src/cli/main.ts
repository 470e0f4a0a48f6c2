// The `gatehouse` command line: `gatehouse <group> <command> [options]`.
// Bad arguments print the usage and exit 2; a refused operation prints why and exits 1;
// neither prints a stack trace.
import { parseArgs } from 'node:util';
import { ConfigError } from '../config/load.ts';
import { GatehouseError } from '../errors.ts';
import { UsageError, type Command } from './command.ts';
import { createApiCommand, listApisCommand } from './commands/apis.ts';
import { createApiKeyCommand, listApiKeysCommand, revokeApiKeyCommand } from './commands/api-keys.ts';
import { addProviderCommand, disableProviderCommand, enableProviderCommand, listProvidersCommand, removeProviderCommand } from './commands/providers.ts';
import { deleteStreamCommand, disableStreamCommand, listStreamsCommand, pauseStreamCommand, resumeStreamCommand, showStreamCommand } from './commands/streams.ts';
import { createClientCommand, deleteClientCommand, listClientsCommand, revokeClientCommand, rotateClientSecretCommand, updateClientCommand } from './commands/clients.ts';
import { doctorCommand } from './commands/doctor.ts';
import { listKeysCommand, rotateKeysCommand } from './commands/keys.ts';
import { createRoleCommand, listRolesCommand } from './commands/roles.ts';
import { reencryptSecretsCommand } from './commands/secrets.ts';
import { migrateCommand, serveCommand } from './commands/serve.ts';
import {
  createUserCommand,
  disableUserCommand,
  enableUserCommand,
  importUsersCommand,
  listPasskeysCommand,
  listUsersCommand,
  removePasskeyCommand,
  resetTwoFactorCommand,
  setPasswordCommand,
} from './commands/users.ts';
import { createOutput } from './output.ts';

const COMMANDS: Record<string, Command | Record<string, Command>> = {
  serve: serveCommand,
  migrate: migrateCommand,
  doctor: doctorCommand,
  apis: { create: createApiCommand, list: listApisCommand },
  roles: { create: createRoleCommand, list: listRolesCommand },
  users: {
    create: createUserCommand,
    list: listUsersCommand,
    disable: disableUserCommand,
    enable: enableUserCommand,
    'set-password': setPasswordCommand,
    'reset-two-factor': resetTwoFactorCommand,
    passkeys: listPasskeysCommand,
    'remove-passkey': removePasskeyCommand,
    import: importUsersCommand,
  },
  clients: {
    create: createClientCommand,
    list: listClientsCommand,
    update: updateClientCommand,
    delete: deleteClientCommand,
    revoke: revokeClientCommand,
    'rotate-secret': rotateClientSecretCommand,
  },
  'api-keys': { create: createApiKeyCommand, list: listApiKeysCommand, revoke: revokeApiKeyCommand },
  keys: { list: listKeysCommand, rotate: rotateKeysCommand },
  providers: {
    add: addProviderCommand,
    list: listProvidersCommand,
    enable: enableProviderCommand,
    disable: disableProviderCommand,
    remove: removeProviderCommand,
  },
  streams: {
    list: listStreamsCommand,
    show: showStreamCommand,
    pause: pauseStreamCommand,
    resume: resumeStreamCommand,
    disable: disableStreamCommand,
    delete: deleteStreamCommand,
  },
  secrets: { reencrypt: reencryptSecretsCommand },
};

function isCommand(value: Command | Record<string, Command> | undefined): value is Command {
  return value !== undefined && typeof (value as Command).run === 'function';
}

/** The commands with their summaries: all of them, or one group's (`gatehouse users`). */
function overview(group?: string): string {
  const usage = group ? `gatehouse ${group} <command>` : 'gatehouse <command>';
  const lines = [`Usage: ${usage} [options]   (--json prints one JSON object; --help shows a command\'s options)`, ''];
  const entries = Object.entries(COMMANDS).filter(([name]) => group === undefined || name === group);
  const rows = entries.flatMap(([name, entry]) =>
    isCommand(entry) ? [[name, entry.summary] as const] : Object.entries(entry).map(([sub, command]) => [`${name} ${sub}`, command.summary] as const),
  );
  // The longest command name sets the column, so there are always two spaces before a summary.
  const width = Math.max(...rows.map(([name]) => name.length)) + 2;
  for (const [name, summary] of rows) lines.push(`  ${name.padEnd(width)}${summary}`);
  return `${lines.join('\n')}\n`;
}

export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly stdin: NodeJS.ReadableStream & { isTTY?: boolean };
}

export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const [group, maybeSub, ...rest] = argv;
  if (group === undefined) {
    // No command is a usage error: the list of commands goes where errors go.
    io.stderr(overview());
    return 2;
  }
  if (group === '--help' || group === '-h' || group === 'help') {
    io.stdout(overview());
    return 0;
  }
  const entry = COMMANDS[group];
  if (entry && !isCommand(entry) && (maybeSub === undefined || maybeSub === '--help' || maybeSub === '-h')) {
    // A group alone lists its commands; like no command at all, it is a usage error unless asked for.
    if (maybeSub === undefined) {
      io.stderr(`gatehouse: "${group}" needs a command, one of: ${Object.keys(entry).join(', ')}\n\n${overview(group)}`);
      return 2;
    }
    io.stdout(overview(group));
    return 0;
  }
  let command: Command | undefined;
  let args: string[];
  if (isCommand(entry)) {
    command = entry;
    args = maybeSub === undefined ? [] : [maybeSub, ...rest];
  } else {
    command = entry && maybeSub !== undefined ? entry[maybeSub] : undefined;
    args = rest;
  }
  if (!command) {
    io.stderr(`gatehouse: unknown command "${[group, maybeSub].filter(Boolean).join(' ')}"\n\n${overview()}`);
    return 2;
  }

  const json = args.includes('--json');
  const out = createOutput(json, io.stdout, io.stderr);
  try {
    let parsed;
    try {
      parsed = parseArgs({
        args,
        options: { ...command.options, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
        allowPositionals: true,
        strict: true,
      });
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    if (parsed.values.help) {
      io.stdout(`${command.summary}\n\nUsage: ${command.usage}\n${command.help ? `\n${command.help}\n` : ''}`);
      return 0;
    }
    const { min = 0, max = 0 } = command.positionals ?? {};
    if (parsed.positionals.length < min || parsed.positionals.length > max) {
      throw new UsageError(parsed.positionals.length < min ? 'missing argument' : `unexpected argument "${parsed.positionals[max]}"`);
    }
    const code = await command.run({ values: parsed.values, positionals: parsed.positionals, out, env: io.env, stdin: io.stdin });
    out.flush();
    return code ?? 0;
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr(`gatehouse: ${error.message}\n\nUsage: ${command.usage}\n`);
      return 2;
    }
    if (error instanceof ConfigError) {
      io.stderr(`gatehouse: ${error.message}\n`);
      return 1;
    }
    if (error instanceof GatehouseError) {
      if (json) io.stdout(`${JSON.stringify(error.toJSON(), null, 2)}\n`);
      io.stderr(`gatehouse: ${error.toJSON().message}\n`);
      return 1;
    }
    io.stderr(`gatehouse: failed: ${(error as Error)?.message ?? String(error)}\n`);
    return 1;
  }
}

/** Runs the CLI for this process (bin/gatehouse.js). */
export async function main(): Promise<void> {
  process.exitCode = await runCli(process.argv.slice(2), {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    env: process.env,
    stdin: process.stdin,
  });
}

if (import.meta.main) await main();
