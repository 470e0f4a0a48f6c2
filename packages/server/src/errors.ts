// The server's error vocabulary outside the OAuth protocol endpoints (those speak RFC 6749
// through oidc-provider). One registry: code, HTTP status, and whether the message may be
// shown to the caller. Anything not raised on purpose becomes `server_error`. docs/errors.md is
// generated from it (`npm run docs`).

export const ERRORS = {
  invalid_request: { status: 400, expose: true, title: 'The request is invalid.' },
  unauthorized: { status: 401, expose: true, title: 'Authentication is required.' },
  forbidden: { status: 403, expose: true, title: 'Not allowed.' },
  not_found: { status: 404, expose: true, title: 'Not found.' },
  conflict: { status: 409, expose: true, title: 'It already exists.' },
  payload_too_large: { status: 413, expose: true, title: 'The request body is too large.' },
  too_many_requests: { status: 429, expose: true, title: 'Too many attempts; try again later.' },
  server_error: { status: 500, expose: false, title: 'Something went wrong on our side.' },
  service_unavailable: { status: 503, expose: false, title: 'A dependency is unavailable; try again shortly.' },
} as const;

export type ErrorCode = keyof typeof ERRORS;

export class GatehouseError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** Which input field is wrong, when there is one. */
  readonly field: string | undefined;
  readonly retryAfter: number | undefined;

  constructor(code: ErrorCode, message?: string, options: { field?: string; retryAfter?: number; cause?: unknown } = {}) {
    super(message ?? ERRORS[code].title, { cause: options.cause });
    this.name = 'GatehouseError';
    this.code = code;
    this.status = ERRORS[code].status;
    this.field = options.field;
    this.retryAfter = options.retryAfter;
  }

  toJSON(): { error: ErrorCode; message: string; field?: string } {
    const message = ERRORS[this.code].expose ? this.message : ERRORS[this.code].title;
    return this.field ? { error: this.code, message, field: this.field } : { error: this.code, message };
  }
}

/** A unique constraint failed (SQLite SQLITE_CONSTRAINT_UNIQUE / PRIMARYKEY, PostgreSQL 23505). */
export function isUniqueViolation(error: unknown): boolean {
  const e = error as { code?: string; errcode?: number } | null;
  return e?.code === '23505' || e?.errcode === 2067 || e?.errcode === 1555;
}
