// The shape every CLI command has, and the errors the CLI turns into exit codes.
import type { ParseArgsConfig } from 'node:util';

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;
export type Values = Record<string, string | boolean | string[] | boolean[] | undefined>;

export interface Output {
  /** Human-readable lines (not printed with --json). */
  text(line: string): void;
  /** The one JSON object printed with --json. */
  json(value: unknown): void;
  table(rows: Record<string, unknown>[], columns: string[]): void;
}

export interface CommandContext {
  readonly values: Values;
  readonly positionals: string[];
  readonly out: Output;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly stdin: NodeJS.ReadableStream & { isTTY?: boolean };
}

export interface Command {
  readonly usage: string;
  readonly summary: string;
  readonly options: OptionSpec;
  /** How many positional arguments it takes. */
  readonly positionals?: { readonly min: number; readonly max: number };
  run(context: CommandContext): Promise<void>;
}

/** Wrong arguments: print the usage and exit 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export function requireString(values: Values, name: string): string {
  const value = values[name];
  if (typeof value !== 'string' || value === '') throw new UsageError(`--${name} is required`);
  return value;
}

export function optionalString(values: Values, name: string): string | undefined {
  const value = values[name];
  return typeof value === 'string' ? value : undefined;
}

export function stringList(values: Values, name: string): string[] {
  const value = values[name];
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : [value]).flatMap((v) => String(v).split(',')).map((v) => v.trim()).filter(Boolean);
}
