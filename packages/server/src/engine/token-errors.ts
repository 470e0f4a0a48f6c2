// Token-endpoint errors Gatehouse raises itself, in RFC 6749 §5.2 form through oidc-provider.
import { errors, type KoaContextWithOIDC } from 'oidc-provider';

/** 429 with Retry-After: too many failed password checks for this account or address. */
export class TooManyAttempts extends errors.OIDCProviderError {
  constructor(ctx: KoaContextWithOIDC, retryAfter: number) {
    super(429, 'too_many_attempts');
    this.error_description = `too many failed attempts; retry after ${retryAfter} seconds`;
    // oidc-provider renders the error itself; headers set on the context are kept.
    ctx.set('Retry-After', String(retryAfter));
  }
}

export function invalidCredentials(): errors.OIDCProviderError {
  // The same answer for an unknown user and a wrong password.
  return new errors.CustomOIDCProviderError('invalid_grant', 'invalid username or password');
}

export function accountDisabled(): errors.OIDCProviderError {
  return new errors.CustomOIDCProviderError('invalid_grant', 'this account is disabled');
}

export function emailNotVerified(): errors.OIDCProviderError {
  return new errors.CustomOIDCProviderError('invalid_grant', 'this account\'s email address is not verified yet');
}

export function secondFactorRequired(): errors.OIDCProviderError {
  // The password grant cannot carry a second factor: such users sign in through the browser.
  return new errors.CustomOIDCProviderError('invalid_grant', 'this account uses two-factor authentication; sign in with the authorization code flow');
}
