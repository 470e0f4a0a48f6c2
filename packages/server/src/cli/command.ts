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
  /** A warning, on standard error (with --json too: the JSON on standard output stays clean). */
  warn(line: string): void;
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
  /** More, printed after the usage by --help (a file format, say). */
  readonly help?: string;
  readonly options: OptionSpec;
  /** How many positional arguments it takes. */
  readonly positionals?: { readonly min: number; readonly max: number };
  /** Resolves to the exit code when it is not 0 (a check that found problems, say). */
  run(context: CommandContext): Promise<void | number>;
}

/** A group's subcommands by name (`gatehouse users create`): what each group's module exports as `commands`. */
export type CommandGroup = Readonly<Record<string, Command>>;

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

/** A whole-number option (`--limit 20`); anything else is a usage error, not a database error. */
export function wholeNumber(values: Values, name: string, fallback: number): number {
  const value = values[name];
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !/^\d{1,9}$/.test(value)) throw new UsageError(`--${name} must be a whole number`);
  return Number(value);
}

/** --limit and --offset, for the list commands. */
export function page(values: Values): { limit: number; offset: number } {
  return { limit: wholeNumber(values, 'limit', 50), offset: wholeNumber(values, 'offset', 0) };
}

export function stringList(values: Values, name: string): string[] {
  const value = values[name];
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : [value]).flatMap((v) => String(v).split(',')).map((v) => v.trim()).filter(Boolean);
}
