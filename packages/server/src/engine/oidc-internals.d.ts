// oidc-provider's built-in grant handlers, imported so Gatehouse can wrap them (refresh-token
// reuse window, default client-credentials scopes, late code replays). Internal API, pinned by package-lock;
// see docs/adr/0002-wrapping-oidc-provider-grants.md.
declare module 'oidc-provider/lib/actions/grants/refresh_token.js' {
  export const handler: (provider: unknown, helpers: unknown, ctx: unknown) => Promise<void>;
  export const parameters: Set<string>;
}
declare module 'oidc-provider/lib/actions/grants/client_credentials.js' {
  export const handler: (provider: unknown, helpers: unknown, ctx: unknown) => Promise<void>;
  export const parameters: Set<string>;
}
declare module 'oidc-provider/lib/helpers/grants.js' {
  const helpers: Record<string, (provider: unknown, ...args: unknown[]) => unknown>;
  export = helpers;
}
declare module 'oidc-provider/lib/actions/grants/authorization_code.js' {
  export const handler: (provider: unknown, helpers: unknown, ctx: unknown) => Promise<void>;
  export const parameters: Set<string>;
}
