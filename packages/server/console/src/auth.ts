// Signing in: authorization code + PKCE (RFC 7636, S256) as the built-in public client. The access
// token is kept in memory only (never in storage a script could read later); a reload signs in
// again, which the login session answers at once.
export interface Settings {
  readonly issuer: string;
  readonly clientId: string;
  readonly adminApi: string;
  readonly brand: string;
  readonly logo: string;
  readonly scopes: readonly string[];
}

export interface Session {
  readonly accessToken: string;
  readonly scopes: ReadonlySet<string>;
  readonly expiresAt: number;
}

const PENDING = 'gatehouse-console-pending';
const CALLBACK = '/admin/callback';

export function readSettings(): Settings {
  const data = document.body.dataset;
  return { issuer: data.issuer!, clientId: data.clientId!, adminApi: data.adminApi!, brand: data.brand ?? 'Gatehouse', logo: data.logo ?? '', scopes: (data.scopes ?? '').split(' ').filter(Boolean) };
}

function randomString(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return base64url(bytes);
}

function base64url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** Sends the browser to the login page; the hash (the page the operator was on) comes back after. */
export async function signIn(settings: Settings): Promise<never> {
  const verifier = randomString();
  const state = randomString();
  const challenge = base64url(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier))));
  // sessionStorage: this tab only, gone when it closes; it holds a one-time verifier, never a token.
  sessionStorage.setItem(PENDING, JSON.stringify({ verifier, state, hash: location.hash }));
  const url = new URL('/authorize', settings.issuer);
  url.search = new URLSearchParams({
    client_id: settings.clientId,
    response_type: 'code',
    redirect_uri: settings.issuer + CALLBACK,
    // Every admin scope: the token carries those the user's roles grant (the API answers 403 to the rest).
    scope: ['openid', ...settings.scopes].join(' '),
    resource: settings.adminApi,
    state,
    code_challenge: challenge,
    code_challenge_method: 'S256',
  }).toString();
  location.assign(url.href);
  return new Promise<never>(() => undefined);
}

/** On the callback page: redeems the code; undefined on any other page. */
export async function completeSignIn(settings: Settings): Promise<Session | undefined> {
  if (location.pathname !== CALLBACK) return undefined;
  const params = new URLSearchParams(location.search);
  const pending = JSON.parse(sessionStorage.getItem(PENDING) ?? 'null') as { verifier: string; state: string; hash: string } | null;
  sessionStorage.removeItem(PENDING);
  history.replaceState(null, '', `/admin${pending?.hash ?? ''}`);
  if (params.get('error')) throw new Error(`Sign-in refused: ${params.get('error_description') ?? params.get('error')}`);
  if (!pending || params.get('state') !== pending.state) throw new Error('This sign-in was not started here; please sign in again.');
  const response = await fetch('/token', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code: params.get('code') ?? '',
      redirect_uri: settings.issuer + CALLBACK,
      client_id: settings.clientId,
      code_verifier: pending.verifier,
    }),
  });
  const body = (await response.json()) as { access_token?: string; scope?: string; expires_in?: number; error_description?: string };
  if (!response.ok || !body.access_token) throw new Error(`Sign-in failed: ${body.error_description ?? response.status}`);
  return {
    accessToken: body.access_token,
    scopes: new Set((body.scope ?? '').split(' ').filter(Boolean)),
    expiresAt: Date.now() + (body.expires_in ?? 300) * 1000,
  };
}

export function signOutUrl(settings: Settings): string {
  const url = new URL('/logout', settings.issuer);
  url.search = new URLSearchParams({ client_id: settings.clientId, post_logout_redirect_uri: `${settings.issuer}/admin` }).toString();
  return url.href;
}
