// gatehouse providers add | list | enable | disable | remove: the upstream identity providers
// users may sign in with (docs/adr/0017-upstream-identity-providers.md).
import { recordAuditEvent } from '../../storage/audit.ts';
import { createUpstreamProvider, deleteUpstreamProvider, listUpstreamProviders, setUpstreamProviderEnabled, type UpstreamProvider } from '../../storage/upstream.ts';
import { optionalString, requireString, stringList, UsageError, type Command, type CommandContext, type CommandGroup } from '../command.ts';
import { readDb, withDb } from '../storage.ts';

const GOOGLE = 'https://accounts.google.com';
const GITHUB = 'https://github.com';

const show = (p: UpstreamProvider) => ({
  id: p.id,
  name: p.name,
  kind: p.kind,
  issuer: p.issuer,
  'client id': p.clientId,
  roles: p.roles.join(' ') || '-',
  'trust mfa': p.trustMfa ? 'yes' : 'no',
  enabled: p.enabled ? 'yes' : 'no',
});

async function secretFrom(context: CommandContext): Promise<string> {
  const given = optionalString(context.values, 'client-secret');
  if (given !== undefined) return given;
  if (context.stdin.isTTY) throw new UsageError('give --client-secret <s>, or pipe the client secret on standard input');
  let text = '';
  for await (const chunk of context.stdin) text += chunk.toString();
  return text.replace(/\r?\n$/, '');
}

/** `--role-map admins=gatehouse-admin,devs=editor` → { admins: 'gatehouse-admin', devs: 'editor' }. */
function roleMap(value: string | undefined): Record<string, string> {
  if (value === undefined) return {};
  const map: Record<string, string> = {};
  for (const pair of value.split(',').map((item) => item.trim()).filter(Boolean)) {
    const [from, to] = pair.split('=');
    if (!from || !to) throw new UsageError(`--role-map: expected upstream=role pairs separated by commas, got "${pair}"`);
    map[from] = to;
  }
  return map;
}

export const addProviderCommand: Command = {
  usage: [
    'gatehouse providers add --id <id> --name <name> (--issuer <url> | --google | --github [--github-url <url>])',
    '    --client-id <id> [--client-secret <s>] [--scopes "<s1> <s2>"] [--trust-mfa] [--roles <r1,r2>]',
    '    [--role-claim <claim> --role-map <upstream=role,…>]   (or pipe the client secret on stdin)',
  ].join('\n'),
  summary: 'Add an upstream identity provider: any OpenID Connect provider by its issuer, Google, or GitHub.',
  help: [
    'Register this server at the provider first, with the redirect URI <public URL>/upstream/<id>/callback.',
    '--trust-mfa: a sign-in the provider says used a second factor (amr contains mfa) asks no TOTP code here.',
    '--roles: roles of the users it creates; --role-claim/--role-map add roles from an upstream claim (e.g. groups).',
  ].join('\n'),
  options: {
    id: { type: 'string' },
    name: { type: 'string' },
    issuer: { type: 'string' },
    google: { type: 'boolean' },
    github: { type: 'boolean' },
    'github-url': { type: 'string' },
    'client-id': { type: 'string' },
    'client-secret': { type: 'string' },
    scopes: { type: 'string' },
    'trust-mfa': { type: 'boolean' },
    roles: { type: 'string', multiple: true },
    'role-claim': { type: 'string' },
    'role-map': { type: 'string' },
  },
  async run(context) {
    const { values, out, env } = context;
    const presets = [values.issuer !== undefined, values.google === true, values.github === true].filter(Boolean).length;
    if (presets !== 1) throw new UsageError('give exactly one of --issuer <url>, --google, --github');
    const github = values.github === true;
    const input = {
      id: requireString(values, 'id'),
      name: requireString(values, 'name'),
      kind: github ? ('github' as const) : ('oidc' as const),
      issuer: github ? (optionalString(values, 'github-url') ?? GITHUB) : values.google === true ? GOOGLE : requireString(values, 'issuer'),
      clientId: requireString(values, 'client-id'),
      clientSecret: await secretFrom(context),
      scopes: optionalString(values, 'scopes')?.split(/\s+/).filter(Boolean),
      trustMfa: values['trust-mfa'] === true,
      roles: stringList(values, 'roles'),
      roleClaim: optionalString(values, 'role-claim'),
      roleMap: roleMap(optionalString(values, 'role-map')),
    };
    const provider = await withDb({ env, out }, async (db) => {
      const created = await createUpstreamProvider(db, input);
      await recordAuditEvent(db, { type: 'upstream_provider.created', actor: { kind: 'cli' }, target: { kind: 'upstream_provider', id: created.id }, details: { kind: created.kind, issuer: created.issuer } });
      return created;
    });
    out.text(`Added ${provider.name} (${provider.id}); register ${env.GATEHOUSE_PUBLIC_URL ?? 'http://localhost:8000'}/upstream/${provider.id}/callback as its redirect URI`);
    out.json({ provider });
  },
};

export const listProvidersCommand: Command = {
  usage: 'gatehouse providers list',
  summary: 'List the upstream identity providers (never their client secrets).',
  options: {},
  async run({ out, env }) {
    const providers = await readDb({ env, out }, (db) => listUpstreamProviders(db));
    out.table(providers.map(show), ['id', 'name', 'kind', 'issuer', 'client id', 'roles', 'trust mfa', 'enabled']);
    out.json({ items: providers });
  },
};

function enabledCommand(enabled: boolean): Command {
  return {
    usage: `gatehouse providers ${enabled ? 'enable' : 'disable'} <id>`,
    summary: enabled ? 'Offer a provider on the login page again.' : 'Stop offering a provider (its links are kept).',
    options: {},
    positionals: { min: 1, max: 1 },
    async run({ positionals, out, env }) {
      const provider = await withDb({ env, out }, (db) => setUpstreamProviderEnabled(db, positionals[0]!, enabled));
      out.text(`${provider.name} (${provider.id}) is ${enabled ? 'enabled' : 'disabled'}`);
      out.json({ provider });
    },
  };
}

export const enableProviderCommand = enabledCommand(true);
export const disableProviderCommand = enabledCommand(false);

export const removeProviderCommand: Command = {
  usage: 'gatehouse providers remove <id>',
  summary: 'Remove a provider and the links to it (users keep their accounts and other ways in).',
  options: {},
  positionals: { min: 1, max: 1 },
  async run({ positionals, out, env }) {
    await withDb({ env, out }, async (db) => {
      await deleteUpstreamProvider(db, positionals[0]!);
      await recordAuditEvent(db, { type: 'upstream_provider.deleted', actor: { kind: 'cli' }, target: { kind: 'upstream_provider', id: positionals[0]! } });
    });
    out.text(`Removed provider ${positionals[0]}`);
    out.json({ removed: positionals[0] });
  },
};

/** The group's commands, in the order `gatehouse --help` lists them (cli/main.ts). */
export const commands: CommandGroup = {
  add: addProviderCommand,
  list: listProvidersCommand,
  enable: enableProviderCommand,
  disable: disableProviderCommand,
  remove: removeProviderCommand,
};
