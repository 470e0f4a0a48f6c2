// Console output: readable text by default, one JSON object with --json.
import type { Output } from './command.ts';

function cell(value: unknown): string {
  if (value === null || value === undefined) return '-';
  if (Array.isArray(value)) return value.length ? value.join(' ') : '-';
  return String(value);
}

export function createOutput(json: boolean, write: (text: string) => void, writeError: (text: string) => void): Output & { flush(): void } {
  let payload: unknown;
  return {
    text(line) {
      if (!json) write(`${line}\n`);
    },
    json(value) {
      payload = value;
    },
    table(rows, columns) {
      if (json) return;
      if (rows.length === 0) {
        write('(none)\n');
        return;
      }
      const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
      const line = (values: string[]) => `${values.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd()}\n`;
      write(line(columns.map((c) => c.toUpperCase())));
      for (const row of rows) write(line(columns.map((c) => cell(row[c]))));
    },
    warn(line) {
      writeError(`warning: ${line}\n`);
    },
    flush() {
      if (json) write(`${JSON.stringify(payload ?? {}, null, 2)}\n`);
    },
  };
}
