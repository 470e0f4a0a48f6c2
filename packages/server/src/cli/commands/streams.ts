// gatehouse streams: the Shared Signals streams of the resource servers (docs/adr/0016-shared-signals.md),
// as operators see them: list with delivery state and lag, show one, pause, resume, delete.
import { streamLag } from '../../signals/lag.ts';
import { latestSeq } from '../../storage/security-events.ts';
import { deleteStream, listStreams, requireStream, setStreamStatus, type Stream } from '../../storage/streams.ts';
import type { Db } from '../../storage/database.ts';
import type { Command, CommandGroup } from '../command.ts';
import { readDb, withDb } from '../storage.ts';

async function withLag(db: Db, streams: readonly Stream[]) {
  const latest = await latestSeq(db);
  return Promise.all(streams.map(async (stream) => ({ ...stream, pending: await streamLag(db, stream, latest) })));
}

const row = (stream: Stream & { pending: number }) => ({
  id: stream.id,
  client: stream.clientId,
  delivery: stream.deliveryMethod === 'push' ? `push ${stream.endpointUrl}` : 'poll',
  status: stream.status,
  pending: String(stream.pending),
  'last delivery': stream.lastDeliveryAt ?? '-',
  failures: String(stream.failures),
  'last error': stream.lastError ?? '-',
});

export const listStreamsCommand: Command = {
  usage: 'gatehouse streams list [--limit <n>] [--offset <n>]',
  summary: 'List Shared Signals streams: receiver, delivery, status, events pending (the lag), failures.',
  options: { limit: { type: 'string' }, offset: { type: 'string' } },
  async run({ values, out, env }) {
    const { page, items } = await readDb({ env, out }, async (db) => {
      const page = await listStreams(db, { limit: Number(values.limit ?? 50), offset: Number(values.offset ?? 0) });
      return { page, items: await withLag(db, page.items) };
    });
    out.table(items.map(row), ['id', 'client', 'delivery', 'status', 'pending', 'last delivery', 'failures', 'last error']);
    out.json({ ...page, items });
  },
};

export const showStreamCommand: Command = {
  usage: 'gatehouse streams show <id>',
  summary: 'Show one stream and how its delivery goes.',
  options: {},
  positionals: { min: 1, max: 1 },
  async run({ positionals, out, env }) {
    const [stream] = await readDb({ env, out }, async (db) => withLag(db, [await requireStream(db, positionals[0]!)]));
    out.table([row(stream!)], ['id', 'client', 'delivery', 'status', 'pending', 'last delivery', 'failures', 'last error']);
    out.json({ stream });
  },
};

function statusCommand(status: 'paused' | 'enabled' | 'disabled', summary: string): Command {
  const verb = status === 'paused' ? 'pause' : status === 'enabled' ? 'resume' : 'disable';
  return {
    usage: `gatehouse streams ${verb} <id> [--reason <text>]`,
    summary,
    options: { reason: { type: 'string' } },
    positionals: { min: 1, max: 1 },
    async run({ positionals, values, out, env }) {
      const reason = typeof values.reason === 'string' ? values.reason : null;
      const stream = await withDb({ env, out }, (db) => setStreamStatus(db, positionals[0]!, status, reason));
      out.text(`Stream ${stream.id} is ${stream.status}`);
      out.json({ stream });
    },
  };
}

export const pauseStreamCommand = statusCommand('paused', 'Pause a stream: its events are kept and delivered when it resumes.');
export const resumeStreamCommand = statusCommand('enabled', 'Resume (enable) a stream.');
export const disableStreamCommand = statusCommand('disabled', 'Disable a stream: events recorded meanwhile are not delivered to it.');

export const deleteStreamCommand: Command = {
  usage: 'gatehouse streams delete <id>',
  summary: 'Delete a stream (its receiver makes a new one when it starts again).',
  options: {},
  positionals: { min: 1, max: 1 },
  async run({ positionals, out, env }) {
    await withDb({ env, out }, (db) => deleteStream(db, positionals[0]!));
    out.text(`Deleted stream ${positionals[0]}`);
    out.json({ deleted: positionals[0] });
  },
};

/** The group's commands, in the order `gatehouse --help` lists them (cli/main.ts). */
export const commands: CommandGroup = {
  list: listStreamsCommand,
  show: showStreamCommand,
  pause: pauseStreamCommand,
  resume: resumeStreamCommand,
  disable: disableStreamCommand,
  delete: deleteStreamCommand,
};
