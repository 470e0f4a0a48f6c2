// The official MCP conformance suite against the example MCP server behind a real Gatehouse
// (scripts/mcp-conformance.ts, `npm run conformance:mcp`): every scenario that applies passes.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { REPO_ROOT } from '@gatehouse/test-support/gatehouse';

test('npm run conformance:mcp: the MCP conformance suite\'s server scenarios pass', async () => {
  // Through npm, as a user runs it (npm runs the script with the pinned Node the suite needs).
  const child = spawn('npm', ['run', '--silent', 'conformance:mcp'], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  const [code] = (await once(child, 'exit')) as [number | null];
  assert.equal(code, 0, output.slice(-4000));
  for (const scenario of ['server-initialize', 'ping', 'tools-list', 'dns-rebinding-protection']) {
    assert.match(output, new RegExp(`pass  ${scenario}\\n`), scenario);
  }
});
