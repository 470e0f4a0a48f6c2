// The notes page's sentence when the items API refuses: built from the SDK's own 403 answer.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AuthError, toErrorResponse } from '@gatehouse/sdk';
import { refusalReason } from '../src/api-refusal.ts';

function sdkAnswer(error: AuthError): Response {
  const answer = toErrorResponse(error, { realm: 'items', bearer: true, apiKey: undefined });
  return new Response(answer.body, { status: answer.status, headers: answer.headers });
}

test('a 403 insufficient_scope names the missing scope and how to get it', async () => {
  const refused = sdkAnswer(new AuthError('insufficient_scope', 'the token lacks a required scope', { requiredScopes: ['items'], scheme: 'Bearer' }));
  const reason = await refusalReason(refused);
  assert.match(reason, /403: your account lacks the scope "items"/);
  assert.match(reason, /GATEHOUSE_REGISTRATION_ROLES/);
});

test('the scope is read from the challenge when the body says nothing', async () => {
  const answer = toErrorResponse(new AuthError('insufficient_scope', 'x', { requiredScopes: ['me items'], scheme: 'Bearer' }), { realm: 'items', bearer: true, apiKey: undefined });
  const reason = await refusalReason(new Response('', { status: 403, headers: answer.headers }));
  assert.match(reason, /lacks the scope "me items"/);
});

test('other refusals say only the status', async () => {
  assert.equal(await refusalReason(sdkAnswer(new AuthError('invalid_token', 'expired', { scheme: 'Bearer' }))), 'The items API answered 401.');
});
