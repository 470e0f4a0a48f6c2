// The mutations `npm run mutate` applies: one place per mutant, never inside strings, comments,
// imports or types, and never a mutant that does not parse; and no source file left unmapped.
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { generateMutants } from './mutants.ts';
import { TARGETS } from './targets.ts';

const SOURCE = [
  "import { a } from './a.ts';",
  '// if (x === y) return;',
  'interface Shape { readonly ok: boolean }',
  'export async function check(x: number, y: number): Promise<boolean> {',
  "  if (x === y) return true;",
  "  const label = 'a === b && c';",
  '  await save(x);',
  '  return x < y && Math.max(x, 1) > 0;',
  '}',
].join('\n');

test('each operator changes one place of one line, and the mutant is the whole file with that change', () => {
  const mutants = generateMutants('check.ts', SOURCE);
  const changes = mutants.map((m) => `${m.line} ${m.operator}: ${m.mutated}`);
  assert.deepEqual(changes.sort(), [
    '5 boolean: if (x === y) return false;',
    '5 early-return: if (x === y) {}',
    '5 equality: if (x !== y) return true;',
    '7 remove-call: ;',
    '8 boundary: return x < y && Math.max(x, 1) >= 0;',
    '8 boundary: return x <= y && Math.max(x, 1) > 0;',
    '8 logical: return x < y || Math.max(x, 1) > 0;',
    '8 min-max: return x < y && Math.min(x, 1) > 0;',
  ].sort());
  const flipped = mutants.find((m) => m.operator === 'equality')!;
  assert.equal(flipped.apply(SOURCE), SOURCE.replace('if (x === y) return true;', 'if (x !== y) return true;'));
  assert.equal(new Set(mutants.map((m) => m.id)).size, mutants.length, 'ids are unique');
});

test('a mutant is refused on a file that changed since it was generated', () => {
  const [mutant] = generateMutants('check.ts', SOURCE);
  assert.throws(() => mutant!.apply(SOURCE.replace('if (x === y) return true;', 'if (x === y) return 1;')), /changed since the mutants were generated/);
});

test('a mutant that does not parse is dropped', () => {
  // Removing the call would leave a dangling argument list: no mutant of that line.
  assert.deepEqual(generateMutants('split.ts', 'save(\n  1,\n  2);\nsave(3);').map((m) => m.line), [4]);
});

test('every source file of the mutated folders has tests mapped, and the mapped test files exist', () => {
  const root = new URL('../../', import.meta.url).pathname;
  for (const folder of ['packages/sdk/src', 'packages/server/src/engine']) {
    for (const name of readdirSync(join(root, folder)).filter((file) => file.endsWith('.ts') && !file.endsWith('.d.ts') && file !== 'index.ts')) {
      const tests = TARGETS[`${folder}/${name}`];
      assert.ok(tests && tests.length > 0, `${folder}/${name} has no tests in scripts/mutation/targets.ts: a mutation run would skip it`);
    }
  }
  for (const [source, tests] of Object.entries(TARGETS)) {
    assert.ok(existsSync(join(root, source)), `${source} (targets.ts) does not exist`);
    for (const file of tests) assert.ok(existsSync(join(root, file)), `${source}: mapped test ${file} does not exist`);
  }
});

test('a mutant that only changes a type is not generated: it could never be killed', () => {
  const source = ['export function f(x: string | true, y = true): boolean {', '  return y;', '}'].join('\n');
  const mutants = generateMutants('types.ts', source);
  assert.deepEqual(mutants.map((m) => m.mutated), ['export function f(x: string | true, y = false): boolean {']);
});
