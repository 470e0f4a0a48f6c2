// APIs, clients, API keys, signing keys and the audit log.
import { useState } from 'preact/hooks';
import { query, type Page } from './api.ts';
import { useConsole } from './context.ts';
import { AuditTable, type AuditEvent } from './people.tsx';
import { ConfirmButton, EditForm, Field, fieldSuffix, FormError, forFields, list, Pager, Section, ShownOnce, suffixed, useAction, useLoad, when } from './ui.tsx';

interface Api { id: string; identifier: string; name: string; scopes: { name: string; description: string | null }[]; managed: boolean }
interface Client { client_id: string; name: string; type?: string; token_endpoint_auth_method: string; redirect_uris: string[]; grant_types: string[]; scopes: string[]; apis: string[]; cors_origins: string[]; backchannel_logout_uri?: string | null; first_party: boolean; managed: boolean; revoked_at?: string | null }
interface ApiKey { id: string; name: string; owner: { kind: string; id: string }; api: string; scopes: string[]; created_at: string; expires_at: string | null; last_used_at: string | null; revoked_at: string | null }
interface SigningKey { kid: string; alg: string; state: string; created_at: string; activates_at: string | null; activated_at: string | null; retired_at: string | null }

export function Apis() {
  const { call, can } = useConsole();
  const apis = useLoad(() => call<Page<Api>>('GET', '/apis?limit=200'), []);
  const [form, setForm] = useState({ identifier: '', name: '', scopes: '' });
  const [error, busy, run] = useAction();
  return (
    <>
      <h1>APIs</h1>
      {can('admin:apis:write') && (
        <Section title="New API">
          <form
            onSubmit={(e) => {
              e.preventDefault();
              void run(async () => {
                await call('POST', '/apis', { identifier: form.identifier, name: form.name, scopes: list(form.scopes).map((name) => ({ name })) });
                setForm({ identifier: '', name: '', scopes: '' });
                apis.reload();
              });
            }}
          >
            <Field label="Identifier" name="identifier" value={form.identifier} onInput={(v) => setForm({ ...form, identifier: v })} error={error as never} hint="An absolute URL: the audience of its tokens." required />
            <Field label="Name" name="name" value={form.name} onInput={(v) => setForm({ ...form, name: v })} error={error as never} required />
            <Field label="Scopes" name="scopes" value={form.scopes} onInput={(v) => setForm({ ...form, scopes: v })} error={error as never} hint="Separated by spaces." />
            <FormError error={error} />
            <button type="submit" disabled={busy}>Create API</button>
          </form>
        </Section>
      )}
      <Section title="All APIs">
        <ul class="cards">
          {apis.data?.items.map((a) => (
            <li key={a.id}>
              <strong>{a.name}</strong> <code>{a.identifier}</code> {a.managed && <span class="badge">managed</span>}
              <ul>{a.scopes.map((s) => <li key={s.name}><code>{s.name}</code> {s.description}</li>)}</ul>
              {can('admin:apis:write') && !a.managed && <EditApiScopes api={a} onSaved={apis.reload} />}
              {can('admin:apis:write') && !a.managed && <ConfirmButton label="Delete API" question={`Delete the API ${a.name}? Clients lose access to it.`} onConfirm={() => run(async () => (await call('DELETE', `/apis/${a.id}`), apis.reload()))} />}
            </li>
          ))}
        </ul>
      </Section>
    </>
  );
}

interface ScopeRow { name: string; description: string }

/**
 * The scopes of an API, added, described and removed in place (PATCH /apis/{id}: the list sent
 * replaces the API's). Rows left without a name are not sent.
 */
function EditApiScopes({ api, onSaved }: { api: Api; onSaved: () => void }) {
  const { call } = useConsole();
  const [rows, setRows] = useState<ScopeRow[]>(api.scopes.map((s) => ({ name: s.name, description: s.description ?? '' })));
  const [sent, setSent] = useState<number[]>([]);
  const [error, busy, run] = useAction();
  const id = fieldSuffix(api.id);
  const nameField = (row: number) => `scope-${row}-${id}`;
  const descriptionField = (row: number) => `scope_description-${row}-${id}`;
  // The API names `scopes[i].name` / `scopes[i].description` of what was sent, or `scopes.<name>.description`.
  const shown = forFields(error, (field) => {
    const byIndex = /^scopes\[(\d+)\]\.(name|description)$/.exec(field);
    const byName = /^scopes\.(.+)\.description$/.exec(field);
    const row = byIndex ? sent[Number(byIndex[1])] : byName ? rows.findIndex((r) => r.name.trim() === byName[1]) : undefined;
    if (row === undefined || row < 0) return undefined;
    return byIndex?.[2] === 'name' ? nameField(row) : descriptionField(row);
  });
  const change = (row: number, key: keyof ScopeRow) => (value: string) => setRows(rows.map((r, i) => (i === row ? { ...r, [key]: value } : r)));
  const save = () => run(async () => {
    const kept = rows.map((r, row) => ({ ...r, name: r.name.trim(), row })).filter((r) => r.name !== '');
    setSent(kept.map((r) => r.row));
    await call('PATCH', `/apis/${api.id}`, { scopes: kept.map((r) => ({ name: r.name, description: r.description.trim() || null })) });
    onSaved();
  });
  return (
    <EditForm summary={`Edit scopes of ${api.name}`} submit="Save scopes" error={shown} busy={busy} onSubmit={() => void save()}>
      <p class="hint">A removed scope: new tokens no longer carry it, tokens already issued keep it until they expire, and roles and clients that name it keep the name.</p>
      {rows.map((r, row) => (
        <fieldset key={row} class="row">
          <legend>Scope {row + 1}</legend>
          <Field label={`Name of scope ${row + 1}`} name={nameField(row)} value={r.name} onInput={change(row, 'name')} error={shown} />
          <Field label={`Description of scope ${row + 1}`} name={descriptionField(row)} value={r.description} onInput={change(row, 'description')} error={shown} />
          <button type="button" class="small secondary" onClick={() => setRows(rows.filter((_, i) => i !== row))}>Remove scope {row + 1}</button>
        </fieldset>
      ))}
      <div class="actions">
        <button type="button" class="small secondary" onClick={() => setRows([...rows, { name: '', description: '' }])}>Add scope</button>
      </div>
    </EditForm>
  );
}

export function Clients() {
  const { call, can } = useConsole();
  const clients = useLoad(() => call<Page<Client>>('GET', '/clients?limit=200'), []);
  const empty = { name: '', kind: 'confidential', grants: 'client_credentials', redirects: '', apis: '', scopes: '', cors: '', firstParty: 'yes', backchannel: '' };
  const [form, setForm] = useState(empty);
  const [secret, setSecret] = useState<{ label: string; value: string } | undefined>();
  const [error, busy, run] = useAction();
  const set = (key: keyof typeof empty) => (value: string) => setForm({ ...form, [key]: value });
  const grants = list(form.grants);
  return (
    <>
      <h1>Clients</h1>
      {secret && <ShownOnce label={secret.label} value={secret.value} />}
      {can('admin:clients:write') && (
        <Section title="New client">
          <form
            onSubmit={(e) => {
              e.preventDefault();
              void run(async () => {
                const created = await call<{ client: Client; client_secret?: string }>('POST', '/clients', {
                  name: form.name,
                  public: form.kind === 'public',
                  grant_types: grants,
                  ...(form.redirects ? { redirect_uris: list(form.redirects) } : {}),
                  apis: list(form.apis),
                  scopes: list(form.scopes),
                  ...(form.cors ? { cors_origins: list(form.cors) } : {}),
                  ...(grants.includes('authorization_code') ? { first_party: form.firstParty === 'yes' } : {}),
                  ...(grants.includes('authorization_code') && form.backchannel ? { backchannel_logout_uri: form.backchannel.trim() } : {}),
                });
                if (created.client_secret) setSecret({ label: `Secret of ${created.client.client_id}`, value: created.client_secret });
                setForm(empty);
                clients.reload();
              });
            }}
          >
            <Field label="Name" name="name" value={form.name} onInput={set('name')} error={error as never} required />
            <div class="field">
              <label for="field-kind">Kind</label>
              <select id="field-kind" value={form.kind} onChange={(e) => set('kind')((e.target as HTMLSelectElement).value)}>
                <option value="confidential">Confidential (a server: has a secret)</option>
                <option value="public">Public (a browser or native app: no secret)</option>
              </select>
            </div>
            <Field label="Grant types" name="grant_types" value={form.grants} onInput={set('grants')} error={error as never} hint="authorization_code, refresh_token, client_credentials, password; separated by spaces." />
            <Field label="Redirect URIs" name="redirect_uris" value={form.redirects} onInput={set('redirects')} error={error as never} hint="For authorization_code; separated by spaces." />
            <Field label="APIs" name="apis" value={form.apis} onInput={set('apis')} error={error as never} hint="Identifiers of the APIs it may get tokens for." />
            <Field label="Scopes" name="scopes" value={form.scopes} onInput={set('scopes')} error={error as never} hint="The most it may ask for." />
            <Field label="CORS origins" name="cors_origins" value={form.cors} onInput={set('cors')} error={error as never} />
            {grants.includes('authorization_code') && (
              <div class="field">
                <label for="field-first_party">First-party (skips the consent page)</label>
                <select id="field-first_party" value={form.firstParty} onChange={(e) => set('firstParty')((e.target as HTMLSelectElement).value)}>
                  <option value="yes">Yes: your own application</option>
                  <option value="no">No: users are asked to consent</option>
                </select>
              </div>
            )}
            {grants.includes('authorization_code') && (
              <Field label="Back-channel logout URI" name="backchannel_logout_uri" value={form.backchannel} onInput={set('backchannel')} error={error as never} hint="Optional: where Gatehouse POSTs a logout token when a user's session ends." />
            )}
            <FormError error={error} />
            <button type="submit" disabled={busy}>Create client</button>
          </form>
        </Section>
      )}
      <Section title="All clients">
        <ul class="cards">
          {clients.data?.items.map((c) => (
            <li key={c.client_id}>
              <strong>{c.name}</strong> <code>{c.client_id}</code> {c.managed && <span class="badge">managed</span>}
              <p class="hint">{c.token_endpoint_auth_method === 'none' ? 'public' : 'confidential'}; grants {c.grant_types.join(', ')}; APIs {c.apis.join(', ') || 'none'}; scopes {c.scopes.join(' ') || 'none'}</p>
              {c.redirect_uris.length > 0 && <p class="hint">Redirects: {c.redirect_uris.join(' ')}</p>}
              {c.cors_origins.length > 0 && <p class="hint">CORS origins: {c.cors_origins.join(' ')}</p>}
              {c.backchannel_logout_uri && <p class="hint">Back-channel logout: {c.backchannel_logout_uri}</p>}
              {can('admin:clients:write') && !c.managed && <EditClient client={c} onSaved={clients.reload} />}
              {can('admin:clients:write') && !c.managed && (
                <div class="actions">
                  {c.token_endpoint_auth_method !== 'none' && (
                    <ConfirmButton label="Rotate secret" question={`Rotate the secret of ${c.client_id}? The old one stops working.`} onConfirm={() => run(async () => {
                      const rotated = await call<{ client_secret: string }>('POST', `/clients/${encodeURIComponent(c.client_id)}/secret`);
                      setSecret({ label: `New secret of ${c.client_id}`, value: rotated.client_secret });
                    })} />
                  )}
                  <ConfirmButton label="Delete client" question={`Delete ${c.client_id}? Its tokens stop working.`} onConfirm={() => run(async () => (await call('DELETE', `/clients/${encodeURIComponent(c.client_id)}`), clients.reload()))} />
                </div>
              )}
            </li>
          ))}
        </ul>
      </Section>
    </>
  );
}

/** Grants, redirect URIs, CORS origins and back-channel logout URI of a client, changed in place (PATCH /clients/{id}). */
function EditClient({ client, onSaved }: { client: Client; onSaved: () => void }) {
  const { call } = useConsole();
  const initial = { grants: client.grant_types.join(' '), redirects: client.redirect_uris.join(' '), cors: client.cors_origins.join(' '), backchannel: client.backchannel_logout_uri ?? '' };
  const [form, setForm] = useState(initial);
  const [error, busy, run] = useAction();
  const id = fieldSuffix(client.client_id);
  // The API names the field (`redirect_uris`); each client's form has its own field ids.
  const shown = forFields(error, suffixed(id, ['grant_types', 'redirect_uris', 'cors_origins', 'backchannel_logout_uri']));
  const save = () => run(async () => {
    await call('PATCH', `/clients/${encodeURIComponent(client.client_id)}`, {
      grant_types: list(form.grants),
      redirect_uris: list(form.redirects),
      cors_origins: list(form.cors),
      // Emptied: no more logout tokens.
      backchannel_logout_uri: form.backchannel.trim() || null,
    });
    onSaved();
  });
  return (
    <EditForm summary={`Edit ${client.name}`} submit="Save client" error={shown} busy={busy} onSubmit={() => void save()}>
      <Field label="Grant types" name={`grant_types-${id}`} value={form.grants} onInput={(v) => setForm({ ...form, grants: v })} error={shown} />
      <Field label="Redirect URIs" name={`redirect_uris-${id}`} value={form.redirects} onInput={(v) => setForm({ ...form, redirects: v })} error={shown} />
      <Field label="CORS origins" name={`cors_origins-${id}`} value={form.cors} onInput={(v) => setForm({ ...form, cors: v })} error={shown} />
      <Field label="Back-channel logout URI" name={`backchannel_logout_uri-${id}`} value={form.backchannel} onInput={(v) => setForm({ ...form, backchannel: v })} error={shown} />
    </EditForm>
  );
}

export function ApiKeys() {
  const { call, can } = useConsole();
  const keys = useLoad(() => call<Page<ApiKey>>('GET', '/api-keys?limit=200&include_revoked=true'), []);
  const [form, setForm] = useState({ ownerKind: 'client', ownerId: '', api: '', scopes: '', name: '' });
  const [shown, setShown] = useState<string | undefined>();
  const [error, busy, run] = useAction();
  const set = (key: keyof typeof form) => (value: string) => setForm({ ...form, [key]: value });
  return (
    <>
      <h1>API keys</h1>
      {shown && <ShownOnce label="The new API key" value={shown} />}
      {can('admin:api-keys:write') && (
        <Section title="New API key">
          <form
            onSubmit={(e) => {
              e.preventDefault();
              void run(async () => {
                const created = await call<{ key: string }>('POST', '/api-keys', { owner: { kind: form.ownerKind, id: form.ownerId }, api: form.api, scopes: list(form.scopes), ...(form.name ? { name: form.name } : {}) });
                setShown(created.key);
                keys.reload();
              });
            }}
          >
            <div class="field">
              <label for="field-owner-kind">Owner kind</label>
              <select id="field-owner-kind" value={form.ownerKind} onChange={(e) => set('ownerKind')((e.target as HTMLSelectElement).value)}>
                <option value="client">Client</option>
                <option value="user">User</option>
              </select>
            </div>
            <Field label="Owner" name="owner" value={form.ownerId} onInput={set('ownerId')} error={error as never} hint="A client id, or a username." required />
            <Field label="API" name="api" value={form.api} onInput={set('api')} error={error as never} hint="The identifier of the API the key is for." required />
            <Field label="Scopes" name="scopes" value={form.scopes} onInput={set('scopes')} error={error as never} />
            <Field label="Key name" name="name" value={form.name} onInput={set('name')} error={error as never} />
            <FormError error={error} />
            <button type="submit" disabled={busy}>Create API key</button>
          </form>
        </Section>
      )}
      <Section title="All API keys">
        <div class="table-wrap">
          <table>
            <thead><tr><th scope="col">Name</th><th scope="col">Owner</th><th scope="col">API</th><th scope="col">Scopes</th><th scope="col">Last used</th><th scope="col">State</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
            <tbody>
              {keys.data?.items.map((k) => (
                <tr key={k.id}>
                  <td>{k.name}</td>
                  <td>{k.owner.kind} {k.owner.id}</td>
                  <td><code>{k.api}</code></td>
                  <td>{k.scopes.join(' ')}</td>
                  <td>{when(k.last_used_at)}</td>
                  <td>{k.revoked_at ? `revoked ${when(k.revoked_at)}` : 'active'}</td>
                  <td>{can('admin:api-keys:write') && !k.revoked_at && <ConfirmButton label="Revoke key" question={`Revoke the key ${k.name}? Requests with it are refused at once.`} onConfirm={() => run(async () => (await call('POST', `/api-keys/${k.id}/revoke`), keys.reload()))} />}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </Section>
    </>
  );
}

export function SigningKeys() {
  const { call, can } = useConsole();
  const keys = useLoad(() => call<Page<SigningKey>>('GET', '/signing-keys'), []);
  const [error, , run] = useAction();
  return (
    <>
      <h1>Signing keys</h1>
      {can('admin:keys:write') && (
        <Section title="Rotate">
          <p>A new key is published at once and signs after the rotation delay, so every API has fetched it first.</p>
          <div class="actions">
            {['ES256', 'RS256'].map((alg) => (
              <ConfirmButton key={alg} label={`Rotate ${alg}`} danger={false} question={`Schedule a rotation of the ${alg} signing key?`} onConfirm={() => run(async () => (await call('POST', '/signing-keys/rotations', { alg }), keys.reload()))} />
            ))}
          </div>
          <FormError error={error} />
        </Section>
      )}
      <Section title="Keys">
        <div class="table-wrap">
          <table>
            <thead><tr><th scope="col">Key id</th><th scope="col">Algorithm</th><th scope="col">State</th><th scope="col">Created</th><th scope="col">Activates / activated</th><th scope="col">Retired</th></tr></thead>
            <tbody>
              {keys.data?.items.map((k) => (
                <tr key={k.kid}>
                  <td><code>{k.kid.slice(0, 16)}…</code></td>
                  <td>{k.alg}</td>
                  <td>{k.state}</td>
                  <td>{when(k.created_at)}</td>
                  <td>{when(k.activated_at ?? k.activates_at)}</td>
                  <td>{when(k.retired_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </Section>
    </>
  );
}

export function Audit() {
  const { call } = useConsole();
  const [filters, setFilters] = useState({ actor_id: '', type: '', since: '', until: '' });
  const [offset, setOffset] = useState(0);
  const iso = (local: string) => (local ? new Date(local).toISOString() : undefined);
  const events = useLoad(
    () => call<Page<AuditEvent>>('GET', `/audit-events${query({ actor_id: filters.actor_id, type: filters.type, since: iso(filters.since), until: iso(filters.until), offset, limit: 25 })}`),
    [filters, offset],
  );
  const set = (key: keyof typeof filters) => (value: string) => (setFilters({ ...filters, [key]: value }), setOffset(0));
  return (
    <>
      <h1>Audit log</h1>
      <Section title="Filter">
        <div class="filters">
          <Field label="Actor" name="actor_id" value={filters.actor_id} onInput={set('actor_id')} hint="A user id, client id or API key id." />
          <Field label="Action" name="type" value={filters.type} onInput={set('type')} hint="e.g. user.created, api_key.revoked" />
          <Field label="Since" name="since" type="datetime-local" value={filters.since} onInput={set('since')} />
          <Field label="Until" name="until" type="datetime-local" value={filters.until} onInput={set('until')} />
        </div>
      </Section>
      <Section title="Events">
        {events.error && <p class="error" role="alert">{events.error.message}</p>}
        <AuditTable events={events.data?.items ?? []} />
        {events.data && <Pager total={events.data.total} offset={offset} limit={25} onOffset={setOffset} />}
      </Section>
    </>
  );
}
