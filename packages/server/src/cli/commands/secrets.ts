// gatehouse secrets reencrypt: the last step of rotating the secret key (docs/security.md).
import { recordAuditEvent } from '../../storage/audit.ts';
import { reencryptSecrets } from '../../storage/secrets-at-rest.ts';
import type { Command, CommandGroup } from '../command.ts';
import { withDb } from '../storage.ts';

export const reencryptSecretsCommand: Command = {
  usage: 'gatehouse secrets reencrypt   (GATEHOUSE_SECRET_KEY: the new key; GATEHOUSE_SECRET_KEY_PREVIOUS: the old ones)',
  summary: 'Re-encrypt every secret in the database under the current GATEHOUSE_SECRET_KEY, in one transaction.',
  options: {},
  async run({ out, env }) {
    const result = await withDb({ env, out }, async (db) => {
      const done = await reencryptSecrets(db);
      await recordAuditEvent(db, { type: 'secrets.reencrypted', actor: { kind: 'cli' }, details: { key_id: done.keyId, reencrypted: Object.values(done.reencrypted).reduce((a, b) => a + b, 0), from: Object.keys(done.reencrypted), unchanged: done.unchanged } });
      return done;
    });
    const moved = Object.entries(result.reencrypted);
    const total = moved.reduce((sum, [, n]) => sum + n, 0);
    const from = moved.map(([source, n]) => (source === 'unencrypted' ? `${n} unencrypted` : `${n} under key ${source}`)).join(', ');
    out.text(
      total === 0
        ? `Nothing to do: all ${result.unchanged} secret(s) are encrypted under key ${result.keyId}.`
        : `Re-encrypted ${total} secret(s) under key ${result.keyId} (${from}); ${result.unchanged} already were.`,
    );
    if (total > 0) out.text('Keys that `gatehouse doctor` no longer reports can now be removed from GATEHOUSE_SECRET_KEY_PREVIOUS.');
    out.json(result);
  },
};

/** The group's commands, in the order `gatehouse --help` lists them (cli/main.ts). */
export const commands: CommandGroup = {
  reencrypt: reencryptSecretsCommand,
};
