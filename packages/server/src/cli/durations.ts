// Durations on the command line: 90, 90s, 15m, 12h, 30d (seconds).
import { UsageError } from './command.ts';

const UNITS: Record<string, number> = { '': 1, s: 1, m: 60, h: 3600, d: 86400 };

export function parseDuration(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const match = /^(\d+)([smhd]?)$/.exec(value);
  if (!match) throw new UsageError(`--${name} must be a duration such as 90, 15m, 12h or 30d`);
  return Number(match[1]) * UNITS[match[2]!]!;
}
