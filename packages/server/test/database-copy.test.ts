// Issue 10 item 5, as an attacker does it: with nothing but a copy of the database (the SQLite
// file, a PostgreSQL replica or dump) and the server's public address, try to
//   (a) sign an admin-API token with a stored private signing key and create a super-admin client,
//   (b) generate the TOTP codes of a user with two-factor authentication on,
//   (c) use the CSRF/signing secret to skip the password step, and the admin API's introspection
//       client secret to authenticate as that client; read the cookie-signing keys.
// Everything the attacker does goes through the copy and HTTP only; the running server is real.
// With key material encrypted under a key kept outside the database, every attempt fails.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { test, type TestContext } from 'node:test';
import { exportJWK, generateKeyPair, importJWK, SignJWT, type JWK } from 'jose';
import pg from 'pg';
import { createBrowser, formAction, formValue, type Browser } from '@gatehouse/test-support/browser';
import { tempDir } from '@gatehouse/test-support/files';
import { seedDemo, startInProcess, type InProcessServer } from '@gatehouse/test-support/gatehouse';
import { tempPostgres } from '@gatehouse/test-support/postgres';
import { ADMIN_INTROSPECTION_CLIENT_ID, ADMIN_SCOPE_NAMES, adminApiIdentifier } from '../src/admin/scopes.ts';
import { SignedValues } from '../src/pages/csrf.ts';
import { newRecoveryCodes, newTotpSecret, SecretBox, totpCode } from '../src/passwords/totp.ts';
import { ensureSecrets } from '../src/storage/keys.ts';
import { enableTwoFactor } from '../src/storage/two-factor.ts';
import { findUser } from '../src/storage/users.ts';

/** What a copy of the database shows of the rows that matter here, exactly as stored. */
interface DatabaseCopy {
  readonly signingKeys: readonly { kid: string; alg: string; state: string; private_jwk: string }[];
  readonly serverSecrets: readonly { purpose: string; id: string; secret: string }[];
  readonly users: readonly { id: string; username: string; totp_secret: string | null }[];
  readonly clients: readonly { id: string }[];
}

const QUERIES = {
  signingKeys: 'select kid, alg, state, private_jwk from signing_keys',
  serverSecrets: 'select purpose, id, secret from server_secrets order by created_at desc, id',
  users: 'select id, username, totp_secret from users',
  clients: 'select id from clients',
} as const;

/** A backup of the SQLite file (VACUUM INTO, as `sqlite3 .backup` would), read with node:sqlite alone. */
function copySqlite(t: TestContext, databaseUrl: string): DatabaseCopy {
  const live = databaseUrl.slice('sqlite:'.length);
  const copyPath = join(tempDir(t), 'stolen.db');
  const source = new DatabaseSync(live, { readOnly: true });
  try {
    source.prepare('vacuum into ?').run(copyPath);
  } finally {
    source.close();
  }
  const copy = new DatabaseSync(copyPath, { readOnly: true });
  try {
    const read = (query: string) => copy.prepare(query).all() as never;
    return { signingKeys: read(QUERIES.signingKeys), serverSecrets: read(QUERIES.serverSecrets), users: read(QUERIES.users), clients: read(QUERIES.clients) };
  } finally {
    copy.close();
  }
}

/** Direct read access to the PostgreSQL database (a replica, a dump restored elsewhere, a leaked password). */
async function copyPostgres(databaseUrl: string): Promise<DatabaseCopy> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const read = async (query: string) => (await client.query(query)).rows as never;
    return { signingKeys: await read(QUERIES.signingKeys), serverSecrets: await read(QUERIES.serverSecrets), users: await read(QUERIES.users), clients: await read(QUERIES.clients) };
  } finally {
    await client.end();
  }
}

function parseJwk(text: string): JWK | undefined {
  try {
    const jwk = JSON.parse(text) as JWK;
    return typeof jwk.d === 'string' ? jwk : undefined;
  } catch {
    return undefined;
  }
}

/** The victim: johndoe with two-factor authentication on, enrolled through the server's own storage. */
async function enrolVictim(gh: InProcessServer): Promise<{ id: string; totpSecret: string }> {
  const john = (await findUser(gh.db, 'johndoe'))!;
  const secret = newTotpSecret();
  const box = new SecretBox(await ensureSecrets(gh.db, 'totp'));
  await enableTwoFactor(gh.db, john.id, box.seal(secret), 0, newRecoveryCodes());
  return { id: john.id, totpSecret: secret };
}

/**
 * (a) The attacker's best admin token: signed with the stored active ES256 key when the copy holds
 * a usable private JWK; otherwise with a key of their own under the same kid (all they can do).
 */
async function forgeAdminToken(copy: DatabaseCopy, issuer: string): Promise<{ token: string; fromCopy: boolean }> {
  const stored = copy.signingKeys.find((k) => k.alg === 'ES256' && k.state === 'active')!;
  const jwk = parseJwk(stored.private_jwk);
  const key = jwk ? await importJWK(jwk, 'ES256') : (await generateKeyPair('ES256')).privateKey;
  // A client that exists (introspection of the token checks that it does and is not revoked).
  const clientId = copy.clients[0]!.id;
  const token = await new SignJWT({ scope: ADMIN_SCOPE_NAMES.join(' '), client_id: clientId })
    .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: stored.kid })
    .setIssuer(issuer)
    .setSubject(clientId)
    .setAudience(adminApiIdentifier(issuer))
    .setIssuedAt()
    .setExpirationTime('10m')
    .setJti(randomUUID())
    .sign(key);
  return { token, fromCopy: jwk !== undefined };
}

/** Follows redirects with GETs until a page; returns where it landed. */
async function follow(browser: Browser, response: Response, from: URL): Promise<{ url: URL; status: number; html: string }> {
  let url = from;
  for (let hops = 0; hops < 10; hops++) {
    const location = response.headers.get('location');
    if (response.status < 300 || response.status >= 400 || !location) return { url, status: response.status, html: await response.text() };
    url = new URL(location, url);
    response = await browser.get(url);
  }
  throw new Error('too many redirects');
}

/**
 * (b) and (c): the attacker opens the login page in their own browser, never types a password,
 * forges the "password step passed" value for the victim with the CSRF/signing secret from the
 * copy, and answers the second factor with a code computed from the copy. Returns the page the
 * attacker ends on and whether it is the victim's account page.
 */
async function skipPasswordAndSecondFactor(copy: DatabaseCopy, issuer: string, victimId: string): Promise<{ status: number; signedInAsVictim: boolean; codeFromCopy: boolean }> {
  const browser = createBrowser();
  const start = new URL('/account', issuer);
  const login = await follow(browser, await browser.get(start), start);
  assert.match(login.url.pathname, /^\/interaction\/[^/]+$/, 'the login page');
  const uid = login.url.pathname.split('/')[2]!;

  const csrfSecrets = copy.serverSecrets.filter((s) => s.purpose === 'csrf').map((s) => s.secret);
  const pending = new SignedValues(csrfSecrets).sign(`second-factor:${uid}`, victimId, 300);
  const totpKeys = copy.serverSecrets.filter((s) => s.purpose === 'totp').map((s) => s.secret);
  const sealed = copy.users.find((u) => u.id === victimId)!.totp_secret!;
  const secret = new SecretBox(totpKeys).open(sealed);
  const code = secret === undefined ? '000000' : totpCode(secret);

  const action = new URL(formAction(login.html, '/login').replace(/\/login$/, '/second-factor'), login.url);
  const response = await browser.post(action, { csrf: formValue(login.html, 'csrf'), pending, code });
  const status = response.status;
  const landed = await follow(browser, response, action);
  const signedInAsVictim = landed.url.pathname === '/account' && landed.status === 200 && landed.html.includes('johndoe');
  return { status, signedInAsVictim, codeFromCopy: secret !== undefined };
}

async function attack(t: TestContext, gh: InProcessServer, copy: DatabaseCopy, victim: { id: string; totpSecret: string }): Promise<void> {
  await t.test('(a) a token signed with a stored key creates no super-admin client', async () => {
    const { token, fromCopy } = await forgeAdminToken(copy, gh.issuer);
    const created = await fetch(`${gh.issuer}/admin/api/clients`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'backdoor', grant_types: ['client_credentials'], scopes: ADMIN_SCOPE_NAMES }),
    });
    assert.equal(created.status, 401, `the admin API refuses the attacker's token (got ${created.status})`);
    const clients = await gh.db.selectFrom('clients').select('name').execute();
    assert.ok(!clients.some((c) => c.name === 'backdoor'), 'no backdoor client was created');
    assert.equal(fromCopy, false, 'the copy holds no usable private signing key');
    for (const key of copy.signingKeys) assert.equal(parseJwk(key.private_jwk), undefined, `signing key ${key.kid} is not readable`);
  });

  await t.test('(b, c) no sign-in as the victim without their password and phone', async () => {
    const login = await skipPasswordAndSecondFactor(copy, gh.issuer, victim.id);
    assert.notEqual(login.status, 303, 'the forged second-factor form is refused');
    assert.equal(login.signedInAsVictim, false, 'the attacker is not signed in as the victim');
    assert.equal(login.codeFromCopy, false, 'the copy does not give the TOTP secret');
    assert.ok(!JSON.stringify(copy).includes(victim.totpSecret));
  });

  await t.test('(c) the introspection client\'s secret is not in the copy', async () => {
    const introspectionSecret = copy.serverSecrets.find((s) => s.purpose === 'admin-introspection')!.secret;
    const introspection = await fetch(`${gh.issuer}/introspect`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${ADMIN_INTROSPECTION_CLIENT_ID}:${encodeURIComponent(introspectionSecret)}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ token: 'anything' }).toString(),
    });
    assert.equal(introspection.status, 401, 'client authentication with the stored value fails');
  });

  await t.test('(c) the cookie-signing, CSRF and TOTP keys in use are nowhere in the copy', async () => {
    for (const purpose of ['cookie', 'csrf', 'totp', 'admin-introspection']) {
      const inUse = await ensureSecrets(gh.db, purpose);
      const stored = copy.serverSecrets.filter((s) => s.purpose === purpose).map((s) => s.secret);
      assert.equal(stored.length, inUse.length, purpose);
      for (const secret of inUse) assert.ok(!stored.some((s) => s.includes(secret)), `the ${purpose} secret is not in the copy`);
    }
  });
}

test('a copy of the SQLite file signs no admin token, generates no TOTP code and forges no login', async (t) => {
  const gh = await startInProcess(t);
  await seedDemo(gh.db);
  const victim = await enrolVictim(gh);
  // Every secret the server creates at start exists by now (keys, cookie, CSRF, TOTP, introspection).
  await attack(t, gh, copySqlite(t, gh.databaseUrl), victim);
});

test('direct read access to the PostgreSQL database signs no admin token, generates no TOTP code and forges no login', async (t) => {
  const databaseUrl = await tempPostgres(t);
  const gh = await startInProcess(t, { GATEHOUSE_DATABASE_URL: databaseUrl });
  await seedDemo(gh.db);
  const victim = await enrolVictim(gh);
  await attack(t, gh, await copyPostgres(databaseUrl), victim);
});
