// What every admin route file shares: the context it is given and its documented error answers.
import Type, { type TSchema } from 'typebox';
import type { ClusterEvent } from '../../cluster/bus.ts';
import type { Config } from '../../config/schema.ts';
import type { Api } from '../../storage/apis.ts';
import type { Db } from '../../storage/database.ts';
import type { Transmitter } from '../../signals/transmitter.ts';
import { AuthErrorBody, ErrorBody } from '../schemas.ts';

export interface AdminContext {
  readonly db: Db;
  readonly config: Config;
  /** The admin API's own row (managed: read-only through the admin API). */
  readonly adminApi: Api;
  /** Tells this instance and the others that clients, APIs, users or keys changed. */
  readonly changed: (type: ClusterEvent['type']) => Promise<void>;
  /** Activates due key rotations and reloads the published keys now. */
  readonly maintainKeys: () => Promise<void>;
  /** Runs what ends a user's sessions, then sends logout tokens to their clients (Back-Channel Logout). */
  readonly endingSessions: <T>(userId: string, end: () => Promise<T>) => Promise<T>;
  /** The Shared Signals transmitter: polls, verification events, stream status events. */
  readonly signals: Transmitter;
}

const DESCRIPTIONS = {
  400: 'Invalid request: `invalid_request`, with `field` naming the input that is wrong.',
  404: 'No such object: `not_found`.',
  409: 'Conflict: `conflict` (it already exists, or its state does not allow this).',
} as const;

// What Swagger UI shows for each error answer, instead of `{"error": "string", …}`.
const EXAMPLES = {
  400: { error: 'invalid_request', message: 'username is required', field: 'username' },
  401: { error: 'invalid_token', error_description: 'The access token has expired' },
  403: { error: 'insufficient_scope', error_description: 'The credential lacks a scope this route requires', scope: 'admin:users:write' },
  404: { error: 'not_found', message: 'No such user' },
  409: { error: 'conflict', message: 'A user with this username already exists' },
} as const;

/**
 * Response schemas: the success ones given, plus 401/403 (every admin route requires a
 * credential and a scope, and may refuse on an object-level rule) and the listed error codes.
 */
export function responses(success: Record<number, TSchema>, ...errors: (keyof typeof DESCRIPTIONS)[]): Record<number, TSchema> {
  const all: Record<number, TSchema> = {
    ...success,
    401: Type.Object(AuthErrorBody.properties, {
      description: 'No credential (`WWW-Authenticate` says which are accepted), or an invalid one: `invalid_token`.',
      examples: [EXAMPLES[401]],
    }),
    403: Type.Object(AuthErrorBody.properties, {
      description: 'The credential lacks the scope (`insufficient_scope`) or kind the route requires, or an object-level rule refuses: `forbidden`.',
      examples: [EXAMPLES[403]],
    }),
  };
  for (const code of errors) all[code] = Type.Object(ErrorBody.properties, { description: DESCRIPTIONS[code], examples: [EXAMPLES[code]] });
  return all;
}

/** 204 No Content. */
export const NoContent = (description: string) => Type.Null({ description });
