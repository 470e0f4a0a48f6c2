// The admin API, and nothing else: every page reads and writes through here with the bearer token.
// A refusal comes back as an ApiError naming the field when the API names one, so forms can show it
// next to that field.
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly field: string | undefined;
  constructor(status: number, code: string, message: string, field?: string) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

export interface Page<T> {
  readonly items: T[];
  readonly total: number;
  readonly limit: number;
  readonly offset: number;
}

export type Call = <T>(method: string, path: string, body?: unknown) => Promise<T>;

export function apiClient(token: string, onExpired: () => void): Call {
  return async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const response = await fetch(`/admin/api${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    if (response.status === 401) onExpired();
    const text = await response.text();
    const json = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    if (!response.ok) {
      const message = String(json.message ?? json.error_description ?? `The admin API answered ${response.status}.`);
      throw new ApiError(response.status, String(json.error ?? 'error'), message, typeof json.field === 'string' ? json.field : undefined);
    }
    return json as T;
  };
}

export const query = (params: Record<string, string | number | undefined>): string => {
  const entries = Object.entries(params).filter(([, v]) => v !== undefined && v !== '') as [string, string][];
  return entries.length ? `?${new URLSearchParams(entries.map(([k, v]) => [k, String(v)])).toString()}` : '';
};
