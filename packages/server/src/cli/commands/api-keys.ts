// gatehouse api-keys create | list | revoke
import { createApiKey, listApiKeys, revokeApiKey, type ApiKey } from '../../storage/api-keys.ts';
import { recordAuditEvent } from '../../storage/audit.ts';
import { parseDuration } from '../durations.ts';
import { optionalString, requireString, UsageError, type Command, type CommandGroup } from '../command.ts';
import { readDb, withDb } from '../storage.ts';

const show = (k: ApiKey) => ({ id: k.id, name: k.name, owner: `${k.owner.kind}:${k.owner.id}`, api: k.api, scopes: k.scopes, expires: k.expiresAt, 'last used': k.lastUsedAt, revoked: k.revokedAt });

function owner(value: string): { kind: 'user' | 'client'; id: string } {
  const match = /^(user|client):(.+)$/.exec(value);
  if (!match) throw new UsageError('--owner must be user:<username or id> or client:<client_id>');
  return { kind: match[1] as 'user' | 'client', id: match[2]! };
}

export const createApiKeyCommand: Command = {
  usage: 'gatehouse api-keys create --owner <user:<name>|client:<id>> --api <identifier> --scopes "<s1> <s2>" [--expires-in <duration>] [--name <n>]',
  summary: 'Create an API key (printed once; only its hash is stored).',
  options: { owner: { type: 'string' }, api: { type: 'string' }, scopes: { type: 'string' }, 'expires-in': { type: 'string' }, name: { type: 'string' } },
  async run({ values, out, env }) {
    const input = {
      owner: owner(requireString(values, 'owner')),
      api: requireString(values, 'api'),
      scopes: requireString(values, 'scopes'),
      name: optionalString(values, 'name'),
      expiresIn: parseDuration(optionalString(values, 'expires-in'), 'expires-in'),
    };
    const created = await withDb({ env, out }, async (db) => {
      const result = await createApiKey(db, input);
      await recordAuditEvent(db, { type: 'api_key.created', actor: { kind: 'cli' }, target: { kind: 'api_key', id: result.apiKey.id }, details: { owner: `${input.owner.kind}:${input.owner.id}`, api: input.api, scopes: result.apiKey.scopes } });
      return result;
    });
    out.text(`Created API key ${created.apiKey.id} for ${created.apiKey.owner.kind} ${created.apiKey.owner.id} at ${created.apiKey.api}: ${created.apiKey.scopes.join(' ')}`);
    out.text(`key: ${created.key}`);
    out.text('Store the key now: only its hash is kept and it will not be shown again.');
    out.json(created);
  },
};

export const listApiKeysCommand: Command = {
  usage: 'gatehouse api-keys list [--owner <user:<id>|client:<id>>] [--api <identifier>] [--all] [--limit <n>] [--offset <n>]',
  summary: 'List API keys (never the keys themselves); --all includes revoked ones.',
  options: { owner: { type: 'string' }, api: { type: 'string' }, all: { type: 'boolean' }, limit: { type: 'string' }, offset: { type: 'string' } },
  async run({ values, out, env }) {
    const page = await readDb({ env, out }, (db) =>
      listApiKeys(db, {
        owner: values.owner === undefined ? undefined : owner(String(values.owner)),
        api: optionalString(values, 'api'),
        includeRevoked: values.all === true,
        limit: Number(values.limit ?? 50),
        offset: Number(values.offset ?? 0),
      }),
    );
    out.table(page.items.map(show), ['id', 'name', 'owner', 'api', 'scopes', 'expires', 'last used', 'revoked']);
    out.json(page);
  },
};

export const revokeApiKeyCommand: Command = {
  usage: 'gatehouse api-keys revoke <id>',
  summary: 'Revoke an API key: APIs with a Shared Signals stream refuse it at once, others once their introspection cache expires (30 s by default).',
  options: {},
  positionals: { min: 1, max: 1 },
  async run({ positionals, out, env }) {
    const key = await withDb({ env, out }, async (db) => {
      const revoked = await revokeApiKey(db, positionals[0]!);
      await recordAuditEvent(db, { type: 'api_key.revoked', actor: { kind: 'cli' }, target: { kind: 'api_key', id: revoked.id } });
      return revoked;
    });
    out.text(`Revoked API key ${key.id}`);
    out.json({ apiKey: key });
  },
};

/** The group's commands, in the order `gatehouse --help` lists them (cli/main.ts). */
export const commands: CommandGroup = {
  create: createApiKeyCommand,
  list: listApiKeysCommand,
  revoke: revokeApiKeyCommand,
};
