// gatehouse clients create | list | delete
import { recordAuditEvent } from '../../storage/audit.ts';
import { createClient, deleteClient, listClients, revokeClient, rotateClientSecret } from '../../storage/clients.ts';
import { optionalString, page, requireString, stringList, type Command } from '../command.ts';
import { announce, withDb } from '../storage.ts';

export const createClientCommand: Command = {
  usage: [
    'gatehouse clients create --name <n> --grants <authorization_code,refresh_token,client_credentials,password>',
    '    [--public] [--id <client_id>] [--redirect-uri <uri> …] [--post-logout-redirect-uri <uri> …]',
    '    [--scopes "<s1> <s2>"] [--cors-origin <origin> …] [--third-party] [--auth-method client_secret_basic|client_secret_post]',
  ].join('\n'),
  summary: 'Register a client application. Confidential clients get a secret, shown once.',
  options: {
    name: { type: 'string' },
    id: { type: 'string' },
    public: { type: 'boolean' },
    grants: { type: 'string', multiple: true },
    'redirect-uri': { type: 'string', multiple: true },
    'post-logout-redirect-uri': { type: 'string', multiple: true },
    scopes: { type: 'string' },
    'cors-origin': { type: 'string', multiple: true },
    'third-party': { type: 'boolean' },
    'auth-method': { type: 'string' },
  },
  async run({ values, out, env }) {
    // Arguments are checked before the database is opened: a usage error touches nothing.
    const input = {
      clientId: optionalString(values, 'id'),
      name: requireString(values, 'name'),
      public: values.public === true,
      grantTypes: stringList(values, 'grants'),
      redirectUris: stringList(values, 'redirect-uri'),
      postLogoutRedirectUris: stringList(values, 'post-logout-redirect-uri'),
      scopes: optionalString(values, 'scopes') ?? '',
      corsOrigins: stringList(values, 'cors-origin'),
      firstParty: values['third-party'] !== true,
      tokenEndpointAuthMethod: optionalString(values, 'auth-method'),
    };
    requireString({ grants: input.grantTypes.join(',') }, 'grants');
    const created = await withDb(env, (db) => createClient(db, input));
    out.text(`Created ${created.client.type} client ${created.client.name}`);
    out.text(`client_id:     ${created.client.clientId}`);
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
    const found = await withDb(env, (db) => listClients(db, bounds));
    out.table(
      found.items.map((c) => ({ client_id: c.clientId, name: c.name, type: c.type, grants: c.grantTypes, scopes: c.scopes })),
      ['client_id', 'name', 'type', 'grants', 'scopes'],
    );
    out.json(found);
  },
};

export const deleteClientCommand: Command = {
  usage: 'gatehouse clients delete <client_id>',
  summary: 'Delete a client and everything issued to it.',
  options: {},
  positionals: { min: 1, max: 1 },
  async run({ positionals, out, env }) {
    await withDb(env, (db) => deleteClient(db, positionals[0]!));
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
    const client = await withDb(env, async (db) => {
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
    const rotated = await withDb(env, async (db) => {
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
