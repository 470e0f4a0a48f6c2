/**
 * @gatehouse/sdk/webapp — sign visitors of a server-rendered app in with Gatehouse: redirect to
 * the login page (authorization code + PKCE), callback, an encrypted HttpOnly session cookie,
 * refresh before expiry, RP-initiated logout, CSRF checks on unsafe methods. Framework-free
 * (Web APIs, oauth4webapi, jose); the adapters are `gatehouseWebApp` in `@gatehouse/sdk/fastify`
 * and `webApp` in `@gatehouse/sdk/express` and `@gatehouse/sdk/hono`.
 */
export { createWebApp } from './web-app.ts';
export type { WebApp, WebAppDescription, WebRequirement, ProtectOutcome } from './web-app.ts';
export type { WebAppOptions, WebAppPaths } from './options.ts';
export { WEBAPP_DEFAULTS } from './options.ts';
export type { WebSession } from './session.ts';
export { WebAppError, WEBAPP_ERRORS, toWebResponse, defaultErrorPage } from './errors.ts';
export type { WebAppErrorCode, WebAppResponse, ErrorPage } from './errors.ts';
