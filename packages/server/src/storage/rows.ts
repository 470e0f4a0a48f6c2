// Small conversions between rows and API objects.

export const now = (): number => Date.now();

export const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export function jsonArray(text: string): string[] {
  const value = JSON.parse(text) as unknown;
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

export interface Page<T> {
  readonly items: T[];
  readonly total: number;
  readonly limit: number;
  readonly offset: number;
}

export interface PageRequest {
  readonly limit?: number;
  readonly offset?: number;
}

export function pageBounds(request: PageRequest = {}): { limit: number; offset: number } {
  // NaN (a limit of "abc" from a query string or the CLI) would reach the database as a bind value.
  const whole = (value: number | undefined, fallback: number) => (Number.isFinite(value) ? Math.trunc(value!) : fallback);
  const limit = Math.min(Math.max(whole(request.limit, 50), 1), 200);
  const offset = Math.max(whole(request.offset, 0), 0);
  return { limit, offset };
}
