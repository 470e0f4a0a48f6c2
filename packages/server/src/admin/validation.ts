// Request validation for the admin API, from the TypeBox schemas that also document it, and the
// one mapping of every request failure to the error registry's JSON.
//
// TypeBox's own compiler, not Fastify's default Ajv: that one removes unknown properties and
// coerces body types silently (`"disabled": "yes"` would pass as true, `"disable": true` would
// vanish). Here a body must be exactly what the schema says; only query strings and path
// parameters, which are text by nature, are converted (limit=10 → 10, disabled=true → true).
import type { FastifyError, FastifySchemaCompiler } from 'fastify';
import type { TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import { GatehouseError } from '../errors.ts';
import { RETRY_AFTER_SECONDS, unavailableDependency } from '../unavailable.ts';

/** An error as TypeBox (and Ajv) describe it. */
interface Issue {
  readonly keyword: string;
  readonly instancePath: string;
  readonly params: Record<string, unknown>;
  readonly message: string;
}

/**
 * Query strings and path parameters are flat objects of strings: a property the schema types as
 * an integer or a boolean is converted when it is written as one, and left for the check to
 * refuse otherwise. (Read from the JSON Schema itself, so it works on whatever copy Fastify hands
 * over.)
 */
function convertText(schema: TSchema, data: unknown): unknown {
  if (typeof data !== 'object' || data === null) return data;
  const properties = ((schema as { properties?: Record<string, { type?: unknown }> }).properties ?? {});
  const out: Record<string, unknown> = { ...(data as Record<string, unknown>) };
  for (const [name, value] of Object.entries(out)) {
    const type = properties[name]?.type;
    if (typeof value !== 'string') continue;
    if (type === 'integer' && /^-?\d{1,15}$/.test(value)) out[name] = Number(value);
    else if (type === 'boolean' && (value === 'true' || value === 'false')) out[name] = value === 'true';
  }
  return out;
}

export const validatorCompiler: FastifySchemaCompiler<TSchema> = ({ schema, httpPart }) => {
  const validator = Compile(schema);
  const convert = httpPart === 'querystring' || httpPart === 'params';
  return (data: unknown) => {
    const value = convert ? convertText(schema, data) : data;
    if (validator.Check(value)) return { value };
    return { error: [...validator.Errors(value)] as unknown as Error };
  };
};

const PART_NAMES: Record<string, string> = { body: 'body', querystring: 'query', params: 'path', headers: 'headers' };

/** `/owner/kind` → `owner.kind`, `/roles/1` → `roles[1]`. */
function fieldName(instancePath: string, extra?: string): string | undefined {
  const segments = instancePath.split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (extra !== undefined) segments.push(extra);
  let name = '';
  for (const segment of segments) name += /^\d+$/.test(segment) ? `[${segment}]` : name === '' ? segment : `.${segment}`;
  return name === '' ? undefined : name;
}

/** The first problem, said in words that name the field and never repeat the value. */
export function validationFailure(error: FastifyError): GatehouseError {
  const issues = (error.validation ?? []) as unknown as Issue[];
  const part = PART_NAMES[error.validationContext ?? 'body'] ?? 'request';
  const first = issues[0];
  if (first === undefined) return new GatehouseError('invalid_request', `the ${part} is invalid`);
  if (first.keyword === 'required') {
    const missing = (first.params.requiredProperties as string[] | undefined)?.[0] ?? (first.params.missingProperty as string | undefined);
    const field = fieldName(first.instancePath, missing);
    return new GatehouseError('invalid_request', `${field ?? part} is required`, field === undefined ? {} : { field });
  }
  if (first.keyword === 'additionalProperties' || (first.keyword === 'boolean' && first.instancePath !== '')) {
    const extra = first.keyword === 'additionalProperties' ? (first.params.additionalProperties as string[] | undefined)?.[0] : undefined;
    const field = fieldName(first.instancePath, extra);
    return new GatehouseError('invalid_request', `${field ?? part} is not a known field`, field === undefined ? {} : { field });
  }
  if (first.keyword === 'minProperties' && first.instancePath === '') {
    return new GatehouseError('invalid_request', `the ${part} names nothing to change`);
  }
  const field = fieldName(first.instancePath);
  // A union (nullable values, enums written as unions) fails on each branch: say what would do.
  const samePath = issues.filter((issue) => issue.instancePath === first.instancePath);
  let problem = first.message;
  if (samePath.some((issue) => issue.keyword === 'anyOf')) {
    const options = samePath.flatMap((issue) =>
      issue.keyword === 'type' ? [String(issue.params.type)] : issue.keyword === 'const' ? [JSON.stringify(issue.params.allowedValue)] : [],
    );
    problem = options.length > 0 ? `must be ${[...new Set(options)].join(' or ')}` : 'is not valid';
  }
  if (field === undefined && first.keyword === 'type') return new GatehouseError('invalid_request', `the ${part} must be a JSON ${String(first.params.type)}`);
  return new GatehouseError('invalid_request', `${field ?? `the ${part}`} ${problem}`, field === undefined ? {} : { field });
}

/**
 * Every failure as the error registry's JSON. Raised on purpose: as it is. Fastify's own request
 * errors: a fixed message per code, never the parser's (Node's JSON.parse quotes the body, which
 * may hold a password). Anything else: server_error, and the caller logs the cause.
 */
export function toAdminError(error: unknown): GatehouseError {
  if (error instanceof GatehouseError) return error;
  if (unavailableDependency(error)) return new GatehouseError('service_unavailable', undefined, { retryAfter: RETRY_AFTER_SECONDS, cause: error });
  const e = error as Partial<FastifyError>;
  if (Array.isArray(e.validation)) return validationFailure(e as FastifyError);
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new GatehouseError('payload_too_large');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new GatehouseError('invalid_request', 'the body must be JSON (Content-Type: application/json)', { field: 'content-type' });
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new GatehouseError('invalid_request', 'the body is empty: send a JSON object, or no Content-Type', { field: 'body' });
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new GatehouseError('invalid_request', 'the body is not valid JSON', { field: 'body' });
  }
  const status = e.statusCode;
  if (status === 413) return new GatehouseError('payload_too_large');
  if (status !== undefined && status >= 400 && status < 500) return new GatehouseError('invalid_request');
  return new GatehouseError('server_error', undefined, { cause: error });
}
