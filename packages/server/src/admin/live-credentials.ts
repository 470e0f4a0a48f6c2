// JWT access tokens are verified locally by the SDK, so one issued before its user was disabled or
// its client revoked would keep admin access until it expires (15 minutes by default). The admin
// API is worth one lookup per request to close that: the token's user must still be enabled and
// its client not revoked. (API keys are introspected, which checks their owner already.)
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AuthError, toErrorResponse } from '@gatehouse/sdk';
import type { Db } from '../storage/database.ts';
import { API_KEY_HEADER, REALM } from './bootstrap.ts';

async function stillValid(db: Db, kind: 'user' | 'client', subject: string, clientId: string | undefined): Promise<boolean> {
  const client = clientId ?? (kind === 'client' ? subject : undefined);
  if (client !== undefined) {
    const row = await db.selectFrom('clients').select('revoked_at').where('id', '=', client).executeTakeFirst();
    if (!row || row.revoked_at !== null) return false;
  }
  if (kind === 'user') {
    const row = await db.selectFrom('users').select('disabled').where('id', '=', subject).executeTakeFirst();
    if (!row || row.disabled === 1) return false;
  }
  return true;
}

export function liveCredentialsHook(db: Db) {
  return async function refuseRevokedCredentials(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const principal = request.auth;
    if (principal === undefined || principal.kind === 'api_key') return;
    if (await stillValid(db, principal.kind, principal.subject, principal.clientId)) return;
    // RFC 6750 §3.1: a revoked token is an invalid token, with the same challenge as any other.
    const { status, headers, body } = toErrorResponse(new AuthError('invalid_token', 'The access token is no longer valid', { scheme: 'Bearer' }), {
      realm: REALM,
      bearer: true,
      apiKey: { header: API_KEY_HEADER },
    });
    await reply.code(status).headers(headers).send(body);
  };
}
