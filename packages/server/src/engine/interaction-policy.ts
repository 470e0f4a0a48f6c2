// When /authorize needs the user: oidc-provider's default policy (login, then consent), with one
// check added for a login session that outlived its account.
//
// A session names an account; findAccount (accounts.ts) answers nothing for a disabled or deleted
// user. oidc-provider's login prompt only asks "is there a session with an account id?", so such a
// session went on to the consent checks, which read a grant that was never loaded: a 500 on every
// /authorize from that browser. A session whose account cannot be loaded is treated as no session:
// `login_required` with prompt=none (OpenID Connect Core §3.1.2.6), the login page otherwise.
import { interactionPolicy, type KoaContextWithOIDC } from 'oidc-provider';

const { Check, base } = interactionPolicy;

/** The session names an account that findAccount no longer returns (disabled, deleted). */
export const accountUnavailable = (ctx: KoaContextWithOIDC): boolean => ctx.oidc.session?.accountId !== undefined && ctx.oidc.account === undefined;

export function createInteractionPolicy(): interactionPolicy.DefaultPolicy {
  const policy = base();
  const login = policy.get('login')!;
  // After `login_prompt` (prompt=login), before `no_session` and the checks that read the account.
  login.checks.add(
    new Check('account_unavailable', 'End-User authentication is required', 'login_required', (ctx) =>
      accountUnavailable(ctx) ? Check.REQUEST_PROMPT : Check.NO_NEED_TO_PROMPT,
    ),
    1,
  );
  return policy;
}
