// The SDK's layers point one way (docs/architecture.md, "Layers"): adapters -> core -> jose, each
// framework only in its adapter, and never the server.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '@gatehouse/test-support/gatehouse';
import { layerTable, layerViolations } from '@gatehouse/test-support/layers';

test('every import of the SDK follows the layer table of docs/architecture.md, and none reaches the server', () => {
  const rules = layerTable(readFileSync(join(REPO_ROOT, 'docs/architecture.md'), 'utf8'), 'packages/sdk/test/layers.test.ts');
  assert.ok(rules.size >= 6, 'the table was found');
  assert.deepEqual(layerViolations(join(REPO_ROOT, 'packages/sdk/src'), rules, { forbiddenPackages: ['@gatehouse/server'] }), []);
});
