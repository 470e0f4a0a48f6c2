// The demo of `npm start` (scripts/demo-data.ts) against a real server: the README's curl session
// works, and each demo client gets tokens for the items API only (docs/adr/0008-client-api-grants.md).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeJwt } from 'jose';
import * as clients from '@gatehouse/server/internal/storage/clients';
import { startInProcess, tokenRequest } from '@gatehouse/test-support/gatehouse';
import * as apis from '@gatehouse/server/internal/storage/apis';
import * as users from '@gatehouse/server/internal/storage/users';
import { DEMO, ensureDemoData, ensureMcpDemo, ensureWebAppClient } from '../scripts/demo-data.ts';

test('the demo data: the README\'s password and client-credentials requests work, for the items API only', async (t) => {
  const gh = await startInProcess(t, { GATEHOUSE_DEFAULT_API: DEMO.apiUrl, GATEHOUSE_REGISTRATION: 'true' });
  const created = await ensureDemoData(gh.db);
  assert.ok(created, 'created on first start');
  assert.equal(await ensureDemoData(gh.db), undefined, 'kept on the next');
  const webAppSecret = await ensureWebAppClient(gh.db, undefined);

  // README: curl -d grant_type=password -d client_id=docs -d username=johndoe -d password=secret -d scope='me items accounts:read'
  const john = await tokenRequest(gh.issuer, { grant_type: 'password', client_id: DEMO.docsClientId, username: 'johndoe', password: 'secret', scope: 'me items accounts:read' });
  assert.equal(john.status, 200, JSON.stringify(john.body));
  assert.equal(john.body.scope, 'me items', 'accounts:read is not granted by his role');
  assert.equal(decodeJwt(john.body.access_token).aud, DEMO.apiUrl);

  const service = { clientId: created.serviceClientId, clientSecret: created.serviceClientSecret };
  const cc = await tokenRequest(gh.issuer, { grant_type: 'client_credentials' }, service);
  assert.equal(cc.status, 200, JSON.stringify(cc.body));
  assert.equal(cc.body.scope, 'accounts:read');

  // Nothing for an API the demo clients were not given: the admin API, say.
  const admin = `${gh.issuer}/admin/api`;
  for (const [name, answer] of Object.entries({
    docs: await tokenRequest(gh.issuer, { grant_type: 'password', client_id: DEMO.docsClientId, username: 'johndoe', password: 'secret', resource: admin }),
    service: await tokenRequest(gh.issuer, { grant_type: 'client_credentials', resource: admin }, service),
  })) {
    assert.equal(answer.status, 400, name);
    assert.equal(answer.body.error, 'invalid_target', name);
  }
  // The web app and the docs page are the demo's own applications: first-party, the items API only.
  for (const clientId of [DEMO.webAppClientId, DEMO.docsClientId]) {
    const stored = await clients.findClient(gh.db, clientId);
    assert.deepEqual([stored?.apis, stored?.firstParty], [[DEMO.apiUrl], true], clientId);
  }
  assert.match(webAppSecret, /^gatehouse_cs_/);
  // Gatehouse tells the web app when a visitor's session ends (back-channel logout), also in a demo
  // database made before it did.
  assert.equal((await clients.findClient(gh.db, DEMO.webAppClientId))?.backchannelLogoutUri, 'http://localhost:8002/auth/backchannel-logout');
  await clients.updateClient(gh.db, DEMO.webAppClientId, { backchannelLogoutUri: null });
  assert.equal(await ensureWebAppClient(gh.db, webAppSecret), webAppSecret);
  assert.equal((await clients.findClient(gh.db, DEMO.webAppClientId))?.backchannelLogoutUri, DEMO.webAppBackchannelLogoutUri);
});

test('the MCP demo: the example MCP server\'s API is open to dynamically registered clients, and johndoe may read and write notes', async (t) => {
  const gh = await startInProcess(t);
  await ensureDemoData(gh.db);
  await ensureMcpDemo(gh.db);
  await ensureMcpDemo(gh.db);
  const api = (await apis.findApi(gh.db, DEMO.mcpEndpoint))!;
  assert.equal(api.openToDynamicClients, true);
  assert.deepEqual(api.scopes.map((s) => s.name), ['notes:admin', 'notes:read', 'notes:write']);
  assert.deepEqual([...(await users.findUser(gh.db, 'johndoe'))!.roles].sort(), ['note-taker', 'user']);
});
