// The example's pages: plain server-rendered HTML, every value escaped, readable on a phone.

export interface Layout {
  readonly title: string;
  /** The signed-in user's name, shown with the sign-out button; undefined when signed out. */
  readonly user: string | undefined;
  readonly body: string;
}

/** Escapes text for HTML element content and quoted attribute values. */
export function escape(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function layout({ title, user, body }: Layout): string {
  const account = user === undefined
    ? '<a class="button" href="/notes">Sign in</a>'
    : `<span class="who">Signed in as <strong>${escape(user)}</strong></span>
      <form method="post" action="/auth/logout"><button type="submit" class="secondary">Sign out</button></form>`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escape(title)} · Notes</title>
<link rel="stylesheet" href="/style.css">
</head>
<body>
<header>
  <a class="brand" href="/">Notes</a>
  <nav aria-label="Account">${account}</nav>
</header>
<main>
${body}
</main>
<footer><p>A server-rendered app signed in with Gatehouse (<code>@gatehouse/sdk/webapp</code>).</p></footer>
</body>
</html>
`;
}

export function homePage(user: string | undefined): string {
  return layout({
    title: 'Home',
    user,
    body: `<h1>Notes</h1>
<p>A small server-rendered app. Your notes are behind a sign-in: the app sends you to the Gatehouse
login page and keeps you signed in with an encrypted, HttpOnly cookie.</p>
<p><a class="button" href="/notes">${user === undefined ? 'Sign in to see your notes' : 'Go to your notes'}</a></p>`,
  });
}

export interface NotesPage {
  readonly user: string;
  readonly subject: string;
  readonly scopes: readonly string[];
  readonly expiresAt: Date;
  readonly notes: readonly string[];
  /** What the items API answered with the visitor's access token, or why it could not be asked. */
  readonly items: { readonly ok: true; readonly names: readonly string[] } | { readonly ok: false; readonly reason: string };
}

export function notesPage(page: NotesPage): string {
  const items = page.items.ok
    ? page.items.names.length === 0
      ? '<p>No items.</p>'
      : `<ul id="items">${page.items.names.map((name) => `<li>${escape(name)}</li>`).join('')}</ul>`
    : `<p id="items" class="muted">${escape(page.items.reason)}</p>`;
  const notes = page.notes.length === 0
    ? '<p class="muted">No notes yet.</p>'
    : `<ul id="notes">${page.notes.map((note) => `<li>${escape(note)}</li>`).join('')}</ul>`;
  return layout({
    title: 'Your notes',
    user: page.user,
    body: `<h1>Your notes</h1>
<section aria-labelledby="who">
<h2 id="who">Who is signed in</h2>
<dl>
  <dt>Username</dt><dd id="username">${escape(page.user)}</dd>
  <dt>User id</dt><dd><code>${escape(page.subject)}</code></dd>
  <dt>Scopes</dt><dd id="scopes">${page.scopes.map((s) => `<code>${escape(s)}</code>`).join(' ')}</dd>
  <dt>Access token expires</dt><dd><time id="token-expires" datetime="${page.expiresAt.toISOString()}">${escape(page.expiresAt.toISOString().replace('T', ' ').slice(0, 19))} UTC</time>
  <span class="muted">(refreshed automatically before then)</span></dd>
</dl>
</section>
<section aria-labelledby="notes-title">
<h2 id="notes-title">Notes</h2>
${notes}
<form method="post" action="/notes" class="stack">
  <label for="note">New note</label>
  <input id="note" name="note" required maxlength="200" autocomplete="off">
  <button type="submit">Add note</button>
</form>
</section>
<section aria-labelledby="items-title">
<h2 id="items-title">Your items, from the items API</h2>
${items}
</section>`,
  });
}

export const STYLE = `
:root { color-scheme: light dark; --accent: #3556d8; --muted: #6b7280; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; }
header { display: flex; flex-wrap: wrap; gap: .75rem; align-items: center; justify-content: space-between;
  padding: .75rem 1rem; border-bottom: 1px solid #8883; }
.brand { font-weight: 700; font-size: 1.2rem; text-decoration: none; color: inherit; }
nav { display: flex; flex-wrap: wrap; gap: .75rem; align-items: center; }
nav form { margin: 0; }
main { max-width: 42rem; margin: 0 auto; padding: 1rem; }
footer { max-width: 42rem; margin: 2rem auto; padding: 0 1rem; color: var(--muted); font-size: .875rem; }
h1 { font-size: 1.6rem; margin: .5rem 0 1rem; }
h2 { font-size: 1.2rem; margin-top: 2rem; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; }
dt { font-weight: 600; }
dd { margin: 0; overflow-wrap: anywhere; }
.muted { color: var(--muted); }
.stack { display: flex; flex-direction: column; gap: .5rem; max-width: 28rem; }
label { font-weight: 600; }
input { font: inherit; padding: .6rem .7rem; border: 1px solid #8888; border-radius: .4rem; }
button, .button { font: inherit; cursor: pointer; display: inline-block; padding: .6rem 1rem; border-radius: .4rem;
  border: 1px solid var(--accent); background: var(--accent); color: #fff; text-decoration: none; }
button.secondary { background: transparent; color: inherit; border-color: #8888; }
button:focus-visible, .button:focus-visible, input:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
@media (max-width: 480px) {
  dl { grid-template-columns: 1fr; }
  dd { margin-bottom: .5rem; }
  .stack button { width: 100%; }
}
`;
