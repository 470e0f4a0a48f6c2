// A stream's lag: the events recorded for it and not yet delivered (push) or acknowledged (poll),
// counted as its receiver will see them, that is only the event types it asked for. One count for
// the admin API, the console and the CLI.
import type { Db } from '../storage/database.ts';
import { countEventsAfter, eventsAfter } from '../storage/security-events.ts';
import type { Stream } from '../storage/streams.ts';
import { isWanted } from './set.ts';

/** Past this many events behind, the lag is the count of all of them (an upper bound), not read one by one. */
const EXACT_UP_TO = 1000;

/** `latest`: the newest event's number (latestSeq), read once for a list of streams. */
export async function streamLag(db: Db, stream: Stream, latest: number): Promise<number> {
  if (stream.cursor >= latest) return 0;
  const behind = await countEventsAfter(db, stream.cursor, stream.id);
  if (behind > EXACT_UP_TO) return behind;
  const requested = new Set(stream.eventsRequested);
  return (await eventsAfter(db, stream.cursor, stream.id, behind)).filter((event) => isWanted(event, requested)).length;
}
