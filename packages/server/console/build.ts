// Builds the admin console (src/ → dist/console.js, dist/console.css) with esbuild: one ES module
// with Preact inside, no source maps, deterministic output. Run by `npm ci` (the root postinstall),
// `npm start`, `npm test` and `prepack`, so neither a clone nor the published package depends on
// a committed build (docs/adr/0010-admin-console.md). The same step builds the passkey script of
// the login and account pages (src/passkeys.ts, with @simplewebauthn/browser inside; served at
// /assets/passkeys.js by the pages, docs/adr/0015-passkeys.md).
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
await build({
  absWorkingDir: here,
  // The stylesheet main.tsx imports becomes dist/console.css beside dist/console.js.
  entryPoints: { console: 'src/main.tsx', passkeys: 'src/passkeys.ts' },
  entryNames: '[name]',
  outdir: 'dist',
  bundle: true,
  format: 'esm',
  target: 'es2022',
  minify: true,
  jsx: 'automatic',
  jsxImportSource: 'preact',
  legalComments: 'none',
  logLevel: 'warning',
});
