// Prints docs/configuration.md from the settings schema: `npm run docs:config`.
// A test checks that the committed file matches this output.
import { settings } from './schema.ts';

export function renderConfigurationDocs(): string {
  const lines = [
    '# Configuration',
    '',
    '<!-- Generated from packages/server/src/config/schema.ts by `npm run docs:config`. Do not edit by hand. -->',
    '',
    'Every setting is an environment variable. The same names can also be given as keys of a JSON object in the file named by `GATEHOUSE_CONFIG_FILE`; the environment wins over the file. The server checks every value at start and stops with a message naming each bad setting and what it accepts.',
    '',
    'Durations are seconds, or a number followed by `s`, `m`, `h` or `d` (`90`, `15m`, `14d`).',
    '',
    '| Variable | Default | Accepts | What it does |',
    '| --- | --- | --- | --- |',
  ];
  for (const definition of Object.values(settings)) {
    const show = definition.type.show as (value: unknown) => string;
    const shown = definition.default === undefined ? '(unset)' : `\`${show(definition.default)}\``;
    const warning = 'devOnlyDefault' in definition ? ' **The default is for development only.**' : '';
    lines.push(`| \`${definition.env}\` | ${shown} | ${definition.type.accepts} | ${definition.description}${warning} |`);
  }
  return `${lines.join('\n')}\n`;
}

if (import.meta.main) {
  process.stdout.write(renderConfigurationDocs());
}
