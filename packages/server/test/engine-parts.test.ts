// Parts of the engine checked on their own, where the end-to-end tests reach them only through
// something else that gives the same answer (each found by a surviving mutant, docs/mutation.md).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { seedDemo, startInProcess } from '@gatehouse/test-support/gatehouse';
import { createFindAccount } from '../src/engine/accounts.ts';
import { adminClientMetadata } from '../src/engine/console-client.ts';
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
