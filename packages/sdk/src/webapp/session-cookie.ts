/**
 * The session cookie: the session's tokens sealed (see sealed-cookie.ts) until the session's
 * absolute end, which refreshes never extend. Short claim names keep the cookie small.
 */
import type { AuthRequest } from '../credentials.ts';
import { clearCookie, readCookie, setCookie } from './cookies.ts';
import { TokenRefused, type SessionTokens, type WebAppContext } from './context.ts';
import { MAX_COOKIE_VALUE } from './sealed-cookie.ts';

export type OpenedSession =
  /** No session cookie. */
  | { readonly state: 'none' }
  /** A cookie that does not open (tampered, expired, retired secret, sent twice): to be cleared. */
  | { readonly state: 'invalid' }
  | { readonly state: 'open'; readonly tokens: SessionTokens; /** Session end, seconds since the epoch. */ readonly endsAt: number };

export async function openSession(context: WebAppContext, request: AuthRequest): Promise<OpenedSession> {
  const value = readCookie(request, context.options.cookies.session);
  if (value === undefined) return { state: 'none' };
  if (value === null) return { state: 'invalid' };
  const payload = await context.sealer.open('session', value);
  const tokens = payload === undefined ? undefined : toTokens(payload);
  if (tokens === undefined) return { state: 'invalid' };
  return { state: 'open', tokens, endsAt: payload!.exp! };
}

/**
 * The `Set-Cookie` value holding `tokens` until `endsAt` (seconds). Its Max-Age is counted from
 * `now` (seconds), read by the caller with `endsAt` or here before sealing: a clock read after the
 * await could cross a second and shorten the cookie by one.
 */
export async function sealSession(context: WebAppContext, tokens: SessionTokens, endsAt: number, now = Math.floor(context.options.now() / 1000)): Promise<string> {
  const { options, sealer } = context;
  const sealed = await sealer.seal(
    'session',
    { sub: tokens.sub, at: tokens.accessToken, ate: tokens.accessTokenExpiresAt, rt: tokens.refreshToken, idt: tokens.idToken, sid: tokens.sid, lt: tokens.signedInAt },
    endsAt,
  );
  if (sealed.length > MAX_COOKIE_VALUE) {
    // Browsers drop larger cookies silently, which would send the visitor round in circles.
    throw new TokenRefused(`the session cookie would be ${sealed.length} bytes: the tokens are too large to keep in a cookie`);
  }
  return setCookie(options.cookies.session, sealed, endsAt - now, options.secure);
}

export function clearSession(context: WebAppContext): string {
  return clearCookie(context.options.cookies.session, context.options.secure);
}

function toTokens(payload: Record<string, unknown>): SessionTokens | undefined {
  const { sub, at, ate, rt, idt, sid, lt } = payload;
  if (typeof sub !== 'string' || typeof at !== 'string' || typeof ate !== 'number' || typeof idt !== 'string') return undefined;
  if (rt !== undefined && typeof rt !== 'string') return undefined;
  if (sid !== undefined && typeof sid !== 'string') return undefined;
  // A cookie sealed before sign-in times were kept counts as the oldest session there is.
  const signedInAt = typeof lt === 'number' ? lt : 0;
  return { sub, accessToken: at, accessTokenExpiresAt: ate, refreshToken: rt, idToken: idt, sid, signedInAt };
}
