// Looking up a presented API key (storage/api-keys.ts verifyApiKey): an unknown key id, a known id
// with a wrong secret, and a malformed key all get the same answer, from the repository and at the
// introspection endpoint (RFC 7662 §2.2: exactly {"active": false}). The secret is compared as
// SHA-256 digests with timingSafeEqual, against a dummy digest of the same length when the id is
// unknown, so both paths do one lookup and one full-length comparison; a key whose checksum is
// wrong costs no lookup at all (the checksum is public, it hides nothing). The second test counts
// that work (lookups and comparisons), never the time it takes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { crc32 } from 'node:zlib';
import type { KyselyPlugin } from 'kysely';
import { verifySecret } from '../src/secrets.ts';
import * as apiKeys from '../src/storage/api-keys.ts';
import { ITEMS_API, seedDemo, startInProcess } from '@gatehouse/test-support/gatehouse';

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** The documented key format: gatehouse_ak_<id:16>_<secret:32><checksum:6>, the checksum CRC32 in base62. */
function withChecksum(body: string): string {
  let value = crc32(body);
  let checksum = '';
  for (let index = 0; index < 6; index += 1) {
    checksum = BASE62[value % 62] + checksum;
    value = Math.floor(value / 62);
  }
  return `${body}${checksum}`;
}

test('unknown id, known id with a wrong secret, and malformed keys get the same inactive answer', async (t) => {
  const gh = await startInProcess(t, { GATEHOUSE_DEFAULT_API: ITEMS_API });
  const seed = await seedDemo(gh.db);
  const { apiKey, key } = await apiKeys.createApiKey(gh.db, { owner: { kind: 'user', id: 'johndoe' }, api: ITEMS_API, scopes: 'items' });

  const wrongSecret = withChecksum(`gatehouse_ak_${apiKey.id}_${'s'.repeat(32)}`);
  const unknownId = withChecksum(`gatehouse_ak_${'Z'.repeat(16)}_${'s'.repeat(32)}`);
  // Well-formed with a valid checksum, so each reaches the secret comparison.
  assert.equal(apiKeys.parseApiKey(wrongSecret), apiKey.id);
  assert.equal(apiKeys.parseApiKey(unknownId), 'Z'.repeat(16));
  const malformed = [
    key.slice(0, -1) + (key.endsWith('a') ? 'b' : 'a'), // checksum no longer matches
    key.slice(0, -7), // truncated
    `${key}x`,
    'gatehouse_ak_',
    key.replace('gatehouse_ak_', 'gatehouse_ak_!'),
  ];

  for (const presented of [wrongSecret, unknownId, ...malformed]) {
    assert.equal(await apiKeys.verifyApiKey(gh.db, presented), undefined, presented.slice(0, 20));
  }
  assert.equal((await apiKeys.verifyApiKey(gh.db, key))?.id, apiKey.id, 'the real key still verifies');

  // The same bytes at the introspection endpoint, whatever the reason.
  const introspect = async (token: string) => {
    const response = await fetch(`${gh.issuer}/introspect`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${seed.service.clientId}:${seed.service.clientSecret}`).toString('base64')}`,
      },
      body: new URLSearchParams({ token }).toString(),
    });
    return { status: response.status, body: await response.text() };
  };
  const answers = new Set<string>();
  for (const presented of [wrongSecret, unknownId, ...malformed]) {
    const { status, body } = await introspect(presented);
    answers.add(`${status} ${body}`);
  }
  assert.deepEqual([...answers], ['200 {"active":false}']);
  assert.equal(JSON.parse((await introspect(key)).body).active, true);
});

test('an unknown key id costs the work of a wrong secret: one lookup and one full-length digest comparison', async (t) => {
  const gh = await startInProcess(t, { GATEHOUSE_DEFAULT_API: ITEMS_API });
  await seedDemo(gh.db);
  const { apiKey, key } = await apiKeys.createApiKey(gh.db, { owner: { kind: 'user', id: 'johndoe' }, api: ITEMS_API, scopes: 'items' });

  // The work done, counted (never timed): lookups of api_keys through a Kysely plugin, secret
  // comparisons through the injectable comparison, each described by the digest it was given.
  let lookups = 0;
  const counting: KyselyPlugin = {
    transformQuery: (args) => {
      if (JSON.stringify(args.node).includes('"name":"api_keys"')) lookups += 1;
      return args.node;
    },
    transformResult: async (args) => args.result,
  };
  const db = gh.db.withPlugin(counting);
  const work = async (presented: string) => {
    lookups = 0;
    const comparisons: string[] = [];
    const compare = (secret: string, stored: string) => {
      const digest = stored.startsWith('sha256:') ? Buffer.from(stored.slice('sha256:'.length), 'base64url') : Buffer.alloc(0);
      comparisons.push(`${digest.length}-byte SHA-256 digest`);
      return verifySecret(secret, stored);
    };
    const found = await apiKeys.verifyApiKey(db, presented, { verifySecret: compare });
    return { lookups, comparisons, found: found !== undefined };
  };

  const wrongSecret = withChecksum(`gatehouse_ak_${apiKey.id}_${'s'.repeat(32)}`);
  const unknownId = withChecksum(`gatehouse_ak_${'Z'.repeat(16)}_${'s'.repeat(32)}`);
  const sameWork = { lookups: 1, comparisons: ['32-byte SHA-256 digest'], found: false };
  assert.deepEqual(await work(wrongSecret), sameWork, 'a known id with a wrong secret');
  assert.deepEqual(await work(unknownId), sameWork, 'an unknown id: the same work');
  assert.deepEqual(await work(key), { ...sameWork, found: true }, 'the real key');
  // A key whose checksum fails costs nothing at all.
  assert.deepEqual(await work(`${key.slice(0, -1)}${key.endsWith('a') ? 'b' : 'a'}`), { lookups: 0, comparisons: [], found: false });
});
