// The admin console: signs in (auth.ts), then shows the pages the token's admin scopes allow.
// Navigation is by the URL's hash (#/users), so the server serves one page.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { apiClient } from './api.ts';
import { Apis, ApiKeys, Audit, Clients, SigningKeys } from './apps.tsx';
import { completeSignIn, readSettings, signIn, signOutUrl, type Session, type Settings } from './auth.ts';
import { ConsoleContext, type Ctx } from './context.ts';
import { Overview, Roles, Users } from './people.tsx';
import { Providers, Streams } from './signals.tsx';
import './console.css';

interface PageDef {
  readonly path: string;
  readonly title: string;
  /** The read scope the page needs; absent: any admin token. */
  readonly scope?: string;
  readonly view: () => preact.JSX.Element;
}

const PAGES: readonly PageDef[] = [
  { path: '', title: 'Overview', view: Overview },
  { path: 'users', title: 'Users', scope: 'admin:users:read', view: Users },
  { path: 'roles', title: 'Roles', scope: 'admin:roles:read', view: Roles },
  { path: 'apis', title: 'APIs', scope: 'admin:apis:read', view: Apis },
  { path: 'clients', title: 'Clients', scope: 'admin:clients:read', view: Clients },
  { path: 'api-keys', title: 'API keys', scope: 'admin:api-keys:read', view: ApiKeys },
  { path: 'signing-keys', title: 'Signing keys', scope: 'admin:keys:read', view: SigningKeys },
  { path: 'providers', title: 'Sign-in providers', scope: 'admin:providers:read', view: Providers },
  { path: 'streams', title: 'Event streams', scope: 'admin:streams:read', view: Streams },
  { path: 'audit', title: 'Audit log', scope: 'admin:audit:read', view: Audit },
];

const currentPath = (): string => location.hash.replace(/^#\/?/, '');

function Console({ settings, session }: { settings: Settings; session: Session }) {
  const [path, setPath] = useState(currentPath());
  useEffect(() => {
    const follow = () => setPath(currentPath());
    addEventListener('hashchange', follow);
    return () => removeEventListener('hashchange', follow);
  }, []);
  // A 401 after the token's lifetime: sign in again (answered at once from the login session).
  // Before it, the token was revoked (user disabled, sessions ended): say so, never loop.
  const expired = () => {
    if (Date.now() >= session.expiresAt - 5000) void signIn(settings);
  };
  const ctx: Ctx = { call: apiClient(session.accessToken, expired), can: (scope) => session.scopes.has(scope) };
  const visible = PAGES.filter((p) => !p.scope || ctx.can(p.scope));
  const page = visible.find((p) => p.path === path) ?? visible[0]!;
  useEffect(() => {
    document.title = `${page.title} · Admin · ${settings.brand}`;
    document.getElementById('main')?.focus();
  }, [page]);
  return (
    <ConsoleContext.Provider value={ctx}>
      <a class="skip" href="#main" onClick={(e) => (e.preventDefault(), document.getElementById('main')?.focus())}>Skip to content</a>
      <header class="top">
        <p class="brand">{settings.logo && <img class="logo" src={settings.logo} alt="" height={32} />}<span>{settings.brand} admin</span></p>
        <a href={signOutUrl(settings)}>Sign out</a>
      </header>
      <div class="layout">
        <nav aria-label="Admin console">
          <ul>
            {visible.map((p) => (
              <li key={p.path}>
                <a href={`#/${p.path}`} aria-current={p === page ? 'page' : undefined}>{p.title}</a>
              </li>
            ))}
          </ul>
        </nav>
        <main id="main" tabIndex={-1}>
          <page.view key={page.path} />
        </main>
      </div>
    </ConsoleContext.Provider>
  );
}

function Failure({ message, settings }: { message: string; settings: Settings }) {
  return (
    <main class="card">
      <h1>Admin console</h1>
      <p class="error" role="alert">{message}</p>
      <button type="button" onClick={() => void signIn(settings)}>Sign in again</button>
    </main>
  );
}

async function start(): Promise<void> {
  const root = document.getElementById('console')!;
  const settings = readSettings();
  // The page's "Loading…" placeholder goes: Preact renders into an empty element.
  const placeholder = root.querySelector('.loading');
  try {
    const session = await completeSignIn(settings);
    if (!session) return void (await signIn(settings));
    placeholder?.remove();
    if (session.scopes.size === 0) {
      render(<Failure settings={settings} message="Your account holds no admin scope: ask an administrator for a role that grants one." />, root);
      return;
    }
    render(<Console settings={settings} session={session} />, root);
  } catch (error) {
    placeholder?.remove();
    render(<Failure settings={settings} message={(error as Error).message} />, root);
  }
}

void start();
