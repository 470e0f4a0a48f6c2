// Protocol endpoints while a dependency is down: 503 with Retry-After, not oidc-provider's 500.
//
// RFC 6749 has no error code for this at the token, introspection and revocation endpoints:
// `temporarily_unavailable` is defined for the authorization endpoint only (§4.1.2.1), where the
// answer is a redirect and no status code can say it; §5.2's list for the token endpoint has
// nothing of the kind. So the status says it (RFC 9110 §15.6.4: 503 with Retry-After) and the
// body keeps `server_error`, the code oidc-provider already answers every unexpected failure
// with, so clients that handle one handle the other (docs/adr/0007-outages.md).
import type { KoaContextWithOIDC, Provider } from 'oidc-provider';
import { RETRY_AFTER_SECONDS, unavailableDependency } from '../unavailable.ts';

export const UNAVAILABLE_BODY = {
  error: 'server_error',
  error_description: `temporarily unavailable; retry after ${RETRY_AFTER_SECONDS} seconds`,
} as const;

/** Turns the answer being sent into a 503, when the error is a dependency being down. */
export function answerUnavailable(ctx: KoaContextWithOIDC, error: unknown): boolean {
  if (unavailableDependency(error) === undefined) return false;
  ctx.status = 503;
  ctx.set('Retry-After', String(RETRY_AFTER_SECONDS));
  ctx.set('Cache-Control', 'no-store');
  // A JSON answer says so; an HTML error page (renderError) keeps its "try again" text.
  const body = ctx.body as { error?: unknown } | undefined;
  if (body !== null && typeof body === 'object' && !Buffer.isBuffer(body) && body.error === 'server_error') ctx.body = { ...UNAVAILABLE_BODY };
  return true;
}

/**
 * oidc-provider renders the error, then emits `server_error` with it, before the answer leaves:
 * the listener can still change the status and the body.
 */
export function answerUnavailableFromProvider(provider: Provider): void {
  provider.on('server_error', (ctx: KoaContextWithOIDC, error: unknown) => void answerUnavailable(ctx, error));
}
