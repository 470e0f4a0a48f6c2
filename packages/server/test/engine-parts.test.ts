// Parts of the engine checked on their own, where the end-to-end tests reach them only through
// something else that gives the same answer (each found by a surviving mutant, docs/mutation.md).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { seedDemo, startInProcess } from '@gatehouse/test-support/gatehouse';
import { createFindAccount } from '../src/engine/accounts.ts';
import { KeyMaintenance } from '../src/engine/key-maintenance.ts';
import { ensureSigningKeys, listSigningKeys, scheduleKeyRotation } from '../src/storage/keys.ts';
import { adminClientMetadata } from '../src/engine/console-client.ts';
import type { Db } from '../src/storage/database.ts';
import * as users from '../src/storage/users.ts';

test("an account's claims: email and email_verified when the user has an email, neither when not; a disabled user is no account", async (t) => {
  const { db } = await startInProcess(t);
  await seedDemo(db);
  const findAccount = createFindAccount(db);
  const john = await users.findUser(db, 'johndoe');
  const claims = await (await findAccount({} as never, john!.id))!.claims('id_token', 'openid email', {}, []);
  assert.equal(claims.sub, john!.id);
  assert.equal(claims.preferred_username, 'johndoe');
  assert.equal(claims.email, 'johndoe@example.com');
  assert.equal(typeof claims.email_verified, 'boolean');
  const quiet = await users.createUser(db, { username: 'no-mail', passwordHash: null });
  const quietClaims = await (await findAccount({} as never, quiet.id))!.claims('id_token', 'openid email', {}, []);
  assert.equal('email' in quietClaims || 'email_verified' in quietClaims, false);
  await users.setUserDisabled(db, 'johndoe', true);
  assert.equal(await findAccount({} as never, john!.id), undefined);
});

test('a built-in admin client names its post-logout URI only when it has one', () => {
  const options = { publicUrl: 'https://id.example', brandName: 'Gatehouse', adminApi: 'https://id.example/admin/api', adminScopes: ['admin:users:read'] };
  const base = { clientId: 'gatehouse-console', name: 'Console', redirectUri: 'https://id.example/admin/callback' };
  assert.deepEqual(adminClientMetadata(options, { ...base, postLogoutRedirectUri: 'https://id.example/admin' }).post_logout_redirect_uris, ['https://id.example/admin']);
  assert.equal('post_logout_redirect_uris' in adminClientMetadata(options, base), false);
});

/** Key maintenance over a real database, with an engine that counts reloads and announcements counted. */
function keyMaintenance(db: Db, checkIntervalSeconds: number) {
  const counts = { reloads: 0, announced: 0 };
  const engine = { reloadKeys: async () => (counts.reloads++, false), retentionMs: () => 86_400_000, publishedJwks: () => ({ keys: [] }) };
  const log = { info() {}, warn() {}, error() {} };
  const maintenance = new KeyMaintenance({ db, engine: engine as never, checkIntervalSeconds, announce: async () => void counts.announced++, log: log as never });
  return { maintenance, counts };
}

/** What a timer started runs on promises over the synchronous SQLite driver: done after a few turns of the real event loop. */
async function settle(): Promise<void> {
  for (let turn = 0; turn < 5; turn++) await new Promise((resolve) => setImmediate(resolve));
}

test('key maintenance, once closed, runs nothing: neither the periodic check nor a scheduled activation', async (t) => {
  const { db } = await startInProcess(t);
  await ensureSigningKeys(db);
  const runs = async (close: boolean): Promise<number> => {
    const { maintenance, counts } = keyMaintenance(db, 60);
    t.mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
    try {
      await maintenance.start();
      if (close) maintenance.close();
      t.mock.timers.tick(120_000); // past the scheduled activation and two periodic checks
    } finally {
      t.mock.timers.reset();
      maintenance.close();
    }
    await settle();
    return counts.reloads;
  };
  await scheduleKeyRotation(db, 'ES256', Date.now() + 30_000);
  assert.ok((await runs(false)) >= 1, 'the control: left running, the timers do fire');
  const pending = (await listSigningKeys(db)).filter((key) => key.state === 'next').length;
  assert.equal(await runs(true), 0, 'closed: nothing ran');
  assert.equal((await listSigningKeys(db)).filter((key) => key.state === 'next').length, pending, 'the scheduled key was not activated');
});

test('key maintenance arms the activation for when the scheduled key is due: not before, and not later', async (t) => {
  const { db } = await startInProcess(t);
  await ensureSigningKeys(db);
  t.mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  t.after(() => t.mock.timers.reset());
  await scheduleKeyRotation(db, 'ES256', Date.now() + 30_000);
  const { maintenance, counts } = keyMaintenance(db, 3600);
  await maintenance.start();
  t.after(() => maintenance.close());
  t.mock.timers.tick(20_000);
  await settle();
  assert.equal(counts.reloads, 0, 'not before the key is due');
  t.mock.timers.tick(11_000);
  await settle();
  assert.ok(counts.reloads >= 1, 'at the time it is due');
});

test('key maintenance tells the other instances when a rotation activates, and stays quiet when nothing changed', async (t) => {
  const { db } = await startInProcess(t);
  await ensureSigningKeys(db);
  const { maintenance, counts } = keyMaintenance(db, 3600);
  t.after(() => maintenance.close());
  await maintenance.maintain();
  assert.equal(counts.announced, 0, 'nothing activated, nothing purged');
  const key = await scheduleKeyRotation(db, 'ES256', Date.now() + 3_600_000);
  await db.updateTable('signing_keys').set({ activates_at: Date.now() - 1 }).where('kid', '=', key.kid).execute();
  await maintenance.maintain();
  assert.equal((await listSigningKeys(db)).find((k) => k.kid === key.kid)?.state, 'active');
  assert.equal(counts.announced, 1, 'an activation alone is announced');
});
