// The server's layers point one way (docs/architecture.md, "Layers"): this reads the imports of
// every source file and fails on one the table does not allow, on a package imported outside the
// one part that may, and on a folder or root file the table or the layout section does not name.
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '@gatehouse/test-support/files';
import { REPO_ROOT } from '@gatehouse/test-support/gatehouse';
import { layerTable, layerViolations, readImports } from '@gatehouse/test-support/layers';

const SRC = join(REPO_ROOT, 'packages/server/src');
const ARCHITECTURE = readFileSync(join(REPO_ROOT, 'docs/architecture.md'), 'utf8');
const rules = layerTable(ARCHITECTURE, 'packages/server/test/layers.test.ts');

test('every import of the server follows the layer table of docs/architecture.md', () => {
  assert.deepEqual(layerViolations(SRC, rules), []);
});

test('the layer table names every part of src/, and only those', () => {
  const parts = readdirSync(SRC, { withFileTypes: true }).map((entry) => (entry.isDirectory() ? `${entry.name}/` : entry.name));
  assert.deepEqual([...rules.keys()].sort(), parts.sort());
  for (const [part, rule] of rules) {
    for (const allowed of rule.mayImport) assert.ok(rules.has(allowed), `${part} may import ${allowed}, which has no row`);
  }
});

test("the layout section of docs/architecture.md lists the server's src/ as it is", () => {
  const layout = ARCHITECTURE.slice(ARCHITECTURE.indexOf('## Layout'), ARCHITECTURE.indexOf('## Layers'));
  const listed = [...layout.matchAll(/^ {2}src\/(\S+)/gm)].map((m) => m[1]!);
  const parts = readdirSync(SRC, { withFileTypes: true }).map((entry) => (entry.isDirectory() ? `${entry.name}/` : entry.name));
  assert.deepEqual(listed.sort(), parts.sort());
});

test('the layer check reads every way of importing, and refuses what it cannot read', () => {
  const source = [
    "import type { Adapter } from 'oidc-provider';",
    "import * as users from '../storage/users.ts';",
    'import {',
    '  a,',
    '  b,',
    "} from '../pages/routes.ts';",
    "export { c } from './c.ts';",
    "export * from './d.ts';",
    "import './side-effect.ts';",
    "const lazy = await import('../engine/provider.ts');",
    "// a comment that says from 'nowhere' is not an import",
    "const text = 'import x from \"y\"';",
  ].join('\n');
  assert.deepEqual(
    readImports(source).map((i) => i.specifier).sort(),
    ['../engine/provider.ts', '../pages/routes.ts', '../storage/users.ts', './c.ts', './d.ts', './side-effect.ts', 'oidc-provider'].sort(),
  );
  // An import the expressions cannot read is an error, not a pass.
  assert.throws(() => readImports("import {\n  a, // 'quoted' (comment)\n} from '../pages/routes.ts';"), /cannot read/);
});

test('a lower part importing a higher one, a package outside its part, and an unknown folder are each reported', (t) => {
  // This repository's rules, applied to a small tree with one of each violation.
  const src = tempDir(t);
  const write = (path: string, text: string) => {
    mkdirSync(dirname(join(src, path)), { recursive: true });
    writeFileSync(join(src, path), text);
  };
  write('storage/users.ts', "import { hashPassword } from '../passwords/hash.ts';\n");
  write('passwords/hash.ts', "import { findUser } from '../storage/users.ts';\n");
  write('pages/account.ts', "import type Provider from 'oidc-provider';\n");
  write('engine/provider.ts', "import Provider from 'oidc-provider';\nimport { Layout } from '../html/layout.ts';\n");
  write('html/layout.ts', "import { ROUTES } from '../engine/provider.ts';\n");
  write('reports/daily.ts', "export const daily = 1;\n");
  assert.deepEqual(layerViolations(src, rules).sort(), [
    'html/layout.ts:1: html/ may not import engine/ (../engine/provider.ts)',
    'pages/account.ts:1: only engine/ imports oidc-provider',
    'reports/daily.ts: reports/ has no row in the layer table',
    'storage/users.ts:1: storage/ may not import passwords/ (../passwords/hash.ts)',
  ]);
});
