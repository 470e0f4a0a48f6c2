// PostgreSQL going away under load (issue #11, items 1, 3 and 7): stopped (fast: sessions get
// 57P01; immediate: connections just drop) and frozen (SIGSTOP: nothing answers) while refresh
// traffic runs against `gatehouse serve`. The server must never exit, must answer 503 with
// Retry-After (never a 500, never a hang) while the database is away, must say so on /healthz,
// and must serve again once the database is back, without a restart and without losing a session.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openStorage } from '@gatehouse/server';
import { seedDemo, startProcess, tokenRequest, type DemoSeed, type ServerProcess } from '@gatehouse/test-support/gatehouse';
import { startPrivatePostgres, type PrivatePostgres } from '@gatehouse/test-support/private-postgres';

interface Answer {
  readonly status: number | 'no answer';
  readonly retryAfter: string | null;
  readonly body: any;
}

async function setup(t: test.TestContext): Promise<{ pg: PrivatePostgres; server: ServerProcess; seed: DemoSeed }> {
  const pg = await startPrivatePostgres(t);
  const storage = openStorage(pg.url);
  const { migrate } = await import('@gatehouse/server/internal/storage/database');
  await migrate(storage.db);
  const seed = await seedDemo(storage.db);
  await storage.close();
  const server = await startProcess(t, {
    GATEHOUSE_DATABASE_URL: pg.url,
    GATEHOUSE_DEFAULT_API: 'http://localhost:8001',
    // Short, so a frozen database shows within the test's patience; the defaults are a few seconds.
    GATEHOUSE_DATABASE_CONNECT_TIMEOUT: '2',
    GATEHOUSE_DATABASE_STATEMENT_TIMEOUT: '2',
    GATEHOUSE_DATABASE_QUERY_TIMEOUT: '3',
  });
  return { pg, server, seed };
}

/** Refresh traffic on a few sessions until stopped; every answer recorded. */
function refreshTraffic(t: test.TestContext, server: ServerProcess, seed: DemoSeed, sessions: string[]) {
  const answers: Answer[] = [];
  let running = true;
  const loop = async (index: number) => {
    while (running) {
      let answer: Answer;
      try {
        const response = await fetch(`${server.issuer}/token`, {
          method: 'POST',
          headers: {
            'content-type': 'application/x-www-form-urlencoded',
            authorization: `Basic ${Buffer.from(`${seed.passwordClient.clientId}:${seed.passwordClient.clientSecret}`).toString('base64')}`,
          },
          body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: sessions[index]! }).toString(),
          // Far beyond what the server may take: a hang shows as 'no answer'.
          signal: AbortSignal.timeout(20_000),
        });
        answer = { status: response.status, retryAfter: response.headers.get('retry-after'), body: await response.json().catch(() => undefined) };
        if (response.status === 200) sessions[index] = answer.body.refresh_token;
      } catch {
        answer = { status: 'no answer', retryAfter: null, body: undefined };
        // A dead server refuses at once: do not spin.
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      answers.push(answer);
    }
  };
  const loops = sessions.map((_, index) => loop(index));
  const stop = async () => {
    running = false;
    await Promise.all(loops);
  };
  t.after(stop);
  return { answers, stop };
}

async function waitFor(what: string, condition: () => boolean | Promise<boolean>, server: ServerProcess, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (server.child.exitCode !== null || server.child.signalCode !== null) {
      assert.fail(`the server exited (${server.child.exitCode ?? server.child.signalCode}) while waiting for ${what}:\n${server.output().slice(-3000)}`);
    }
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function logins(server: ServerProcess, seed: DemoSeed, count: number): Promise<string[]> {
  const tokens: string[] = [];
  for (let i = 0; i < count; i++) {
    const answer = await tokenRequest(server.issuer, { grant_type: 'password', username: 'johndoe', password: 'correct horse', scope: 'me items' }, seed.passwordClient);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    tokens.push(answer.body.refresh_token);
  }
  return tokens;
}

/** Every session still refreshes: nothing was lost to the outage. */
async function assertSessionsSurvive(server: ServerProcess, seed: DemoSeed, sessions: string[]): Promise<void> {
  for (const token of sessions) {
    const answer = await tokenRequest(server.issuer, { grant_type: 'refresh_token', refresh_token: token }, seed.passwordClient);
    assert.equal(answer.status, 200, `a session was lost: ${JSON.stringify(answer.body)}`);
  }
}

const healthz = async (server: ServerProcess) => {
  const response = await fetch(`${server.issuer}/healthz`, { signal: AbortSignal.timeout(20_000) });
  return { status: response.status, body: (await response.json()) as any, retryAfter: response.headers.get('retry-after') };
};

for (const mode of ['fast', 'immediate'] as const) {
  test(`PostgreSQL stopped (${mode}) under refresh traffic: no crash, 503 with Retry-After, recovery without restart`, { timeout: 180_000 }, async (t) => {
    const { pg, server, seed } = await setup(t);
    const sessions = await logins(server, seed, 4);
    const traffic = refreshTraffic(t, server, seed, sessions);
    await waitFor('refreshes to flow', () => traffic.answers.filter((a) => a.status === 200).length >= 20, server);

    await pg.stop(mode);
    const before = traffic.answers.length;
    await waitFor('answers during the outage', () => traffic.answers.slice(before).filter((a) => a.status === 503).length >= 5, server);
    const health = await healthz(server);
    assert.equal(health.status, 503);
    assert.equal(health.body.checks.database, 'unavailable', JSON.stringify(health.body));

    await pg.start();
    const restarted = traffic.answers.length;
    await waitFor('refreshes after the restart', () => traffic.answers.slice(restarted).filter((a) => a.status === 200).length >= 20, server);
    await traffic.stop();

    assert.equal(server.child.exitCode, null, 'the server is still running');
    const failures = traffic.answers.filter((a) => a.status !== 200);
    assert.deepEqual(failures.filter((a) => a.status !== 503), [], 'every failure is a 503');
    for (const failure of failures) {
      assert.ok(Number(failure.retryAfter) > 0, `Retry-After on every 503: ${JSON.stringify(failure)}`);
      assert.equal(failure.body?.error, 'server_error', 'an RFC 6749 error body');
    }
    assert.equal((await healthz(server)).status, 200);
    await assertSessionsSurvive(server, seed, sessions);
    assert.doesNotMatch(server.output(), /Unhandled 'error' event|uncaughtException/);
  });
}

test('PostgreSQL frozen under refresh traffic: 503 within the configured timeouts instead of a hang, then recovery', { timeout: 180_000 }, async (t) => {
  const { pg, server, seed } = await setup(t);
  const sessions = await logins(server, seed, 4);
  const traffic = refreshTraffic(t, server, seed, sessions);
  await waitFor('refreshes to flow', () => traffic.answers.filter((a) => a.status === 200).length >= 20, server);

  pg.freeze();
  const before = traffic.answers.length;
  // Each loop waits for its answer: 503s keep coming only if no request hangs.
  await waitFor('503s while frozen', () => traffic.answers.slice(before).filter((a) => a.status === 503).length >= 12, server);
  const health = await healthz(server);
  assert.equal(health.status, 503);
  assert.equal(health.body.checks.database, 'unavailable');

  pg.resume();
  const resumed = traffic.answers.length;
  await waitFor('refreshes after the resume', () => traffic.answers.slice(resumed).filter((a) => a.status === 200).length >= 20, server);
  await traffic.stop();

  assert.deepEqual(traffic.answers.filter((a) => a.status !== 200 && a.status !== 503), [], 'no hang, no 500: every failure is a 503');
  await assertSessionsSurvive(server, seed, sessions);
});
