// The source mutations `npm run mutate` applies: small changes a test should notice (a flipped
// comparison or boolean operator, a removed early return or call, a swapped constant). Each mutant
// changes one place of one line; lines that are comments, imports or types are left alone, and so
// is anything inside a string literal. A mutant that does not parse is dropped: it would only
// be "killed" by the syntax error.
import { stripTypeScriptTypes } from 'node:module';

export interface Mutant {
  /** Stable across runs: file, line, column and operator. */
  readonly id: string;
  readonly file: string;
  /** 1-based. */
  readonly line: number;
  readonly operator: string;
  readonly original: string;
  readonly mutated: string;
  /** The whole file with this mutant applied. */
  apply(source: string): string;
}

interface Operator {
  readonly name: string;
  readonly pattern: RegExp;
  readonly replace: (match: string) => string;
}

const swap = (pairs: Record<string, string>) => (match: string) => pairs[match] ?? match;

const OPERATORS: readonly Operator[] = [
  { name: 'equality', pattern: / (===|!==) /g, replace: swap({ ' === ': ' !== ', ' !== ': ' === ' }) },
  { name: 'boundary', pattern: / (<=|>=|<|>) /g, replace: swap({ ' < ': ' <= ', ' <= ': ' < ', ' > ': ' >= ', ' >= ': ' > ' }) },
  { name: 'logical', pattern: / (&&|\|\|) /g, replace: swap({ ' && ': ' || ', ' || ': ' && ' }) },
  { name: 'boolean', pattern: /\b(true|false)\b/g, replace: swap({ true: 'false', false: 'true' }) },
  { name: 'arithmetic', pattern: / ([+-]) (?=[\w(])/g, replace: swap({ ' + ': ' - ', ' - ': ' + ' }) },
  { name: 'min-max', pattern: /\bMath\.(min|max)\(/g, replace: swap({ 'Math.min(': 'Math.max(', 'Math.max(': 'Math.min(' }) },
  { name: 'negation', pattern: /\bif \(!(?=[\w(])/g, replace: () => 'if (' },
  { name: 'early-return', pattern: /(?<=\bif \(.*\)) (return|throw|continue|break)\b.*;$/g, replace: () => ' {}' },
];

/** A statement that is only a call (`await x(…);`, `x.y(…);`), removed whole. */
const CALL_STATEMENT = /^(\s*)(await )?[\w#][\w.#]*(\?\.)?\(.*\);$/;

const SKIPPED_LINE = /^\s*(\||\/\/|\*|\/\*|import |export (type |interface |\{|\*)|type |interface |readonly |declare )/;

/** Where string literals, template literals and a trailing comment sit on the line. */
function literalMask(line: string): boolean[] {
  const mask = new Array<boolean>(line.length).fill(false);
  let quote: string | undefined;
  for (let index = 0; index < line.length; index += 1) {
    const char = line[index]!;
    if (quote) {
      mask[index] = true;
      if (char === '\\') {
        mask[index + 1] = true;
        index += 1;
      } else if (char === quote) quote = undefined;
    } else if (char === "'" || char === '"' || char === '`') {
      quote = char;
      mask[index] = true;
    } else if (char === '/' && line[index + 1] === '/') {
      mask.fill(true, index);
      break;
    }
  }
  return mask;
}

export function generateMutants(file: string, source: string): Mutant[] {
  const lines = source.split('\n');
  const mutants: Mutant[] = [];
  const add = (lineIndex: number, column: number, operator: string, mutatedLine: string) => {
    const original = lines[lineIndex]!;
    mutants.push({
      id: `${file}:${lineIndex + 1}:${column + 1}:${operator}`,
      file,
      line: lineIndex + 1,
      operator,
      original: original.trim(),
      mutated: mutatedLine.trim(),
      apply: (text) => {
        const current = text.split('\n');
        if (current[lineIndex] !== original) throw new Error(`${file}:${lineIndex + 1} changed since the mutants were generated`);
        current[lineIndex] = mutatedLine;
        return current.join('\n');
      },
    });
  };
  let inBlockComment = false;
  lines.forEach((line, index) => {
    if (inBlockComment || line.trimStart().startsWith('/*')) {
      inBlockComment = !line.includes('*/');
      return;
    }
    if (SKIPPED_LINE.test(line) || line.trim() === '') return;
    const mask = literalMask(line);
    for (const operator of OPERATORS) {
      for (const match of line.matchAll(operator.pattern)) {
        if (mask[match.index]) continue;
        const replacement = operator.replace(match[0]);
        if (replacement === match[0]) continue;
        add(index, match.index, operator.name, line.slice(0, match.index) + replacement + line.slice(match.index + match[0].length));
      }
    }
    const call = CALL_STATEMENT.exec(line);
    if (call && !/^\s*(return|throw|if|for|while|const|let|super)\b/.test(line)) add(index, call[1]!.length, 'remove-call', `${call[1]};`);
  });
  // A mutant that does not parse would only be "killed" by the syntax error; one whose JavaScript
  // is the original's changed nothing but a type (`options: Shape | true`) and cannot be killed.
  const javascript = stripped(source);
  return mutants.filter((mutant) => {
    const mutated = stripped(mutant.apply(source));
    return mutated !== undefined && mutated !== javascript;
  });
}

/**
 * The JavaScript of a TypeScript source, or undefined if it does not parse. Types are blanked out
 * in place, so runs of whitespace are made one (mutants never touch string literals).
 */
function stripped(source: string): string | undefined {
  try {
    return stripTypeScriptTypes(source).replace(/\s+/g, ' ');
  } catch {
    return undefined;
  }
}
