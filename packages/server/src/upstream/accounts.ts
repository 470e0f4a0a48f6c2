// Which local user an upstream sign-in is (docs/adr/0017-upstream-identity-providers.md):
// - an upstream account linked before: its user;
// - else, when the provider says the email is verified and a local user has that email: nobody
//   yet. Linking needs that user to prove control of the local account (its password): an email
//   alone never links, or whoever controls a provider's email field would take the account;
// - else a new user, linked: a username derived from the upstream one (made unique), the email
//   only if verified, roles from the provider's settings and its role map.
import { GatehouseError, isUniqueViolation } from '../errors.ts';
import type { Db } from '../storage/database.ts';
import { atomically } from '../storage/scope.ts';
import { findLinkedIdentity, linkIdentity, recordIdentityUse, type UpstreamProvider } from '../storage/upstream.ts';
import { createUser, findUser, findUserByEmail } from '../storage/users.ts';
import type { UpstreamAccount } from './client.ts';

export type UpstreamUser =
  | { readonly kind: 'linked'; readonly userId: string }
  | { readonly kind: 'created'; readonly userId: string; readonly username: string }
  | { readonly kind: 'link_required'; readonly userId: string; readonly username: string; readonly email: string };

export async function upstreamUser(db: Db, provider: UpstreamProvider, account: UpstreamAccount): Promise<UpstreamUser> {
  const linked = await findLinkedIdentity(db, provider.id, account.subject);
  if (linked) {
    await recordIdentityUse(db, linked.id);
    return { kind: 'linked', userId: linked.userId };
  }
  if (account.verifiedEmail !== undefined) {
    const existing = await findUserByEmail(db, account.verifiedEmail);
    if (existing) return { kind: 'link_required', userId: existing.id, username: existing.username, email: account.verifiedEmail };
  }
  const roles = [...new Set([...provider.roles, ...mappedRoles(provider, account)])];
  for (const username of usernameCandidates(provider, account)) {
    if (await findUser(db, username)) continue;
    try {
      const user = await atomically(db, async () => {
        const created = await createUser(db, {
          username,
          email: account.verifiedEmail,
          emailVerified: account.verifiedEmail !== undefined,
          roles,
        });
        await linkIdentity(db, { providerId: provider.id, subject: account.subject, userId: created.id, email: account.verifiedEmail ?? null });
        return created;
      });
      return { kind: 'created', userId: user.id, username: user.username };
    } catch (error) {
      // Taken meanwhile (the username, or this upstream account by a sign-in at the same moment).
      if (error instanceof GatehouseError && error.code === 'conflict') {
        const now = await findLinkedIdentity(db, provider.id, account.subject);
        if (now) return { kind: 'linked', userId: now.userId };
        continue;
      }
      if (isUniqueViolation(error)) continue;
      throw error;
    }
  }
  throw new GatehouseError('conflict', 'no free username for this upstream account');
}

/** Roles from an upstream claim (a string or a list, e.g. `groups`) through the provider's map. */
function mappedRoles(provider: UpstreamProvider, account: UpstreamAccount): string[] {
  if (provider.roleClaim === null) return [];
  const value = account.claims[provider.roleClaim];
  const values = Array.isArray(value) ? value : [value];
  return values.flatMap((item) => (typeof item === 'string' && Object.hasOwn(provider.roleMap, item) ? [provider.roleMap[item]!] : []));
}

/** The upstream username, else the email's local part, else provider-subject; made valid, then unique. */
function* usernameCandidates(provider: UpstreamProvider, account: UpstreamAccount): Generator<string> {
  const raw = account.preferredUsername ?? account.verifiedEmail?.split('@')[0] ?? `${provider.id}-${account.subject}`;
  let base = raw.replace(/[^A-Za-z0-9._@+-]/g, '').replace(/^[^A-Za-z0-9]+/, '').slice(0, 56);
  if (base === '') base = `${provider.id}-user`;
  yield base;
  for (let n = 2; n <= 20; n++) yield `${base}-${n}`;
  for (let n = 0; n < 5; n++) yield `${base}-${crypto.randomUUID().slice(0, 6)}`;
}
