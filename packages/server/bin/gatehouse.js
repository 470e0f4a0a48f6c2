#!/usr/bin/env node
// The `gatehouse` command. In a source checkout it runs the TypeScript sources directly
// (Node >= 22.18 strips types); a published package runs the compiled `dist/`.
import { existsSync } from 'node:fs';
import { registerHooks } from 'node:module';

const source = new URL('../src/cli/main.ts', import.meta.url);
if (existsSync(source)) {
  // Resolve workspace packages (`@gatehouse/sdk`) to their sources too.
  registerHooks({
    resolve(specifier, context, nextResolve) {
      return nextResolve(specifier, { ...context, conditions: [...context.conditions, '@gatehouse/source'] });
    },
  });
  const { main } = await import(source.href);
  await main();
} else {
  const { main } = await import(new URL('../dist/cli/main.js', import.meta.url).href);
  await main();
}
