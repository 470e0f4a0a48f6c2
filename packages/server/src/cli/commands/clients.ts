// gatehouse clients create | list | update | delete | revoke | rotate-secret
import { recordAuditEvent } from '../../storage/audit.ts';
import { createClient, deleteClient, listClients, revokeClient, rotateClientSecret, updateClient, type Client } from '../../storage/clients.ts';
import { optionalString, page, requireString, stringList, UsageError, type Command, type CommandGroup, type Values } from '../command.ts';
import { announce, readDb, withDb } from '../storage.ts';

/**
 * --first-party or --third-party: at most one; required (by the storage rule) for a client with the
 * authorization_code grant, where it decides whether users see a consent page.
 */
function party(values: Values, required: boolean): boolean | undefined {
  if (values['first-party'] === true && values['third-party'] === true) throw new UsageError('give --first-party or --third-party, not both');
  if (values['first-party'] === true) return true;
  if (values['third-party'] === true) return false;
  if (required) {
    throw new UsageError(
      'a client with the authorization_code grant needs --first-party (your own application: no consent page, refresh tokens always) or --third-party (anyone else\'s: the user is asked)',
    );
  }
  return undefined;
}

const showClient = (c: Client) => ({ client_id: c.clientId, name: c.name, type: c.type, grants: c.grantTypes, apis: c.apis, scopes: c.scopes, first_party: c.firstParty });

export const createClientCommand: Command = {
  usage: [
    'gatehouse clients create --name <n> --grants <authorization_code,refresh_token,client_credentials,password>',
    '    [--api <api identifier> …] [--scopes "<s1> <s2>"] [--first-party | --third-party]',
    '    [--public] [--id <client_id>] [--redirect-uri <uri> …] [--post-logout-redirect-uri <uri> …]',
    '    [--cors-origin <origin> …] [--auth-method client_secret_basic|client_secret_post] [--application-type web|native]',
    '    [--backchannel-logout-uri <uri>]',
    '  The client gets tokens only for the APIs given with --api, with the --scopes they define.',
    '  With authorization_code, say --first-party (no consent page) or --third-party (the user is asked).',
    '  --application-type native: a public app on a device, which may use any port of http://127.0.0.1/… (RFC 8252).',
    '  --backchannel-logout-uri: where a logout token is POSTed when a user\'s session with this client ends.',
  ].join('\n'),
  summary: 'Register a client application. Confidential clients get a secret, shown once.',
  options: {
    name: { type: 'string' },
    id: { type: 'string' },
    public: { type: 'boolean' },
    grants: { type: 'string', multiple: true },
    api: { type: 'string', multiple: true },
    'redirect-uri': { type: 'string', multiple: true },
    'post-logout-redirect-uri': { type: 'string', multiple: true },
    scopes: { type: 'string' },
    'cors-origin': { type: 'string', multiple: true },
    'first-party': { type: 'boolean' },
    'third-party': { type: 'boolean' },
    'auth-method': { type: 'string' },
    'application-type': { type: 'string' },
    'backchannel-logout-uri': { type: 'string' },
  },
  async run({ values, out, env }) {
    // Arguments are checked before the database is opened: a usage error touches nothing.
    const grantTypes = stringList(values, 'grants');
    requireString({ grants: grantTypes.join(',') }, 'grants');
    const input = {
      clientId: optionalString(values, 'id'),
      name: requireString(values, 'name'),
      public: values.public === true,
      grantTypes,
      apis: stringList(values, 'api'),
      redirectUris: stringList(values, 'redirect-uri'),
      postLogoutRedirectUris: stringList(values, 'post-logout-redirect-uri'),
      scopes: optionalString(values, 'scopes') ?? '',
      corsOrigins: stringList(values, 'cors-origin'),
      firstParty: party(values, grantTypes.includes('authorization_code')),
      tokenEndpointAuthMethod: optionalString(values, 'auth-method'),
      applicationType: optionalString(values, 'application-type'),
      backchannelLogoutUri: optionalString(values, 'backchannel-logout-uri'),
    };
    const created = await withDb({ env, out }, (db) => createClient(db, input));
    out.text(`Created ${created.client.type} client ${created.client.name}`);
    out.text(`client_id:     ${created.client.clientId}`);
    out.text(`APIs:          ${created.client.apis.join(' ') || '(none: it gets no API tokens; add one with --api)'}`);
    if (created.client.backchannelLogoutUri) out.text(`back-channel logout: ${created.client.backchannelLogoutUri}`);
    if (created.clientSecret) {
      out.text(`client_secret: ${created.clientSecret}`);
      out.text('Store the secret now: it is not stored in readable form and will not be shown again.');
    }
    out.json(created);
  },
};

export const listClientsCommand: Command = {
  usage: 'gatehouse clients list [--limit <n>] [--offset <n>]',
  summary: 'List clients (never their secrets).',
  options: { limit: { type: 'string' }, offset: { type: 'string' } },
  async run({ values, out, env }) {
    const bounds = page(values);
    const found = await readDb({ env, out }, (db) => listClients(db, bounds));
    out.table(found.items.map(showClient), ['client_id', 'name', 'type', 'grants', 'apis', 'scopes', 'first_party']);
    out.json(found);
  },
};

export const updateClientCommand: Command = {
  usage: [
    'gatehouse clients update <client_id> [--api <api identifier> … | --no-apis] [--scopes "<s1> <s2>"]',
    '    [--first-party | --third-party] [--name <n>] [--backchannel-logout-uri <uri> | --no-backchannel-logout]',
    '  --api replaces the APIs the client may get tokens for; --no-apis removes them all.',
    '  --no-backchannel-logout: no more logout tokens for this client.',
  ].join('\n'),
  summary: 'Change which APIs and scopes a client may get, its name, whether it is first-party, or its back-channel logout URI.',
  options: {
    api: { type: 'string', multiple: true },
    'no-apis': { type: 'boolean' },
    scopes: { type: 'string' },
    'first-party': { type: 'boolean' },
    'third-party': { type: 'boolean' },
    name: { type: 'string' },
    'backchannel-logout-uri': { type: 'string' },
    'no-backchannel-logout': { type: 'boolean' },
  },
  positionals: { min: 1, max: 1 },
  async run({ positionals, values, out, env }) {
    const apis = stringList(values, 'api');
    if (apis.length > 0 && values['no-apis'] === true) throw new UsageError('give --api or --no-apis, not both');
    const logoutUri = optionalString(values, 'backchannel-logout-uri');
    if (logoutUri !== undefined && values['no-backchannel-logout'] === true) throw new UsageError('give --backchannel-logout-uri or --no-backchannel-logout, not both');
    const changes = {
      name: optionalString(values, 'name'),
      scopes: optionalString(values, 'scopes'),
      apis: values['no-apis'] === true ? [] : apis.length > 0 ? apis : undefined,
      firstParty: party(values, false),
      backchannelLogoutUri: values['no-backchannel-logout'] === true ? null : logoutUri,
    };
    if (Object.values(changes).every((v) => v === undefined)) {
      throw new UsageError('nothing to change: give --api, --no-apis, --scopes, --first-party, --third-party, --name, --backchannel-logout-uri or --no-backchannel-logout');
    }
    const client = await withDb({ env, out }, async (db) => {
      const updated = await updateClient(db, positionals[0]!, changes);
      await recordAuditEvent(db, {
        type: 'client.updated',
        actor: { kind: 'cli' },
        target: { kind: 'client', id: updated.clientId },
        details: { changed: Object.keys(changes).filter((k) => changes[k as keyof typeof changes] !== undefined), apis: [...updated.apis], scopes: [...updated.scopes] },
      });
      return updated;
    });
    await announce(env, 'clients', (text) => out.text(`warning: ${text}`));
    out.text(
      `Updated client ${client.clientId}: APIs ${client.apis.join(' ') || '(none)'}; scopes ${client.scopes.join(' ') || '(none)'}; ${client.firstParty ? 'first' : 'third'}-party${client.backchannelLogoutUri ? `; back-channel logout ${client.backchannelLogoutUri}` : ''}`,
    );
    out.json({ client });
  },
};

export const deleteClientCommand: Command = {
  usage: 'gatehouse clients delete <client_id>',
  summary: 'Delete a client and everything issued to it.',
  options: {},
  positionals: { min: 1, max: 1 },
  async run({ positionals, out, env }) {
    await withDb({ env, out }, (db) => deleteClient(db, positionals[0]!));
    await announce(env, 'clients', (text) => out.warn(text));
    out.text(`Deleted client ${positionals[0]}`);
    out.json({ deleted: positionals[0] });
  },
};

export const revokeClientCommand: Command = {
  usage: 'gatehouse clients revoke <client_id>',
  summary: 'Revoke a client: no more tokens, and introspection refuses the JWTs it holds.',
  options: {},
  positionals: { min: 1, max: 1 },
  async run({ positionals, out, env }) {
    const client = await withDb({ env, out }, async (db) => {
      const revoked = await revokeClient(db, positionals[0]!);
      await recordAuditEvent(db, { type: 'client.revoked', actor: { kind: 'cli' }, target: { kind: 'client', id: revoked.clientId } });
      return revoked;
    });
    await announce(env, 'clients', (text) => out.warn(text));
    out.text(`Revoked client ${client.clientId}`);
    out.json({ client });
  },
};

export const rotateClientSecretCommand: Command = {
  usage: 'gatehouse clients rotate-secret <client_id>',
  summary: "Replace a confidential client's secret (printed once; the old one stops working).",
  options: {},
  positionals: { min: 1, max: 1 },
  async run({ positionals, out, env }) {
    const rotated = await withDb({ env, out }, async (db) => {
      const result = await rotateClientSecret(db, positionals[0]!);
      await recordAuditEvent(db, { type: 'client.secret_rotated', actor: { kind: 'cli' }, target: { kind: 'client', id: result.client.clientId } });
      return result;
    });
    await announce(env, 'clients', (text) => out.warn(text));
    out.text(`New secret for ${rotated.client.clientId}:`);
    out.text(`client_secret: ${rotated.clientSecret}`);
    out.text('Store it now: it will not be shown again. The old secret no longer works.');
    out.json(rotated);
  },
};

/** The group's commands, in the order `gatehouse --help` lists them (cli/main.ts). */
export const commands: CommandGroup = {
  create: createClientCommand,
  list: listClientsCommand,
  update: updateClientCommand,
  delete: deleteClientCommand,
  revoke: revokeClientCommand,
  'rotate-secret': rotateClientSecretCommand,
};
