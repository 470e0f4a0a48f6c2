// Reads what every source file of a package imports and checks it against the layer table in
// docs/architecture.md, so the intended layering is written once (in the doc) and a violation
// fails a test. Imports are read with careful regular expressions rather than a parser (the
// repository's TypeScript 7 has no JavaScript parser API): static `import … from`, `export … from`,
// side-effect `import '…'`, and dynamic `import('…')`, type-only ones included. A line that ends
// an import the expressions did not read (`} from '…'` outside a match) is reported too, so an
// unusual import cannot slip through unread.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

export interface ImportFound {
  readonly specifier: string;
  readonly line: number;
}

// `import type { A, B } from '…'`, `import * as x from '…'`, `export { a } from '…'`, `export * from '…'`:
// between the keyword and `from`, only what an import clause holds (no `;`, `=`, `(`, `:`, quotes).
const STATIC = /^[ \t]*(?:import|export)\s+[\w$*{},\s]*?\bfrom\s*(['"])([^'"\n]+)\1/gm;
const SIDE_EFFECT = /^[ \t]*import\s*(['"])([^'"\n]+)\1/gm;
const DYNAMIC = /\bimport\s*\(\s*(['"])([^'"\n]+)\1\s*\)/g;
// A line that looks like the end (or all) of an import or re-export statement.
const LOOKS_LIKE_IMPORT = /^[ \t]*(?:import\b|export\b|\})[^\n]*\bfrom\s*['"][^'"\n]+['"]/gm;

const lineAt = (source: string, index: number) => source.slice(0, index).split('\n').length;

/** Every module specifier a source file imports or re-exports; throws on an import it cannot read. */
export function readImports(source: string, file = '<source>'): ImportFound[] {
  const found: ImportFound[] = [];
  const covered: [number, number][] = [];
  for (const pattern of [STATIC, SIDE_EFFECT, DYNAMIC]) {
    for (const match of source.matchAll(pattern)) {
      found.push({ specifier: match[2]!, line: lineAt(source, match.index + match[0].length) });
      covered.push([match.index, match.index + match[0].length]);
    }
  }
  for (const match of source.matchAll(LOOKS_LIKE_IMPORT)) {
    const end = match.index + match[0].length;
    if (!covered.some(([from, to]) => from <= match.index + match[0].indexOf('from') && end <= to)) {
      throw new Error(`${file}:${lineAt(source, match.index)}: an import statement the layer check cannot read: ${match[0].trim()}`);
    }
  }
  return found;
}

export interface LayerRule {
  /** The parts this part may import (besides itself). */
  readonly mayImport: ReadonlySet<string>;
  /** Packages no other part may import. */
  readonly alone: ReadonlySet<string>;
}

const backticked = (cell: string | undefined): string[] => [...(cell ?? '').matchAll(/`([^`]+)`/g)].map((m) => m[1]!);

/**
 * The layer table that follows the first line mentioning `marker` in a markdown document:
 * | part | what it is | may import | alone imports |. A part is a folder (`storage/`), a file
 * directly in `src/` (`app.ts`), or `*.ts` for every file directly in `src/`.
 */
export function layerTable(markdown: string, marker: string): Map<string, LayerRule> {
  const lines = markdown.split('\n');
  const at = lines.findIndex((line) => line.includes(marker));
  if (at < 0) throw new Error(`no line mentions ${marker}`);
  const start = lines.findIndex((line, i) => i > at && line.startsWith('| part |'));
  if (start < 0) throw new Error(`no layer table after ${marker}`);
  const rules = new Map<string, LayerRule>();
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break;
    const cells = line.split('|').slice(1, -1);
    const rule = { mayImport: new Set(backticked(cells[2])), alone: new Set(backticked(cells[3])) };
    for (const part of backticked(cells[0])) rules.set(part, rule);
  }
  return rules;
}

function sourceFiles(directory: string): string[] {
  return readdirSync(directory, { withFileTypes: true }).flatMap((entry) => {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return /\.(?:ts|js)$/.test(entry.name) ? [path] : [];
  });
}

/** The part a file belongs to: its top folder under `src/` (`storage/`), or the file's name (or `*.ts`). */
function partOf(srcRoot: string, file: string, rules: Map<string, LayerRule>): string {
  const [top, ...rest] = relative(srcRoot, file).split(sep);
  if (rest.length > 0) return `${top}/`;
  return rules.has(top!) ? top! : '*.ts';
}

/** The package a bare specifier names (`@scope/name` or `name`), or undefined for a built-in. */
function packageOf(specifier: string): string | undefined {
  if (specifier.startsWith('node:')) return undefined;
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

/** Every import under `srcRoot` that the table does not allow, one line each (empty when none). */
export function layerViolations(srcRoot: string, rules: Map<string, LayerRule>, options: { forbiddenPackages?: readonly string[] } = {}): string[] {
  const violations: string[] = [];
  const aloneIn = new Map<string, string>();
  for (const [part, rule] of rules) for (const pkg of rule.alone) aloneIn.set(pkg, part);

  for (const file of sourceFiles(srcRoot)) {
    const where = relative(srcRoot, file);
    const part = partOf(srcRoot, file, rules);
    const rule = rules.get(part);
    if (!rule) {
      violations.push(`${where}: ${part} has no row in the layer table`);
      continue;
    }
    for (const { specifier, line } of readImports(readFileSync(file, 'utf8'), where)) {
      if (specifier.startsWith('.')) {
        const target = resolve(dirname(file), specifier);
        if (relative(srcRoot, target).startsWith('..')) {
          violations.push(`${where}:${line}: imports ${specifier}, outside src/`);
          continue;
        }
        const targetPart = partOf(srcRoot, target, rules);
        if (targetPart !== part && !rule.mayImport.has(targetPart)) violations.push(`${where}:${line}: ${part} may not import ${targetPart} (${specifier})`);
        continue;
      }
      const pkg = packageOf(specifier);
      if (pkg === undefined) continue;
      if (options.forbiddenPackages?.includes(pkg)) violations.push(`${where}:${line}: imports ${specifier}`);
      const owner = aloneIn.get(pkg);
      if (owner !== undefined && owner !== part) violations.push(`${where}:${line}: only ${owner} imports ${pkg}`);
    }
  }
  return violations;
}
