// The READMEs' commands, run as a reader runs them: `npm start` in a fresh checkout (the
// repository's files linked into a temporary directory, so ./data is new and the real one is
// untouched) on free ports, then every shell block of the main README and the examples' READMEs,
// in order, each in one bash session. Answers shown after `# →` must be what the command prints
// (`…` stands for anything). A README block this test does not know fails it: classify it below.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '@gatehouse/test-support/files';
import { REPO_ROOT } from '@gatehouse/test-support/gatehouse';
import { freePort } from '@gatehouse/test-support/ports';
import { waitFor } from '@gatehouse/test-support/wait';

/** What the test does with a block: run it to the end, start it and wait for a URL, or not run it (why). */
type Plan = 'run' | { readonly start: string } | { readonly skip: string };

// Each block, named by its file and first command.
const PLANS: Record<string, Plan> = {
  'README.md: npm ci && npm start': { skip: 'this test runs `npm start` in a fresh checkout, and is itself part of `npm test`' },
  'README.md: curl -s localhost:8000/token -d grant_type=password -d client_id=docs \\': 'run',
  'README.md: export GATEHOUSE_DATABASE_URL=sqlite:./data/gatehouse.db':
    // Two blocks start this way; the CLI tour imports the reader's own users.json and runs a second
    // server on the demo's port. The admin API block (the other one) is run.
    'run',
  "README.md: echo 'choose-a-long-passphrase' | npx gatehouse users create --username ops --email ops@example.com --roles gatehouse-admin": 'run',
  'examples/items-api/README.md: curl -i http://localhost:8001/users/me/items/': 'run',
  'examples/items-api/README.md: export GATEHOUSE_DATABASE_URL=sqlite:./data/gatehouse.db': 'run',
  'examples/items-api/README.md: TOKEN=$(curl -s http://localhost:8000/token -d grant_type=password -d client_id=docs \\': 'run',
  'examples/items-api/README.md: ITEMS_API_PUBLIC_URL=http://localhost:8011 npm start -w examples/items-api': { start: 'http://localhost:8011/' },
  'examples/web-app/README.md: npm start': { skip: 'the demo this test starts' },
  'examples/mcp-server/README.md: curl -si -X POST http://localhost:8003/mcp | grep -i www-authenticate': 'run',
  'examples/mcp-server/README.md: gatehouse apis create --identifier https://mcp.example.com/mcp --name "My MCP server" \\': {
    skip: 'an example for the reader\'s own server and MCP endpoint',
  },
  'examples/web-app/README.md: export GATEHOUSE_DATABASE_URL=sqlite:./data/gatehouse.db': { start: 'http://localhost:8012/' },
};
// The main README's CLI tour: recognised by its `users import`, not run (see above).
const CLI_TOUR = { skip: 'imports the reader\'s own users.json and serves a second server on the demo\'s port' } as const;

const READMES = ['README.md', ...readdirSync(join(REPO_ROOT, 'examples')).map((name) => `examples/${name}/README.md`)];
const DEMO_PORTS = ['8000', '8001', '8002', '8003', '8011', '8012'] as const;

interface Block {
  readonly file: string;
  readonly text: string;
  readonly key: string;
}

function shellBlocks(file: string): Block[] {
  const markdown = readFileSync(join(REPO_ROOT, file), 'utf8');
  return [...markdown.matchAll(/^```(?:sh|bash)\n([\s\S]*?)^```/gm)].map((match) => {
    const text = match[1]!;
    const first = text.split('\n').find((line) => line.trim() !== '' && !line.startsWith('#'))!;
    return { file, text, key: `${file}: ${first.replace(/\s+#.*$/, '')}` };
  });
}

function planOf(block: Block): Plan {
  if (block.text.includes('users import')) return CLI_TOUR;
  const plan = PLANS[block.key];
  assert.ok(plan, `${block.key}: a README block this test does not know; add it to PLANS in scripts/readme.test.ts`);
  return plan;
}

interface Command {
  readonly text: string;
  /** The lines shown after it with `# →`. */
  readonly expected: string[];
}

/** Commands (continuation lines joined) and the answers shown after each. */
function commandsOf(text: string): Command[] {
  const commands: { text: string; expected: string[] }[] = [];
  let continuing = false;
  for (const line of text.split('\n')) {
    if (continuing) {
      commands.at(-1)!.text += `\n${line}`;
    } else if (line.startsWith('# → ')) {
      commands.at(-1)!.expected.push(line.slice('# → '.length));
    } else if (line.trim() !== '' && !line.startsWith('#')) {
      commands.push({ text: line, expected: [] });
    }
    continuing = !line.startsWith('#') && line.endsWith('\\');
  }
  return commands;
}

const pattern = (expected: string) =>
  new RegExp(`^${expected.split('…').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);

test('every README command works as written against a started demo', { timeout: 600_000 }, async (t) => {
  const clone = tempDir(t, 'gatehouse-readme-');
  for (const name of readdirSync(REPO_ROOT)) {
    if (!['.git', 'data', 'test-results'].includes(name)) symlinkSync(join(REPO_ROOT, name), join(clone, name));
  }
  const ports = Object.fromEntries(await Promise.all(DEMO_PORTS.map(async (port) => [port, String(await freePort())] as const)));
  const url = (port: (typeof DEMO_PORTS)[number]) => `http://localhost:${ports[port]}`;
  const moved = (text: string) => text.replace(/localhost:(80(?:00|01|02|03|11|12))\b/g, (_, port: string) => `localhost:${ports[port]}`);
  // The demo's URLs, moved to free ports; the examples' defaults (the server on :8000) moved with them.
  const env = {
    ...process.env,
    GATEHOUSE_PUBLIC_URL: url('8000'),
    ITEMS_API_PUBLIC_URL: url('8001'),
    WEB_APP_PUBLIC_URL: url('8002'),
    MCP_SERVER_PUBLIC_URL: url('8003'),
    ITEMS_API_ISSUER: url('8000'),
    WEB_APP_ISSUER: url('8000'),
    WEB_APP_API: url('8001'),
    GATEHOUSE_LOG_LEVEL: 'warn',
    // The demo's second Gatehouse, "Corp SSO", on another free port of 127.0.0.1.
    DEMO_CORP_URL: `http://127.0.0.1:${await freePort()}`,
  };

  const processes: ChildProcess[] = [];
  const stopAll = async () => {
    for (const child of processes) {
      if (child.exitCode !== null || child.signalCode !== null) continue;
      const exited = once(child, 'exit');
      process.kill(-child.pid!, 'SIGTERM');
      await exited;
    }
  };
  t.after(stopAll);
  /** A long-running command in its own process group (so npm's children stop with it). */
  function background(command: string, args: string[]): { child: ChildProcess; output: () => string } {
    const child = spawn(command, args, { cwd: clone, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    processes.push(child);
    let output = '';
    child.stdout!.on('data', (chunk) => (output += chunk));
    child.stderr!.on('data', (chunk) => (output += chunk));
    return { child, output: () => output };
  }
  const answers = async (target: string) => (await fetch(target)).ok;

  // The README's first line: `npm start` (after `npm ci`, which the test's checkout already did).
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const [, startLine] = /^```sh\n(npm ci && npm start[^\n]*)\n/m.exec(readme) ?? [];
  assert.ok(startLine, 'the README opens with `npm ci && npm start`');
  const demo = background('npm', ['start']);
  await waitFor(async () => (await answers(`${url('8000')}/.well-known/openid-configuration`)) && (await answers(`${url('8001')}/`)) && (await answers(`${url('8002')}/`)), {
    timeout: 120_000,
    message: 'the demo of `npm start` answering on its three ports',
  }).catch((error: Error) => assert.fail(`${error.message}\n${demo.output()}`));

  // What the first line promises is what the banner says.
  const [, login] = /login: (\S+ \/ \S+)[;)]/.exec(startLine) ?? [];
  const [, admin] = /admin console: (\S+ \/ \S+)\)/.exec(startLine) ?? [];
  assert.ok(login && /Gatehouse on http:\/\/localhost:8000/.test(startLine), `the start line names the URL and the login: ${startLine}`);
  await waitFor(() => demo.output().includes('Press Ctrl+C to stop.'), { message: 'the start banner' });
  for (const promised of [`server     ${url('8000')}`, `items API  ${url('8001')}`, `web app    ${url('8002')}`, `logins     ${login}`, `sign in as ${admin}`]) {
    assert.ok(demo.output().includes(promised), `the banner says "${promised}"`);
  }

  for (const block of READMES.flatMap(shellBlocks)) {
    const plan = planOf(block);
    if (typeof plan === 'object' && 'skip' in plan) continue;
    await t.test(block.key, async () => {
      if (typeof plan === 'object') {
        const started = background('bash', ['-e', '-o', 'pipefail', '-c', moved(block.text)]);
        await waitFor(() => answers(moved(plan.start)), { timeout: 60_000, message: plan.start }).catch((error: Error) =>
          assert.fail(`${error.message}\n${started.output()}`),
        );
        return;
      }
      const commands = commandsOf(block.text);
      const script = commands.map((command, i) => `printf '\\n@@%d@@\\n' ${i}\n${moved(command.text)}`).join('\n');
      const result = spawnSync('bash', ['-e', '-o', 'pipefail', '-c', script], { cwd: clone, env, encoding: 'utf8', timeout: 120_000 });
      assert.equal(result.status, 0, `the block failed:\n${result.stdout}\n${result.stderr}`);
      const outputs = result.stdout.split(/\n@@\d+@@\n/).slice(1);
      commands.forEach((command, i) => {
        const lines = (outputs[i] ?? '').split(/\r?\n/);
        let from = 0;
        for (const expected of command.expected) {
          const match = pattern(moved(expected));
          const at = lines.findIndex((line, index) => index >= from && match.test(line));
          assert.ok(at >= 0, `${command.text}\nshould print: ${expected}\nprinted:\n${outputs[i]}`);
          from = at + 1;
        }
      });
    });
  }
});
