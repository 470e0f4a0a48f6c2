// gatehouse apis create | list
import { createApi, listApis } from '../../storage/apis.ts';
import { optionalString, page, requireString, type Command, type CommandGroup } from '../command.ts';
import { parseDuration } from '../durations.ts';
import { announce, readDb, withDb } from '../storage.ts';

export const createApiCommand: Command = {
  usage: 'gatehouse apis create --identifier <url> --name <name> --scopes "<s1> <s2>" [--token-ttl <duration>] [--signing-alg ES256|RS256] [--open-to-dynamic-clients]',
  summary: 'Register an API (an OAuth resource server): its identifier is the token audience.',
  options: {
    identifier: { type: 'string' },
    name: { type: 'string' },
    scopes: { type: 'string' },
    'token-ttl': { type: 'string' },
    'signing-alg': { type: 'string' },
    // Dynamically registered clients (MCP clients) are granted it: docs/adr/0011.
    'open-to-dynamic-clients': { type: 'boolean' },
  },
  async run({ values, out, env }) {
    // Arguments are checked before the database is opened: a usage error touches nothing.
    const input = {
      identifier: requireString(values, 'identifier'),
      name: requireString(values, 'name'),
      scopes: optionalString(values, 'scopes') ?? '',
      accessTokenTtl: parseDuration(optionalString(values, 'token-ttl'), 'token-ttl'),
      signingAlg: optionalString(values, 'signing-alg'),
      openToDynamicClients: values['open-to-dynamic-clients'] === true,
    };
    const api = await withDb({ env, out }, (db) => createApi(db, input));
    await announce(env, 'apis', (text) => out.warn(text));
    out.text(`Created API ${api.identifier} (${api.name}) with scopes: ${api.scopes.map((s) => s.name).join(' ') || '(none)'}`);
    out.json({ api });
  },
};

export const listApisCommand: Command = {
  usage: 'gatehouse apis list [--limit <n>] [--offset <n>]',
  summary: 'List APIs.',
  options: { limit: { type: 'string' }, offset: { type: 'string' } },
  async run({ values, out, env }) {
    const bounds = page(values);
    const found = await readDb({ env, out }, (db) => listApis(db, bounds));
    out.table(
      found.items.map((a) => ({ identifier: a.identifier, name: a.name, scopes: a.scopes.map((s) => s.name), 'token ttl': a.accessTokenTtl ?? 'default', 'dynamic clients': a.openToDynamicClients ? 'open' : '-' })),
      ['identifier', 'name', 'scopes', 'token ttl', 'dynamic clients'],
    );
    out.json(found);
  },
};

/** The group's commands, in the order `gatehouse --help` lists them (cli/main.ts). */
export const commands: CommandGroup = {
  create: createApiCommand,
  list: listApisCommand,
};
