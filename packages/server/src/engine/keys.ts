// The signing keys oidc-provider is given and publishes: which stored keys are published (a
// retired key until what it signed has expired), the public JWKS, and whether the set changed.
import type { JSONWebKeySet, JWK } from 'jose';
import type { Config } from '../config/schema.ts';
import type { Db } from '../storage/database.ts';
import { ensureSigningKeys, listSigningKeys, SIGNING_ALGS, type SigningKey } from '../storage/keys.ts';

const PUBLIC_MEMBERS = ['kty', 'crv', 'x', 'y', 'n', 'e', 'kid', 'alg', 'use'] as const;

function publicJwk(key: SigningKey): JWK {
  const jwk: JWK = {};
  for (const member of PUBLIC_MEMBERS) if (key.privateJwk[member] !== undefined) (jwk as Record<string, unknown>)[member] = key.privateJwk[member];
  if (key.state !== 'active') jwk.key_ops = ['verify'];
  return jwk;
}

/**
 * The keys oidc-provider is given: the active key of each algorithm signs; `next` keys (published
 * before they sign) and `retired` keys (published until what they signed has expired) only verify.
 */
export function providerKeys(keys: readonly SigningKey[]): JWK[] {
  return publicationOrder(keys).map((key) => (key.state === 'active' ? key.privateJwk : { ...key.privateJwk, key_ops: ['verify'] }));
}

/**
 * The order keys are published in: active keys first, and among keys in the same state the
 * default algorithm's (ES256) first. Libraries that take the first key of a JWKS instead of
 * selecting by `kid` (python-jose, for one) then verify the default tokens.
 */
function publicationOrder(keys: readonly SigningKey[]): SigningKey[] {
  const state = { active: 0, next: 1, retired: 2 } as const;
  const alg = (key: SigningKey) => SIGNING_ALGS.indexOf(key.alg);
  return [...keys].sort((a, b) => state[a.state] - state[b.state] || alg(a) - alg(b));
}

const fingerprint = (keys: readonly SigningKey[]) => keys.map((k) => `${k.kid}:${k.state}`).sort().join(',');

/** The published signing keys, as last loaded from storage. */
export interface PublishedKeys {
  /** The keys published now (active, next, retired). */
  current(): readonly SigningKey[];
  /** Their public JWKS. */
  jwks(): JSONWebKeySet;
  /** How long a retired key stays published (the longest token lifetime). */
  retentionMs(): number;
  /** Reads the keys again; true if the published set changed. */
  reload(): Promise<boolean>;
}

export async function loadPublishedKeys(db: Db, config: Config): Promise<PublishedKeys> {
  // A retired key stays published while anything it signed may still be valid: the longest
  // access-token lifetime of any API, and the ID token lifetime.
  const retentionMs = async (): Promise<number> => {
    const row = await db.selectFrom('apis').select((eb) => eb.fn.max('access_token_ttl').as('ttl')).executeTakeFirst();
    return Math.max(config.accessTokenTtl, config.idTokenTtl, Number(row?.ttl ?? 0)) * 1000;
  };
  const initial = await ensureSigningKeys(db);
  let retention = await retentionMs();
  const isPublished = (key: SigningKey): boolean => key.state !== 'retired' || (key.retiredAt ?? 0) + retention > Date.now();
  let keys = publicationOrder(initial.filter(isPublished));
  return {
    current: () => keys,
    jwks: () => ({ keys: keys.map(publicJwk) }),
    retentionMs: () => retention,
    async reload() {
      retention = await retentionMs();
      const current = (await listSigningKeys(db)).filter(isPublished);
      if (fingerprint(current) === fingerprint(keys)) return false;
      keys = publicationOrder(current);
      return true;
    },
  };
}
