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
  const limit = Math.min(Math.max(Math.trunc(request.limit ?? 50), 1), 200);
  const offset = Math.max(Math.trunc(request.offset ?? 0), 0);
  return { limit, offset };
}
