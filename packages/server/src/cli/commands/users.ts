// gatehouse users create | list | disable | enable | set-password | reset-two-factor | passkeys | remove-passkey | import
import { readFile } from 'node:fs/promises';
import { GatehouseError } from '../../errors.ts';
import { recordAuditEvent } from '../../storage/audit.ts';
import { listPasskeys, removePasskey } from '../../storage/passkeys.ts';
import { disableTwoFactor } from '../../storage/two-factor.ts';
import { setUserPassword, withPasswordHash, withPasswordHashes } from '../../passwords/user-passwords.ts';
import { createUser, importUsers, listUsers, requireUser, setUserDisabled, type User } from '../../storage/users.ts';
import { optionalString, page, requireString, stringList, UsageError, type Command, type CommandContext, type CommandGroup } from '../command.ts';
import { announce, readDb, withDb } from '../storage.ts';
import { importFormatHelp, parseImportFile } from '../user-import-file.ts';

const show = (u: User) => ({ username: u.username, email: u.email, roles: u.roles, disabled: u.disabled ? 'yes' : 'no', id: u.id });

async function readStdin(stdin: CommandContext['stdin']): Promise<string> {
  let text = '';
  for await (const chunk of stdin) text += chunk.toString();
  return text.replace(/\r?\n$/, '');
}

async function passwordFrom(context: CommandContext): Promise<string> {
  const given = optionalString(context.values, 'password');
  if (given !== undefined) return given;
  if (context.stdin.isTTY) throw new UsageError('give --password <p>, or pipe the password on standard input');
  return readStdin(context.stdin);
}

export const createUserCommand: Command = {
  usage: 'gatehouse users create --username <u> [--email <e>] --password <p> [--roles <r1,r2>]   (or pipe the password on stdin)',
  summary: 'Create a user with an argon2id password hash.',
  options: { username: { type: 'string' }, email: { type: 'string' }, password: { type: 'string' }, roles: { type: 'string', multiple: true } },
  async run(context) {
    const { values, out, env } = context;
    const username = requireString(values, 'username');
    const password = await passwordFrom(context);
    const user = await withDb({ env, out }, async (db) => createUser(db, await withPasswordHash({ username, email: optionalString(values, 'email'), password, roles: stringList(values, 'roles') })));
    out.text(`Created user ${user.username} (${user.id})${user.roles.length ? ` with roles ${user.roles.join(', ')}` : ''}`);
    out.json({ user });
  },
};

export const listUsersCommand: Command = {
  usage: 'gatehouse users list [--query <text>] [--disabled | --enabled] [--limit <n>] [--offset <n>]',
  summary: 'List users.',
  options: { query: { type: 'string' }, disabled: { type: 'boolean' }, enabled: { type: 'boolean' }, limit: { type: 'string' }, offset: { type: 'string' } },
  async run({ values, out, env }) {
    if (values.disabled && values.enabled) throw new UsageError('give --disabled or --enabled, not both');
    const disabled = values.disabled ? true : values.enabled ? false : undefined;
    const filter = { query: optionalString(values, 'query'), disabled, ...page(values) };
    const found = await readDb({ env, out }, (db) => listUsers(db, filter));
    out.table(found.items.map(show), ['username', 'email', 'roles', 'disabled', 'id']);
    out.json(found);
  },
};

function toggle(disabled: boolean): Command {
  return {
    usage: `gatehouse users ${disabled ? 'disable' : 'enable'} <username>`,
    summary: disabled ? 'Disable a user: their sessions, grants and tokens end; no more logins or tokens.' : 'Enable a disabled user.',
    options: {},
    positionals: { min: 1, max: 1 },
    async run({ positionals, out, env }) {
      const user = await withDb({ env, out }, (db) => setUserDisabled(db, positionals[0]!, disabled));
      await announce(env, 'users', (text) => out.warn(text));
      out.text(`${disabled ? 'Disabled' : 'Enabled'} user ${user.username}`);
      out.json({ user });
    },
  };
}
export const disableUserCommand = toggle(true);
export const enableUserCommand = toggle(false);

export const setPasswordCommand: Command = {
  usage: 'gatehouse users set-password <username> [--password <p>]   (or pipe the password on stdin)',
  summary: "Set a user's password (refused if common); ends the user's sessions, refresh and access tokens.",
  options: { password: { type: 'string' } },
  positionals: { min: 1, max: 1 },
  async run(context) {
    const password = await passwordFrom(context);
    const user = await withDb(context, (db) => setUserPassword(db, context.positionals[0]!, password));
    context.out.text(`Set the password of ${user.username}`);
    context.out.json({ user });
  },
};

export const resetTwoFactorCommand: Command = {
  usage: 'gatehouse users reset-two-factor <username>',
  summary: 'Turn off two-factor authentication for a user who lost their device and recovery codes (they can enrol again).',
  options: {},
  positionals: { min: 1, max: 1 },
  async run({ positionals, out, env }) {
    const user = await withDb({ env, out }, async (db) => {
      const found = await requireUser(db, positionals[0]!);
      await disableTwoFactor(db, found.id);
      await recordAuditEvent(db, { type: 'user.two_factor_reset', actor: { kind: 'cli' }, target: { kind: 'user', id: found.id } });
      return found;
    });
    out.text(`Turned off two-factor authentication for ${user.username}`);
    out.json({ user });
  },
};

// Passkeys (docs/adr/0015-passkeys.md): name, dates and this server's id, never the public key
// or the authenticator's credential id.
export const listPasskeysCommand: Command = {
  usage: 'gatehouse users passkeys <username>',
  summary: "List a user's passkeys (name, added, last used, id).",
  options: {},
  positionals: { min: 1, max: 1 },
  async run({ positionals, out, env }) {
    const { user, passkeys } = await readDb({ env, out }, async (db) => {
      const found = await requireUser(db, positionals[0]!);
      return { user: found, passkeys: await listPasskeys(db, found.id) };
    });
    const items = passkeys.map((p) => ({ id: p.id, name: p.name, created_at: p.createdAt, last_used_at: p.lastUsedAt }));
    if (items.length === 0) out.text(`${user.username} has no passkey`);
    else out.table(items.map((p) => ({ ...p, last_used_at: p.last_used_at ?? 'never' })), ['name', 'created_at', 'last_used_at', 'id']);
    out.json({ user: { id: user.id, username: user.username }, passkeys: items });
  },
};

export const removePasskeyCommand: Command = {
  usage: 'gatehouse users remove-passkey <username> <passkey-id>',
  summary: 'Remove one of a user\'s passkeys (a lost device); not the last way into an account without a password.',
  options: {},
  positionals: { min: 2, max: 2 },
  async run({ positionals, out, env }) {
    const [username, passkeyId] = positionals as [string, string];
    const { user, removed } = await withDb({ env, out }, async (db) => {
      const found = await requireUser(db, username);
      const removal = await removePasskey(db, found.id, passkeyId);
      if (removal.kind === 'not_found') throw new GatehouseError('not_found', `user ${found.username} has no passkey "${passkeyId}" (see gatehouse users passkeys ${found.username})`);
      if (removal.kind === 'last_way_in') throw new GatehouseError('conflict', `passkey "${passkeyId}" is the last way ${found.username} can sign in (no password, no other passkey): set a password first`);
      await recordAuditEvent(db, { type: 'user.passkey_removed', actor: { kind: 'cli' }, target: { kind: 'user', id: found.id }, details: { passkey_id: removal.passkey.id, name: removal.passkey.name } });
      return { user: found, removed: removal.passkey };
    });
    out.text(`Removed the passkey ${removed.name} of ${user.username}`);
    out.json({ user: { id: user.id, username: user.username }, removed: { id: removed.id, name: removed.name } });
  },
};

export const importUsersCommand: Command = {
  usage: 'gatehouse users import <file.json>',
  summary: 'Import users with existing argon2id or bcrypt hashes (bcrypt is upgraded at the next login). All or nothing.',
  help: importFormatHelp(),
  options: {},
  positionals: { min: 1, max: 1 },
  async run({ positionals, out, env }) {
    let content: unknown;
    try {
      content = JSON.parse(await readFile(positionals[0]!, 'utf8'));
    } catch (error) {
      throw new UsageError(`cannot read JSON from ${positionals[0]}: ${(error as Error).message}`);
    }
    const users = parseImportFile(content);
    const created = await withDb({ env, out }, async (db) => importUsers(db, await withPasswordHashes(users)));
    out.text(`Imported ${created.length} user(s): ${created.map((u) => u.username).join(', ')}`);
    out.json({ imported: created.length, users: created });
  },
};

/** The group's commands, in the order `gatehouse --help` lists them (cli/main.ts). */
export const commands: CommandGroup = {
  create: createUserCommand,
  list: listUsersCommand,
  disable: disableUserCommand,
  enable: enableUserCommand,
  'set-password': setPasswordCommand,
  'reset-two-factor': resetTwoFactorCommand,
  passkeys: listPasskeysCommand,
  'remove-passkey': removePasskeyCommand,
  import: importUsersCommand,
};
