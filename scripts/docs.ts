// Writes the docs generated from the code: `npm run docs`. With `--check`, writes nothing and
// fails naming each stale file (scripts/docs.test.ts runs the same comparison in `npm test`).
import { readFileSync, writeFileSync } from 'node:fs';
import { renderConfigurationDocs } from '@gatehouse/server/internal/config/docs';
import { renderErrorsDocs } from './docs/errors.ts';

export const REPO_ROOT = new URL('../', import.meta.url);

/** Each generated doc and what it is generated from. */
export const GENERATED_DOCS: readonly { readonly path: string; readonly render: () => string }[] = [
  { path: 'docs/configuration.md', render: renderConfigurationDocs },
  { path: 'docs/errors.md', render: renderErrorsDocs },
];

if (import.meta.main) {
  const check = process.argv.includes('--check');
  const stale: string[] = [];
  for (const doc of GENERATED_DOCS) {
    const file = new URL(doc.path, REPO_ROOT);
    const expected = doc.render();
    if (readFileSync(file, 'utf8') === expected) continue;
    if (check) stale.push(doc.path);
    else {
      writeFileSync(file, expected);
      console.log(`wrote ${doc.path}`);
    }
  }
  if (stale.length > 0) {
    console.error(`stale: ${stale.join(', ')} (run \`npm run docs\`)`);
    process.exit(1);
  }
}
