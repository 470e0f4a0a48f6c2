// GATEHOUSE_LOG_FORMAT: readable lines for a person at a terminal, JSON lines for a collector;
// development mail as a block with its link on a line of its own.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { ITEMS_API, seedDemo, startInProcess } from '@gatehouse/test-support/gatehouse';
import type { BuildOptions } from '../src/app.ts';
import { loggerOptions } from '../src/logger.ts';

/** A log output that keeps what is written; `isTTY` as a terminal would say it. */
function output(isTTY: boolean): Writable & { isTTY: boolean; text(): string } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString('utf8');
      done();
    },
  });
  return Object.assign(stream, { isTTY, text: () => text });
}

async function forgotPassword(logger: BuildOptions['logger'], t: test.TestContext): Promise<void> {
  const gh = await startInProcess(t, { GATEHOUSE_DEFAULT_API: ITEMS_API }, { logger });
  await seedDemo(gh.db);
  const response = await fetch(`${gh.issuer}/forgot-password`, { method: 'POST', body: new URLSearchParams({ email: 'johndoe@example.com' }) });
  assert.equal(response.status, 200);
  await gh.close();
}

test('pretty (and auto on a terminal): readable lines, the mail a block with its link alone on a line', async (t) => {
  for (const [format, isTTY] of [['pretty', false], ['auto', true]] as const) {
    const out = output(isTTY);
    await forgotPassword(loggerOptions({ logLevel: 'info', logFormat: format }, out), t);
    const lines = out.text().split('\n');
    assert.ok(lines.length > 3, `${format}: something was logged`);
    assert.equal(lines.filter((line) => line.startsWith('{')).length, 0, `${format}: no JSON line`);
    assert.ok(lines.some((line) => /INFO.*email not sent/.test(line.replace(/\x1b\[[0-9;]*m/g, ''))), `${format}: a level and a message`);
    const link = lines.map((line) => line.replace(/\x1b\[[0-9;]*m/g, '').trim()).find((line) => line.includes('/reset-password?token='));
    assert.match(link ?? '', /^http:\/\/127\.0\.0\.1:\d+\/reset-password\?token=[\w-]{43}$/, `${format}: the link is a line of its own`);
  }
});

test('json (and auto when the output is not a terminal): one JSON object a line', async (t) => {
  for (const format of ['json', 'auto'] as const) {
    const out = output(false);
    await forgotPassword(loggerOptions({ logLevel: 'info', logFormat: format }, out), t);
    const lines = out.text().split('\n').filter(Boolean);
    assert.ok(lines.length > 3);
    for (const line of lines) assert.doesNotThrow(() => JSON.parse(line), `${format}: ${line}`);
    assert.ok(lines.some((line) => JSON.parse(line).mail?.text?.includes('/reset-password?token=')));
  }
});
