// gatehouse keys list | rotate
import { recordAuditEvent } from '../../storage/audit.ts';
import { listSigningKeys, scheduleKeyRotation, SIGNING_ALGS, type SigningAlg } from '../../storage/keys.ts';
import { loadConfig } from '../../config/load.ts';
import { parseDuration } from '../durations.ts';
import { optionalString, UsageError, type Command, type CommandGroup } from '../command.ts';
import { announce, readDb, withDb } from '../storage.ts';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export const listKeysCommand: Command = {
  usage: 'gatehouse keys list',
  summary: 'List signing keys (kid, algorithm, state, dates; never private parts).',
  options: {},
  async run({ out, env }) {
    const keys = await readDb({ env, out }, listSigningKeys);
    const items = keys.map((k) => ({ kid: k.kid, alg: k.alg, state: k.state, created: iso(k.createdAt), activates: iso(k.activatesAt), activated: iso(k.activatedAt), retired: iso(k.retiredAt) }));
    out.table(items, ['kid', 'alg', 'state', 'activates', 'activated', 'retired']);
    out.json({ keys: items });
  },
};

export const rotateKeysCommand: Command = {
  usage: 'gatehouse keys rotate [--alg ES256|RS256] [--activate-in <duration>]   (default: both algorithms, GATEHOUSE_KEY_ROTATION_DELAY)',
  summary: 'Rotate signing keys: the new key is published now and signs from --activate-in; the old one stays published until its tokens expire.',
  options: { alg: { type: 'string' }, 'activate-in': { type: 'string' } },
  async run({ values, out, env }) {
    const alg = optionalString(values, 'alg');
    if (alg !== undefined && !(SIGNING_ALGS as readonly string[]).includes(alg)) throw new UsageError(`--alg must be one of ${SIGNING_ALGS.join(', ')}`);
    const delay = parseDuration(optionalString(values, 'activate-in'), 'activate-in') ?? loadConfig(env).config.keyRotationDelay;
    const activatesAt = Date.now() + delay * 1000;
    const scheduled = await withDb({ env, out }, async (db) => {
      const keys = [];
      for (const each of alg === undefined ? SIGNING_ALGS : [alg as SigningAlg]) {
        const key = await scheduleKeyRotation(db, each, activatesAt);
        await recordAuditEvent(db, { type: 'signing_key.rotation_scheduled', actor: { kind: 'cli' }, target: { kind: 'signing_key', id: key.kid }, details: { alg: each, activates_at: iso(activatesAt) } });
        keys.push(key);
      }
      return keys;
    });
    await announce(env, 'keys', (text) => out.warn(text));
    for (const key of scheduled) out.text(`Scheduled ${key.alg} key ${key.kid}: published now, signing from ${iso(activatesAt)}`);
    out.text('Running servers pick it up within GATEHOUSE_KEY_CHECK_INTERVAL.');
    out.json({ scheduled: scheduled.map((k) => ({ kid: k.kid, alg: k.alg, activatesAt: iso(k.activatesAt) })) });
  },
};

/** The group's commands, in the order `gatehouse --help` lists them (cli/main.ts). */
export const commands: CommandGroup = {
  list: listKeysCommand,
  rotate: rotateKeysCommand,
};
