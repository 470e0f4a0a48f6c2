// Overview, users and roles.
import { useState } from 'preact/hooks';
import { ApiError, query, type Page } from './api.ts';
import { useConsole } from './context.ts';
import { Checkbox, ConfirmButton, EditForm, Field, fieldSuffix, FormError, forFields, list, Pager, Section, suffixed, useAction, useLoad, when } from './ui.tsx';

interface User { id: string; username: string; email: string | null; email_verified: boolean; disabled: boolean; two_factor: boolean; roles: string[]; created_at: string }
interface Role { id: string; name: string; description: string | null; scopes: string[] }
export interface AuditEvent { id: string; at: string; type: string; outcome: string; actor: { kind: string; id: string | null }; target: { kind: string; id: string } | null; ip: string | null; details: Record<string, unknown> }
interface SigningKey { kid: string; alg: string; state: string; activates_at: string | null; activated_at: string | null; retired_at: string | null }

const count = async (call: ReturnType<typeof useConsole>['call'], path: string) => (await call<Page<unknown>>('GET', `${path}?limit=1`)).total;

export function Overview() {
  const { call, can } = useConsole();
  const counts = useLoad(async () => {
    const entries = await Promise.all(
      ([['users', 'admin:users:read'], ['roles', 'admin:roles:read'], ['apis', 'admin:apis:read'], ['clients', 'admin:clients:read'], ['api-keys', 'admin:api-keys:read']] as const)
        .filter(([, scope]) => can(scope))
        .map(async ([path]) => [path, await count(call, `/${path}`)] as const),
    );
    return entries;
  }, []);
  const logins = useLoad(async () => (can('admin:audit:read') ? (await call<Page<AuditEvent>>('GET', `/audit-events${query({ type: 'login', limit: 10 })}`)).items : []), []);
  const keys = useLoad(async () => (can('admin:keys:read') ? (await call<Page<SigningKey>>('GET', '/signing-keys')).items : []), []);
  return (
    <>
      <h1>Overview</h1>
      <Section title="Counts">
        <dl class="counts">
          {counts.data?.map(([name, total]) => (
            <div key={name}>
              <dt>{name.replace('-', ' ')}</dt>
              <dd>{total}</dd>
            </div>
          ))}
        </dl>
      </Section>
      {can('admin:audit:read') && (
        <Section title="Recent sign-ins">
          <AuditTable events={logins.data ?? []} />
        </Section>
      )}
      {can('admin:keys:read') && (
        <Section title="Signing keys">
          <ul>{keys.data?.map((k) => <li key={k.kid}>{k.alg} {k.state} <code>{k.kid.slice(0, 12)}</code></li>)}</ul>
        </Section>
      )}
    </>
  );
}

export function AuditTable({ events }: { events: AuditEvent[] }) {
  return (
    <div class="table-wrap">
      <table>
        <thead>
          <tr><th scope="col">When</th><th scope="col">Action</th><th scope="col">Outcome</th><th scope="col">Actor</th><th scope="col">Target</th></tr>
        </thead>
        <tbody>
          {events.map((e) => (
            <tr key={e.id}>
              <td>{when(e.at)}</td>
              <td><code>{e.type}</code></td>
              <td class={e.outcome === 'failure' ? 'bad' : ''}>{e.outcome}</td>
              <td>{e.actor.kind}{e.actor.id ? ` ${e.actor.id}` : ''}</td>
              <td>{e.target ? `${e.target.kind} ${e.target.id}` : '—'}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function Users() {
  const { call, can } = useConsole();
  const [q, setQ] = useState('');
  const [offset, setOffset] = useState(0);
  const [selected, setSelected] = useState<string | undefined>();
  const users = useLoad(() => call<Page<User>>('GET', `/users${query({ q, offset, limit: 20 })}`), [q, offset]);
  return (
    <>
      <h1>Users</h1>
      {can('admin:users:write') && <NewUser onCreated={users.reload} />}
      <Section title="All users">
        <Field label="Search" name="q" value={q} onInput={(v) => (setQ(v), setOffset(0))} hint="Part of a username or an email address." />
        <div class="table-wrap">
          <table>
            <thead><tr><th scope="col">Username</th><th scope="col">Email</th><th scope="col">Roles</th><th scope="col">State</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
            <tbody>
              {users.data?.items.map((u) => (
                <tr key={u.id}>
                  <td>{u.username}</td>
                  <td>{u.email ?? '—'}</td>
                  <td>{u.roles.join(', ') || '—'}</td>
                  <td>{u.disabled ? 'disabled' : 'active'}{u.two_factor ? ', two-factor' : ''}</td>
                  <td><button type="button" class="small secondary" onClick={() => setSelected(u.id)} aria-label={`Open ${u.username}`}>Open</button></td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        {users.data && <Pager total={users.data.total} offset={offset} limit={20} onOffset={setOffset} />}
      </Section>
      {selected && <UserDetail id={selected} onChanged={users.reload} />}
    </>
  );
}

function NewUser({ onCreated }: { onCreated: () => void }) {
  const { call } = useConsole();
  const [form, setForm] = useState({ username: '', email: '', password: '', roles: '' });
  const [error, busy, run] = useAction();
  const set = (key: keyof typeof form) => (value: string) => setForm({ ...form, [key]: value });
  return (
    <Section title="New user">
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void run(async () => {
            await call('POST', '/users', { username: form.username, ...(form.email ? { email: form.email } : {}), ...(form.password ? { password: form.password } : {}), roles: list(form.roles) });
            setForm({ username: '', email: '', password: '', roles: '' });
            onCreated();
          });
        }}
      >
        <Field label="Username" name="username" value={form.username} onInput={set('username')} error={error as never} required />
        <Field label="Email" name="email" type="email" value={form.email} onInput={set('email')} error={error as never} />
        <Field label="Password" name="password" type="password" value={form.password} onInput={set('password')} error={error as never} hint="Optional: without one, the user sets it through the forgot-password page." />
        <Field label="Roles" name="roles" value={form.roles} onInput={set('roles')} error={error as never} hint="Role names, separated by spaces." />
        <FormError error={error} />
        <button type="submit" disabled={busy}>Create user</button>
      </form>
    </Section>
  );
}

function UserDetail({ id, onChanged }: { id: string; onChanged: () => void }) {
  const { call, can } = useConsole();
  const user = useLoad(() => call<User>('GET', `/users/${encodeURIComponent(id)}`), [id]);
  const trail = useLoad(async () => (can('admin:audit:read') ? (await call<Page<AuditEvent>>('GET', `/audit-events${query({ actor_id: id, limit: 10 })}`)).items : []), [id]);
  const [roles, setRoles] = useState<string | undefined>();
  const [error, busy, run] = useAction();
  const u = user.data;
  if (!u) return null;
  const saved = () => (user.reload(), onChanged());
  const act = (method: string, path: string, body?: unknown) => run(async () => {
    await call(method, `/users/${encodeURIComponent(u.id)}${path}`, body);
    saved();
  });
  // The new-user form on the same page has fields of the same names.
  const shown = forFields(error, suffixed('user', ['roles']));
  return (
    <Section title={`User ${u.username}`}>
      <p>Created {when(u.created_at)}; {u.disabled ? 'disabled' : 'active'}; two-factor {u.two_factor ? 'on' : 'off'}; email {u.email ?? 'none'}{u.email ? (u.email_verified ? ' (verified)' : ' (not verified)') : ''}.</p>
      {can('admin:users:write') && (
        <>
          <form onSubmit={(e) => (e.preventDefault(), void act('PATCH', '', { roles: list(roles ?? u.roles.join(' ')) }))}>
            <Field label="Roles of this user" name="roles-user" value={roles ?? u.roles.join(' ')} onInput={setRoles} error={shown} />
            <button type="submit" disabled={busy}>Save roles</button>
          </form>
          <div class="actions">
            {u.disabled ? (
              <ConfirmButton label="Enable user" danger={false} question={`Enable ${u.username}?`} onConfirm={() => act('POST', '/enable')} />
            ) : (
              <ConfirmButton label="Disable user" question={`Disable ${u.username}? Their sessions and tokens end at once.`} onConfirm={() => act('POST', '/disable')} />
            )}
            <ConfirmButton label="End sessions" question={`End every session and grant of ${u.username}?`} onConfirm={() => act('DELETE', '/sessions')} />
            {u.two_factor && <ConfirmButton label="Reset two-factor" question={`Turn off two-factor for ${u.username}?`} onConfirm={() => act('DELETE', '/two-factor')} />}
          </div>
          <FormError error={shown} />
          <EditEmail key={`email-${u.id}`} user={u} onSaved={saved} />
          <SetPassword key={`password-${u.id}`} user={u} onSaved={saved} />
        </>
      )}
      {can('admin:audit:read') && (
        <>
          <h3>What {u.username} did</h3>
          <AuditTable events={trail.data ?? []} />
        </>
      )}
    </Section>
  );
}

/** A user's email address and whether it is verified (PATCH /users/{id}); empty removes it. */
function EditEmail({ user, onSaved }: { user: User; onSaved: () => void }) {
  const { call } = useConsole();
  const [email, setEmail] = useState(user.email ?? '');
  const [verified, setVerified] = useState(user.email_verified);
  const [error, busy, run] = useAction();
  const shown = forFields(error, suffixed('user', ['email', 'email_verified']));
  const save = () => run(async () => {
    const next = email.trim() || null;
    // Only what changed, so the audit log's `changed` says what the operator changed.
    await call('PATCH', `/users/${encodeURIComponent(user.id)}`, { ...(next === user.email ? {} : { email: next }), email_verified: next ? verified : false });
    onSaved();
  });
  return (
    <EditForm summary="Edit email" submit="Save email" error={shown} busy={busy} onSubmit={() => void save()}>
      <Field label="Email of this user" name="email-user" type="email" value={email} onInput={setEmail} error={shown} hint="Empty removes it. Reset links sent to the old address stop working." />
      <Checkbox label="Email verified" name="email_verified-user" checked={verified} onChange={setVerified} />
    </EditForm>
  );
}

/**
 * A new password for a user (PUT /users/{id}/password), typed twice. The server refuses short and
 * common passwords; this form only checks that both copies match.
 */
function SetPassword({ user, onSaved }: { user: User; onSaved: () => void }) {
  const { call } = useConsole();
  const [form, setForm] = useState({ password: '', again: '' });
  const [done, setDone] = useState(false);
  const [error, busy, run] = useAction();
  const shown = forFields(error, suffixed('user', ['password', 'password_again']));
  const save = () => run(async () => {
    setDone(false);
    if (form.password !== form.again) throw new ApiError(400, 'invalid_request', 'the two passwords differ', 'password_again');
    await call('PUT', `/users/${encodeURIComponent(user.id)}/password`, { password: form.password });
    setForm({ password: '', again: '' });
    setDone(true);
    onSaved();
  });
  return (
    <EditForm summary="Set password" submit="Save password" error={shown} busy={busy} onSubmit={() => void save()}>
      <p class="hint">Ends every session of {user.username}: their refresh and access tokens stop working, and unused reset links too.</p>
      <Field label="New password" name="password-user" type="password" value={form.password} onInput={(v) => setForm({ ...form, password: v })} error={shown} required />
      <Field label="New password again" name="password_again-user" type="password" value={form.again} onInput={(v) => setForm({ ...form, again: v })} error={shown} required />
      {done && <p role="status">Password set; the sessions of {user.username} have ended.</p>}
    </EditForm>
  );
}

export function Roles() {
  const { call, can } = useConsole();
  const roles = useLoad(() => call<Page<Role>>('GET', '/roles?limit=200'), []);
  const [form, setForm] = useState({ name: '', description: '', scopes: '' });
  const [error, busy, run] = useAction();
  return (
    <>
      <h1>Roles</h1>
      {can('admin:roles:write') && (
        <Section title="New role">
          <form
            onSubmit={(e) => {
              e.preventDefault();
              void run(async () => {
                await call('POST', '/roles', { name: form.name, ...(form.description ? { description: form.description } : {}), scopes: list(form.scopes) });
                setForm({ name: '', description: '', scopes: '' });
                roles.reload();
              });
            }}
          >
            <Field label="Name" name="name" value={form.name} onInput={(v) => setForm({ ...form, name: v })} error={error as never} required />
            <Field label="Description" name="description" value={form.description} onInput={(v) => setForm({ ...form, description: v })} error={error as never} />
            <Field label="Scopes" name="scopes" value={form.scopes} onInput={(v) => setForm({ ...form, scopes: v })} error={error as never} hint="Scopes this role grants, separated by spaces." />
            <FormError error={error} />
            <button type="submit" disabled={busy}>Create role</button>
          </form>
        </Section>
      )}
      <Section title="All roles">
        <ul class="cards">
          {roles.data?.items.map((r) => (
            <li key={r.id}>
              <strong>{r.name}</strong> {r.description && <span class="hint">{r.description}</span>}
              <p><code>{r.scopes.join(' ') || '(no scopes)'}</code></p>
              {can('admin:roles:write') && <EditRole role={r} onSaved={roles.reload} />}
              {can('admin:roles:write') && <ConfirmButton label="Delete role" question={`Delete the role ${r.name}? Users lose what it grants.`} onConfirm={() => run(async () => (await call('DELETE', `/roles/${r.id}`), roles.reload()))} />}
            </li>
          ))}
        </ul>
      </Section>
    </>
  );
}

/** A role's description and scopes (PATCH /roles/{id}: the scopes sent replace the role's). */
function EditRole({ role, onSaved }: { role: Role; onSaved: () => void }) {
  const { call } = useConsole();
  const [form, setForm] = useState({ description: role.description ?? '', scopes: role.scopes.join(' ') });
  const [error, busy, run] = useAction();
  const id = fieldSuffix(role.id);
  const shown = forFields(error, suffixed(id, ['description', 'scopes']));
  const save = () => run(async () => {
    await call('PATCH', `/roles/${role.id}`, { description: form.description.trim() || null, scopes: list(form.scopes) });
    onSaved();
  });
  return (
    <EditForm summary={`Edit ${role.name}`} submit="Save role" error={shown} busy={busy} onSubmit={() => void save()}>
      <Field label={`Description of ${role.name}`} name={`description-${id}`} value={form.description} onInput={(v) => setForm({ ...form, description: v })} error={shown} />
      <Field label={`Scopes of ${role.name}`} name={`scopes-${id}`} value={form.scopes} onInput={(v) => setForm({ ...form, scopes: v })} error={shown} hint="Replaces the role's scopes; its users get the new ones at their next token or refresh." />
    </EditForm>
  );
}
