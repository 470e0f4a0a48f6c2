// What every request is held to (issue #11, items 6 and 7), over raw sockets the way a hostile or
// broken client behaves: a body trickled one byte a second is cut off (408) by the request
// timeout, headers by the headers timeout; a body larger than the route accepts is answered 413 —
// delivered, not a connection reset under a client still sending; two Host headers are a 400
// (RFC 9112 §3.2).
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { test } from 'node:test';
import { startInProcess } from '@gatehouse/test-support/gatehouse';
import { PROVIDER_BODY_LIMIT } from '../src/engine/mount.ts';

interface RawAnswer {
  /** Everything the server sent. */
  readonly text: string;
  /** How the exchange ended: the server closed, or an error on our side (EPIPE, ECONNRESET). */
  readonly ended: 'closed' | string;
}

function open(port: number): Socket {
  return connect(port, '127.0.0.1');
}

/** Collects what the server sends until it closes the connection (or the deadline passes). */
function answer(socket: Socket, deadlineMs = 30_000): Promise<RawAnswer> {
  return new Promise((resolve) => {
    let text = '';
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ text, ended: 'still open at the deadline' });
    }, deadlineMs);
    socket.on('data', (chunk) => (text += chunk));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve({ text, ended: error.code ?? error.message });
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ text, ended: 'closed' });
    });
  });
}

const status = (raw: RawAnswer) => Number(/^HTTP\/1\.1 (\d{3})/.exec(raw.text)?.[1]);

/** Sends `headers` then trickles `body` one byte a second until the server answers or closes. */
async function trickle(port: number, head: string, body: string): Promise<RawAnswer> {
  const socket = open(port);
  const answered = answer(socket);
  socket.write(head);
  let sent = 0;
  // Stop sending once the server has answered: writing after its close only provokes a reset.
  let answeredYet = false;
  socket.once('data', () => (answeredYet = true));
  const timer = setInterval(() => {
    if (sent < body.length && !socket.destroyed && !answeredYet) socket.write(body[sent++]!);
  }, 1000);
  const result = await answered;
  clearInterval(timer);
  return result;
}

/** Writes a request with a large body completely (waiting for the socket to drain), then reads the answer. */
async function sendLarge(port: number, path: string, contentType: string, size: number): Promise<RawAnswer> {
  const socket = open(port);
  const answered = answer(socket);
  socket.write(`POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: ${contentType}\r\nContent-Length: ${size}\r\nConnection: close\r\n\r\n`);
  const chunk = Buffer.alloc(64 * 1024, 'a');
  for (let sent = 0; sent < size && !socket.destroyed; sent += chunk.length) {
    if (!socket.write(sent + chunk.length > size ? chunk.subarray(0, size - sent) : chunk)) {
      await new Promise<void>((resolve) => {
        socket.once('drain', resolve);
        socket.once('close', resolve);
      });
    }
  }
  return answered;
}

test('a body sent one byte a second is cut off by the request timeout (408), on the protocol endpoints and the pages', { timeout: 120_000 }, async (t) => {
  const { issuer } = await startInProcess(t, { GATEHOUSE_REQUEST_TIMEOUT: '3', GATEHOUSE_HEADERS_TIMEOUT: '2' });
  const port = Number(new URL(issuer).port);
  for (const path of ['/token', '/interaction/abc/login']) {
    const raw = await trickle(port, `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n`, 'grant_type=client_credentials&'.repeat(40));
    assert.equal(status(raw), 408, `${path}: ${JSON.stringify(raw)}`);
    // The server ends the connection; a byte of ours in flight as it closes turns the close into a reset.
    assert.ok(['closed', 'ECONNRESET'].includes(raw.ended), `${path}: ended ${raw.ended}`);
  }
});

test('headers sent one byte a second are cut off by the headers timeout (408)', { timeout: 120_000 }, async (t) => {
  const { issuer } = await startInProcess(t, { GATEHOUSE_REQUEST_TIMEOUT: '30', GATEHOUSE_HEADERS_TIMEOUT: '2' });
  const raw = await trickle(Number(new URL(issuer).port), 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n', 'X-Slow: '.padEnd(200, 'z'));
  assert.equal(status(raw), 408, JSON.stringify(raw));
  assert.ok(['closed', 'ECONNRESET'].includes(raw.ended), `ended ${raw.ended}`);
});

test('a 10 MB body is answered 413, and the client still sending gets the answer: token endpoint (RFC 6749 JSON), login form, admin API', { timeout: 120_000 }, async (t) => {
  const { issuer } = await startInProcess(t);
  const port = Number(new URL(issuer).port);
  const size = 10 * 1024 * 1024;

  const token = await sendLarge(port, '/token', 'application/x-www-form-urlencoded', size);
  assert.equal(token.ended, 'closed', 'no reset under the sender');
  assert.equal(status(token), 413, token.text.slice(0, 300));
  // The description names the limit (not Fastify's generic words), so a client can tell what to change.
  assert.deepEqual(JSON.parse(token.text.slice(token.text.indexOf('\r\n\r\n') + 4)), { error: 'invalid_request', error_description: `the request body is larger than ${PROVIDER_BODY_LIMIT} bytes` });

  const login = await sendLarge(port, '/interaction/abc/login', 'application/x-www-form-urlencoded', size);
  assert.equal(login.ended, 'closed', 'no reset under the sender');
  assert.equal(status(login), 413, login.text.slice(0, 300));
  assert.match(login.text, /Request too large/);

  const admin = await sendLarge(port, '/admin/api/users', 'application/json', size);
  assert.equal(admin.ended, 'closed');
  assert.equal(status(admin), 413, admin.text.slice(0, 300));
  assert.match(admin.text, /"error":"payload_too_large"/);

  // Within the limit, the same endpoint answers as usual (a protocol error, not a size one).
  const small = await fetch(`${issuer}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=nope' });
  assert.notEqual(small.status, 413);
});

test('a request with two Host headers is answered 400 (RFC 9112 §3.2), wherever it goes', async (t) => {
  const { issuer } = await startInProcess(t);
  const port = Number(new URL(issuer).port);
  for (const path of ['/healthz', '/token', '/.well-known/openid-configuration', '/interaction/abc', '/admin/api/users']) {
    const socket = open(port);
    const answered = answer(socket);
    socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n`);
    const raw = await answered;
    assert.equal(status(raw), 400, `${path}: ${raw.text.slice(0, 200)}`);
    // A protocol endpoint refuses in RFC 6749 §5.2's form, not cached, like its other answers.
    if (path === '/token') {
      assert.match(raw.text, /\r\ncache-control: no-store\r\n/i, raw.text.slice(0, 300));
      assert.match(raw.text, /"error":"invalid_request"/);
    }
  }
  // One Host header is fine.
  assert.equal((await fetch(`${issuer}/healthz`)).status, 200);
});
