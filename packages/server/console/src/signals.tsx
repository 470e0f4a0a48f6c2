// Other identity providers users sign in with (ADR 0017) and the Shared Signals streams of the
// APIs (ADR 0016): what an operator watches and switches, not what they configure (the CLI and
// the admin API add providers; APIs make their own streams).
import type { Page } from './api.ts';
import { useConsole } from './context.ts';
import { ConfirmButton, FormError, Section, useAction, useLoad, when } from './ui.tsx';

interface Provider { id: string; name: string; kind: string; issuer: string; client_id: string; roles: string[]; trust_mfa: boolean; enabled: boolean; redirect_uri: string }
interface Stream {
  id: string;
  client_id: string;
  description: string | null;
  delivery_method: string;
  endpoint_url: string | null;
  status: string;
  pending: number;
  last_delivery_at: string | null;
  failures: number;
  last_error: string | null;
}

export function Providers() {
  const { call, can } = useConsole();
  const providers = useLoad(() => call<{ items: Provider[] }>('GET', '/upstream-providers'), []);
  const [error, , run] = useAction();
  const items = providers.data?.items ?? [];
  return (
    <>
      <h1>Sign-in providers</h1>
      <Section title="Other identity providers">
        <p>Offered on the login page as "Sign in with …". Add one with <code>gatehouse providers add</code> or the admin API.</p>
        {items.length === 0 ? (
          <p>None.</p>
        ) : (
          <div class="table-wrap">
            <table>
              <thead><tr><th scope="col">Name</th><th scope="col">Kind</th><th scope="col">Issuer</th><th scope="col">Roles given</th><th scope="col">Their second factor</th><th scope="col">Offered</th>{can('admin:providers:write') && <th scope="col"><span class="visually-hidden">Actions</span></th>}</tr></thead>
              <tbody>
                {items.map((p) => (
                  <tr key={p.id}>
                    <td>{p.name} <code>{p.id}</code></td>
                    <td>{p.kind}</td>
                    <td><code>{p.issuer}</code></td>
                    <td>{p.roles.join(', ') || '—'}</td>
                    <td>{p.trust_mfa ? 'counts' : 'a code here too'}</td>
                    <td>{p.enabled ? 'yes' : 'no'}</td>
                    {can('admin:providers:write') && (
                      <td>
                        <ConfirmButton
                          label={p.enabled ? `Disable ${p.name}` : `Enable ${p.name}`}
                          danger={p.enabled}
                          question={p.enabled ? `Stop offering ${p.name} on the login page?` : `Offer ${p.name} on the login page again?`}
                          onConfirm={() => run(async () => (await call('PATCH', `/upstream-providers/${encodeURIComponent(p.id)}`, { enabled: !p.enabled }), providers.reload()))}
                        />
                      </td>
                    )}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        <FormError error={error ?? providers.error} />
      </Section>
    </>
  );
}

export function Streams() {
  const { call, can } = useConsole();
  const streams = useLoad(() => call<Page<Stream>>('GET', '/streams?limit=200'), []);
  const [error, , run] = useAction();
  const items = streams.data?.items ?? [];
  const setStatus = (s: Stream, status: string) => run(async () => (await call('POST', `/streams/${encodeURIComponent(s.id)}/status`, { status }), streams.reload()));
  return (
    <>
      <h1>Event streams</h1>
      <Section title="Shared Signals streams">
        <p>APIs that hear of revocations as they happen. Pending is the lag: events not yet delivered or acknowledged.</p>
        {items.length === 0 ? (
          <p>None.</p>
        ) : (
          <div class="table-wrap">
            <table>
              <thead><tr><th scope="col">API (client)</th><th scope="col">Delivery</th><th scope="col">Status</th><th scope="col">Pending</th><th scope="col">Last delivery</th><th scope="col">Failures</th>{can('admin:streams:write') && <th scope="col"><span class="visually-hidden">Actions</span></th>}</tr></thead>
              <tbody>
                {items.map((s) => (
                  <tr key={s.id}>
                    <td>{s.client_id}{s.description ? <div class="hint">{s.description}</div> : null}</td>
                    <td>{s.delivery_method === 'push' ? <>push to <code>{s.endpoint_url}</code></> : 'poll'}</td>
                    <td>{s.status}</td>
                    <td>{s.pending}</td>
                    <td>{when(s.last_delivery_at)}</td>
                    <td>{s.failures}{s.last_error ? <div class="hint">{s.last_error}</div> : null}</td>
                    {can('admin:streams:write') && (
                      <td>
                        {s.status === 'enabled' ? (
                          <ConfirmButton label={`Pause ${s.client_id}`} danger={false} question={`Pause this stream? Its events are kept until it resumes.`} onConfirm={() => setStatus(s, 'paused')} />
                        ) : (
                          <ConfirmButton label={`Resume ${s.client_id}`} danger={false} question={`Resume this stream?`} onConfirm={() => setStatus(s, 'enabled')} />
                        )}
                        <ConfirmButton label={`Delete ${s.client_id}`} question={`Delete this stream? Its API makes a new one when it starts again.`} onConfirm={() => run(async () => (await call('DELETE', `/streams/${encodeURIComponent(s.id)}`), streams.reload()))} />
                      </td>
                    )}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        <FormError error={error ?? streams.error} />
      </Section>
    </>
  );
}
