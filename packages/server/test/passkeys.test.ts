// Passkey sign-in over real HTTP, with a software authenticator made here (an ES256 key pair, and
// assertions built and signed as WebAuthn §6.1 and §5.8.1 say): what the server verifies, one
// thing at a time. A right assertion signs in; one for another RP ID, from another origin, for
// another challenge, with a counter that did not grow, or with a bad signature is refused; so are
// a disabled user's passkey and a removed one. On SQLite and PostgreSQL. The browser journey is
// e2e/passkeys-browser.test.ts.
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { test } from 'node:test';
import * as client from 'openid-client';
import { listAuditEvents } from '../src/storage/audit.ts';
import { GatehouseError } from '../src/errors.ts';
import { addPasskey, listPasskeys, removePasskey } from '../src/storage/passkeys.ts';
import { enableTwoFactor } from '../src/storage/two-factor.ts';
import * as users from '../src/storage/users.ts';
import { createBrowser, formAction, formValue, type Browser } from '@gatehouse/test-support/browser';
import { ITEMS_API, seedDemo, startInProcess, type InProcessServer } from '@gatehouse/test-support/gatehouse';
import { tempPostgres } from '@gatehouse/test-support/postgres';

const REDIRECT = 'http://127.0.0.1:8999/callback';
const b64url = (bytes: Uint8Array | string) => Buffer.from(bytes).toString('base64url');

/** A passkey held by the test: its key pair, id and counter, stored for a user as enrolment would. */
class SoftwarePasskey {
  readonly credentialId = b64url(randomBytes(16));
  readonly #privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly userId: string;
  counter = 0;
  constructor(userId: string) {
    this.userId = userId;
    ({ privateKey: this.#privateKey, publicKey: this.publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' }));
  }

  /** The public key as COSE (RFC 9053 §7.1: kty EC2, alg ES256, crv P-256, x, y), base64url. */
  coseKey(): string {
    const jwk = this.publicKey.export({ format: 'jwk' });
    const x = Buffer.from(jwk.x!, 'base64url');
    const y = Buffer.from(jwk.y!, 'base64url');
    return b64url(Buffer.concat([Buffer.from([0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21, 0x58, 0x20]), x, Buffer.from([0x22, 0x58, 0x20]), y]));
  }

  async enrol(gh: InProcessServer, name = 'test key'): Promise<string> {
    const stored = await addPasskey(gh.db, { userId: this.userId, credentialId: this.credentialId, publicKey: this.coseKey(), signCount: 0, transports: ['internal'], name });
    return stored.id;
  }

  /** An assertion (AuthenticationResponseJSON) for this challenge, as a browser would send it. */
  assert(challenge: string, { rpId, origin, userVerified = true, counter = ++this.counter, forge = false }: { rpId: string; origin: string; userVerified?: boolean; counter?: number; forge?: boolean }) {
    const flags = 0x01 | (userVerified ? 0x04 : 0);
    const count = Buffer.alloc(4);
    count.writeUInt32BE(counter);
    const authenticatorData = Buffer.concat([createHash('sha256').update(rpId).digest(), Buffer.from([flags]), count]);
    const clientDataJSON = Buffer.from(JSON.stringify({ type: 'webauthn.get', challenge, origin, crossOrigin: false }));
    const signed = Buffer.concat([authenticatorData, createHash('sha256').update(clientDataJSON).digest()]);
    const signature = forge ? sign('sha256', signed, generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey) : sign('sha256', signed, this.#privateKey);
    return {
      id: this.credentialId,
      rawId: this.credentialId,
      type: 'public-key',
      response: { clientDataJSON: b64url(clientDataJSON), authenticatorData: b64url(authenticatorData), signature: b64url(signature), userHandle: b64url(this.userId) },
      clientExtensionResults: {},
      authenticatorAttachment: 'platform',
    };
  }
}

const DATABASES = ['sqlite', 'postgres'] as const;

async function setup(t: test.TestContext, database: (typeof DATABASES)[number] = 'sqlite') {
  const databaseUrl = database === 'postgres' ? await tempPostgres(t) : undefined;
  const gh = await startInProcess(t, { GATEHOUSE_DEFAULT_API: ITEMS_API, ...(databaseUrl ? { GATEHOUSE_DATABASE_URL: databaseUrl } : {}) });
  await seedDemo(gh.db);
  const rp = { rpId: new URL(gh.issuer).hostname, origin: new URL(gh.issuer).origin };
  return { gh, rp };
}

/** A fresh authorization request's login page, and the passkey options it gets. */
async function startPasskeySignIn(gh: InProcessServer) {
  const browser = createBrowser();
  const url = new URL(`${gh.issuer}/authorize`);
  for (const [k, v] of Object.entries({ client_id: 'web', response_type: 'code', redirect_uri: REDIRECT, scope: 'openid items', code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()), code_challenge_method: 'S256' })) {
    url.searchParams.set(k, v);
  }
  const start = await browser.get(url);
  const login = await browser.get(new URL(start.headers.get('location')!, gh.issuer));
  const html = await login.text();
  const csrf = formValue(html, 'csrf');
  const action = new URL(formAction(html, '/passkey'), gh.issuer);
  const answer = await browser.post(`${action.href}/options`, { csrf });
  assert.equal(answer.status, 200);
  const { options, state } = (await answer.json()) as { options: { challenge: string; rpId: string; allowCredentials?: unknown[]; userVerification: string }; state: string };
  return { browser, csrf, action, options, state };
}

async function send(browser: Browser, started: { csrf: string; action: URL; state: string }, assertion: unknown) {
  const response = await browser.post(started.action, { csrf: started.csrf, state: started.state, response: JSON.stringify(assertion) });
  return { status: response.status, location: response.headers.get('location'), html: response.status === 303 ? '' : await response.text() };
}

/** Follows the redirects after a sign-in to the client's redirect URI. */
async function landing(browser: Browser, issuer: string, location: string): Promise<URL> {
  let next = new URL(location, issuer);
  for (let hops = 0; hops < 10 && !next.href.startsWith(REDIRECT); hops++) {
    const response = await browser.get(next);
    assert.equal(response.status, 303, `a redirect on the way back to the client (${next.pathname})`);
    next = new URL(response.headers.get('location')!, issuer);
  }
  return next;
}

test('the passkey options name no credential (username-less) and the RP ID is the public URL hostname', async (t) => {
  const { gh, rp } = await setup(t);
  const { options } = await startPasskeySignIn(gh);
  assert.equal(options.rpId, rp.rpId);
  assert.deepEqual(options.allowCredentials ?? [], []);
  assert.equal(options.userVerification, 'preferred');
  assert.match(options.challenge, /^[A-Za-z0-9_-]{43,}$/);
});

for (const database of DATABASES) {
  test(`a right assertion signs in; another RP ID, origin, challenge, a counter that did not grow or a bad signature is refused (${database})`, async (t) => {
    const { gh, rp } = await setup(t, database);
    const john = (await users.findUser(gh.db, 'johndoe'))!;
    const key = new SoftwarePasskey(john.id);
    const passkeyId = await key.enrol(gh);

    const refusals = {
      'another RP ID': (challenge: string) => key.assert(challenge, { ...rp, rpId: 'evil.example' }),
      'another origin': (challenge: string) => key.assert(challenge, { ...rp, origin: 'http://evil.localhost:8000' }),
      'another challenge': () => key.assert(b64url(randomBytes(32)), rp),
      'a bad signature': (challenge: string) => key.assert(challenge, { ...rp, forge: true }),
    };
    for (const [name, make] of Object.entries(refusals)) {
      const started = await startPasskeySignIn(gh);
      const answer = await send(started.browser, started, make(started.options.challenge));
      assert.equal(answer.status, 401, name);
      assert.match(answer.html, /This passkey could not sign you in\./, name);
    }

    // The right one: through to the client with a code.
    const started = await startPasskeySignIn(gh);
    const answer = await send(started.browser, started, key.assert(started.options.challenge, rp));
    assert.equal(answer.status, 303);
    const callback = await landing(started.browser, gh.issuer, answer.location!);
    assert.ok(callback.searchParams.get('code'), 'the client got a code');
    const [stored] = await listPasskeys(gh.db, john.id);
    assert.equal(stored!.signCount, key.counter, 'the counter is kept');
    assert.ok(stored!.lastUsedAt, 'and the time of use');

    // The same counter again (a cloned authenticator, or a replay): refused.
    const again = await startPasskeySignIn(gh);
    assert.equal((await send(again.browser, again, key.assert(again.options.challenge, { ...rp, counter: key.counter }))).status, 401);

    // A signed challenge works for its own interaction only.
    const other = await startPasskeySignIn(gh);
    const crossed = await send(other.browser, { ...other, state: again.state }, key.assert(again.options.challenge, rp));
    assert.equal(crossed.status, 400);

    const events = (await listAuditEvents(gh.db, { type: 'login.passkey' })).items;
    assert.equal(events.filter((e) => e.outcome === 'success').length, 1);
    assert.equal(events.filter((e) => e.outcome === 'failure').length, 6);
    assert.ok(events.every((e) => e.details.client_id === 'web'));
    const success = events.find((e) => e.outcome === 'success')!;
    assert.deepEqual(success.target, { kind: 'user', id: john.id });
    assert.equal(success.details.passkey_id, passkeyId);
    assert.equal(success.details.user_verified, true);
    assert.doesNotMatch(JSON.stringify(events), new RegExp(key.credentialId), 'no credential id in the audit log');
  });

  test(`a credential id is stored once, and the last way to sign in cannot be removed (${database})`, async (t) => {
    const { gh } = await setup(t, database);
    const john = (await users.findUser(gh.db, 'johndoe'))!;
    const key = new SoftwarePasskey(john.id);
    const first = await key.enrol(gh);
    await assert.rejects(key.enrol(gh), (error: unknown) => error instanceof GatehouseError && error.code === 'conflict');
    // With a password, the only passkey can go.
    assert.equal((await removePasskey(gh.db, john.id, first)).kind, 'removed');
    // Without one, the last passkey cannot; another user's passkey is not found.
    await gh.db.updateTable('users').set({ password_hash: null }).where('id', '=', john.id).execute();
    const only = await new SoftwarePasskey(john.id).enrol(gh);
    assert.equal((await removePasskey(gh.db, john.id, only)).kind, 'last_way_in');
    const alice = (await users.findUser(gh.db, 'alice'))!;
    assert.equal((await removePasskey(gh.db, alice.id, only)).kind, 'not_found');
    const second = await new SoftwarePasskey(john.id).enrol(gh);
    assert.equal((await removePasskey(gh.db, john.id, only)).kind, 'removed');
    assert.equal((await removePasskey(gh.db, john.id, second)).kind, 'last_way_in');
    assert.deepEqual((await listPasskeys(gh.db, john.id)).map((p) => p.id), [second]);
  });
}

test("a disabled user's passkey is refused, and so is a removed one", async (t) => {
  const { gh, rp } = await setup(t);
  const alice = (await users.findUser(gh.db, 'alice'))!;
  assert.equal(alice.disabled, true);
  const key = new SoftwarePasskey(alice.id);
  await key.enrol(gh);

  const started = await startPasskeySignIn(gh);
  const answer = await send(started.browser, started, key.assert(started.options.challenge, rp));
  assert.equal(answer.status, 403);
  assert.match(answer.html, /This account is disabled\./);
  const [event] = (await listAuditEvents(gh.db, { type: 'login.passkey' })).items;
  assert.equal(event!.outcome, 'failure');
  assert.equal(event!.details.result, 'disabled');

  // Enabled again, she signs in; her passkey removed (the user deleted with it), it is unknown.
  await users.setUserDisabled(gh.db, alice.id, false);
  const enabled = await startPasskeySignIn(gh);
  assert.equal((await send(enabled.browser, enabled, key.assert(enabled.options.challenge, rp))).status, 303);
  await gh.db.deleteFrom('passkeys').where('user_id', '=', alice.id).execute();
  const removed = await startPasskeySignIn(gh);
  const refused = await send(removed.browser, removed, key.assert(removed.options.challenge, rp));
  assert.equal(refused.status, 401);
  assert.match(refused.html, /This passkey is not registered here/);
});

test('a passkey that verified its user is both factors; one that did not is followed by the code', async (t) => {
  const { gh, rp } = await setup(t);
  const john = (await users.findUser(gh.db, 'johndoe'))!;
  // Two-factor on (the secret is never opened on these paths).
  await enableTwoFactor(gh.db, john.id, 'not-opened', 0, ['unused-recovery-code-hash']);
  const key = new SoftwarePasskey(john.id);
  await key.enrol(gh);

  const verified = await startPasskeySignIn(gh);
  const answer = await send(verified.browser, verified, key.assert(verified.options.challenge, rp));
  assert.equal(answer.status, 303, 'no code asked');

  const presenceOnly = await startPasskeySignIn(gh);
  const second = await send(presenceOnly.browser, presenceOnly, key.assert(presenceOnly.options.challenge, { ...rp, userVerified: false }));
  assert.equal(second.status, 200);
  assert.match(second.html, /Two-factor authentication/);
  assert.match(second.html, /name="pending"/);
});
