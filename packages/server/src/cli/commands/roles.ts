// gatehouse roles create | list
import { createRole, listRoles } from '../../storage/roles.ts';
import { optionalString, page, requireString, type Command, type CommandGroup } from '../command.ts';
import { readDb, withDb } from '../storage.ts';

export const createRoleCommand: Command = {
  usage: 'gatehouse roles create --name <name> --scopes "<s1> <s2>" [--description <text>]',
  summary: 'Create a role: users with it are granted its scopes.',
  options: { name: { type: 'string' }, scopes: { type: 'string' }, description: { type: 'string' } },
  async run({ values, out, env }) {
    // Arguments are checked before the database is opened: a usage error touches nothing.
    const input = { name: requireString(values, 'name'), scopes: optionalString(values, 'scopes') ?? '', description: optionalString(values, 'description') };
    const role = await withDb({ env, out }, (db) => createRole(db, input));
    out.text(`Created role ${role.name} granting: ${role.scopes.join(' ') || '(no scopes)'}`);
    out.json({ role });
  },
};

export const listRolesCommand: Command = {
  usage: 'gatehouse roles list [--limit <n>] [--offset <n>]',
  summary: 'List roles and the scopes they grant.',
  options: { limit: { type: 'string' }, offset: { type: 'string' } },
  async run({ values, out, env }) {
    const bounds = page(values);
    const found = await readDb({ env, out }, (db) => listRoles(db, bounds));
    out.table(found.items.map((r) => ({ name: r.name, scopes: r.scopes, description: r.description })), ['name', 'scopes', 'description']);
    out.json(found);
  },
};

/** The group's commands, in the order `gatehouse --help` lists them (cli/main.ts). */
export const commands: CommandGroup = {
  create: createRoleCommand,
  list: listRolesCommand,
};
