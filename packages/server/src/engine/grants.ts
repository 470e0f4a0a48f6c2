// Grants: what a user allowed a client. First-party clients need no consent page: their grant
// is computed from the user's roles at every authorization. Third-party clients get a consent
// page (pages/routes.ts, through engine/interactions.ts) that records the same decision after the user agrees.
import type { Grant, KoaContextWithOIDC, Provider } from 'oidc-provider';
import type { Db } from '../storage/database.ts';
import { grantedScopes } from '../storage/users.ts';
import { OIDC_SCOPES, decideUserScopes } from './scope-policy.ts';

type GrantPayload = Grant & {
  resources?: Record<string, string>;
  rejected?: { resources?: Record<string, string>; openid?: { scope?: string; claims?: string[] } };
};

/** Replaces the scopes a grant holds for one API (oidc-provider's Grant only ever adds them). */
export function setResourceScopes(grant: Grant, indicator: string, granted: readonly string[], rejected: readonly string[]): void {
  const g = grant as GrantPayload;
  g.resources = { ...g.resources, [indicator]: granted.join(' ') };
  g.rejected = { ...g.rejected, resources: { ...g.rejected?.resources, [indicator]: rejected.join(' ') } };
}

/**
 * Fills a grant with exactly what the policy allows for this authorization request:
 * every requested OpenID scope and claim, and per API the requested scopes the user's roles grant.
 */
export async function applyUserPolicy(db: Db, ctx: KoaContextWithOIDC, grant: Grant): Promise<{ granted: Record<string, string[]>; rejected: Record<string, string[]> }> {
  const { oidc } = ctx;
  const roleScopes = await grantedScopes(db, grant.accountId!);
  const oidcScopes = [...oidc.requestParamOIDCScopes].filter((s) => OIDC_SCOPES.has(s));
  if (oidcScopes.length > 0) grant.addOIDCScope(oidcScopes.join(' '));
  if (oidc.requestParamClaims.size > 0) grant.addOIDCClaims([...oidc.requestParamClaims]);
  const granted: Record<string, string[]> = {};
  const rejected: Record<string, string[]> = {};
  for (const [indicator, resourceServer] of Object.entries(oidc.resourceServers ?? {})) {
    const decision = decideUserScopes(oidc.requestParamScopes, resourceServer.scopes, roleScopes);
    setResourceScopes(grant, indicator, decision.granted, decision.rejected);
    granted[indicator] = decision.granted;
    rejected[indicator] = decision.rejected;
  }
  return { granted, rejected };
}

/** The first party clients' grant, recomputed from the user's current roles every time. */
export function createLoadExistingGrant(db: Db) {
  return async (ctx: KoaContextWithOIDC): Promise<Grant | undefined> => {
    const { oidc } = ctx;
    const client = oidc.client!;
    const session = oidc.session!;
    const provider: Provider = oidc.provider;
    const grantId = oidc.result?.consent?.grantId ?? session.grantIdFor(client.clientId);
    let grant = grantId ? await provider.Grant.find(grantId) : undefined;
    if (grant && grant.accountId !== session.accountId) grant = undefined;
    if (client.first_party !== true) return grant;
    grant ??= new provider.Grant({ clientId: client.clientId, accountId: session.accountId! });
    await applyUserPolicy(db, ctx, grant);
    await grant.save();
    return grant;
  };
}

/**
 * Drops from a grant the API scopes the user's roles no longer grant, so a refresh never
 * outlives a role change. Returns false when nothing changed.
 */
export async function reconcileGrantWithRoles(db: Db, grant: Grant, known?: { readonly roleScopes: ReadonlySet<string> }): Promise<boolean> {
  const g = grant as GrantPayload;
  if (!g.resources || !grant.accountId) return false;
  // `known`: the scopes the account's roles grant, read in the same transaction.
  const roleScopes = known?.roleScopes ?? (await grantedScopes(db, grant.accountId));
  let changed = false;
  for (const [indicator, scope] of Object.entries(g.resources)) {
    const current = scope.split(' ').filter(Boolean);
    const kept = current.filter((s) => roleScopes.has(s));
    if (kept.length !== current.length) {
      const previouslyRejected = g.rejected?.resources?.[indicator]?.split(' ').filter(Boolean) ?? [];
      setResourceScopes(grant, indicator, kept, [...new Set([...previouslyRejected, ...current.filter((s) => !roleScopes.has(s))])]);
      changed = true;
    }
  }
  return changed;
}
