// The generated docs are the ones the code generates now: a setting or an error code changed
// without `npm run docs` fails here.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { AUTH_ERRORS } from '@gatehouse/sdk';
import { WEBAPP_ERRORS } from '@gatehouse/sdk/webapp';
import { ERRORS } from '@gatehouse/server/internal/errors';
import { GENERATED_DOCS, REPO_ROOT } from './docs.ts';
import { renderErrorsDocs } from './docs/errors.ts';

for (const doc of GENERATED_DOCS) {
  test(`${doc.path} is current (run \`npm run docs\`)`, () => {
    assert.equal(readFileSync(new URL(doc.path, REPO_ROOT), 'utf8'), doc.render(), `${doc.path} is stale: run \`npm run docs\``);
  });
}

test('docs/errors.md has a row for every code of every registry, with its status', () => {
  const errors = renderErrorsDocs();
  for (const [registry, entries] of Object.entries({ server: ERRORS, sdk: AUTH_ERRORS, webapp: WEBAPP_ERRORS })) {
    for (const [code, entry] of Object.entries(entries)) {
      assert.match(errors, new RegExp(`^\\| \`${code}\` \\| ${entry.status} \\|`, 'm'), `${registry}: ${code}`);
    }
  }
});

test('the template of docs/errors.md must place every table, and only known ones', () => {
  assert.throws(() => renderErrorsDocs('# Errors\n{{server-errors}}\n{{sdk-errors}}\n'), /no place for \{\{webapp-errors\}\}/);
  assert.throws(() => renderErrorsDocs('# Errors\n{{server-errors}}\n{{sdk-errors}}\n{{webapp-errors}}\n{{typo}}\n'), /unknown table \{\{typo\}\}/);
});
