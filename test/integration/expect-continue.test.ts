// `Expect: 100-continue` is answered by tollgate, after auth, and never forwarded: curl's large uploads work, and a
// caller that would be refused uploads nothing.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startHarness, type Harness } from '../helpers/harness.ts';

const run = promisify(execFile);

/** A chat body of about `bytes` bytes. */
function bodyOf(bytes: number): string {
  return JSON.stringify({ model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'x'.repeat(bytes) }] });
}

/** Reads one HTTP head (status line and headers) from the socket; resolves with it and whatever followed it. */
function readHead(socket: Socket, already = ''): Promise<{ status: number; head: string; rest: string }> {
  return new Promise((resolve, reject) => {
    let received = already;
    const check = (): boolean => {
      const end = received.indexOf('\r\n\r\n');
      if (end < 0) return false;
      socket.off('data', onData);
      socket.off('close', onClose);
      const head = received.slice(0, end);
      resolve({ status: Number(head.split(' ')[1]), head, rest: received.slice(end + 4) });
      return true;
    };
    const onData = (chunk: Buffer): void => {
      received += chunk.toString('latin1');
      check();
    };
    const onClose = (): void => reject(new Error(`closed before an HTTP head: ${JSON.stringify(received.slice(0, 200))}`));
    if (check()) return;
    socket.on('data', onData);
    socket.on('close', onClose);
  });
}

function open(url: string): Promise<Socket> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => resolve(socket));
    socket.on('error', reject);
  });
}

function headers(input: { token: string; length: number }): string {
  return `POST /v1/chat/completions HTTP/1.1\r\nHost: proxy\r\nAuthorization: Bearer ${input.token}\r\nContent-Type: application/json\r\nContent-Length: ${input.length}\r\nExpect: 100-continue\r\n\r\n`;
}

describe('Expect: 100-continue', () => {
  let h: Harness;
  let dir: string;
  before(async () => {
    h = await startHarness({ agents: { a: {} }, env: { TOLLGATE_MAX_BODY_BYTES: String(4 * 1024 * 1024) } });
    dir = mkdtempSync(join(tmpdir(), 'tollgate-expect-'));
  });
  after(async () => {
    await h.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a 2 MiB body sent by curl (which waits for 100 Continue) gets 200, and the upstream never sees the Expect header', async () => {
    const file = join(dir, 'body.json');
    writeFileSync(file, bodyOf(2 * 1024 * 1024));
    const { stdout } = await run('curl', [
      '-sS',
      '-o',
      join(dir, 'answer.json'),
      '-w',
      '%{http_code}',
      '--expect100-timeout',
      '30',
      '-H',
      `Authorization: Bearer ${h.token('a')}`,
      '-H',
      'Content-Type: application/json',
      '-H',
      'Expect: 100-continue',
      '--data-binary',
      `@${file}`,
      `${h.url}/v1/chat/completions`,
    ]);
    assert.equal(stdout, '200');
    const forwarded = h.fake.requests.at(-1)!;
    assert.equal(forwarded.headers.expect, undefined);
    assert.equal((forwarded.body.messages as { content: string }[])[0].content.length, 2 * 1024 * 1024);
  });

  it('a known agent gets 100 Continue before uploading, then its answer', async () => {
    const body = bodyOf(64 * 1024);
    const socket = await open(h.url);
    try {
      socket.write(headers({ token: h.token('a'), length: Buffer.byteLength(body) }));
      const interim = await readHead(socket);
      assert.equal(interim.status, 100);
      socket.write(body);
      const final = await readHead(socket, interim.rest);
      assert.equal(final.status, 200);
    } finally {
      socket.destroy();
    }
  });

  it('an unknown agent gets 401 in the OpenAI envelope without 100 Continue: nothing is uploaded', async () => {
    const forwarded = h.fake.requests.length;
    const socket = await open(h.url);
    try {
      socket.write(headers({ token: 'nobody:guess', length: 2 * 1024 * 1024 }));
      const first = await readHead(socket);
      assert.equal(first.status, 401, first.head);
      assert.match(first.head, /content-type: application\/json/i);
    } finally {
      socket.destroy();
    }
    assert.equal(h.fake.requests.length, forwarded);
  });

  it('a declared length over TOLLGATE_MAX_BODY_BYTES gets 413 without 100 Continue', async () => {
    const socket = await open(h.url);
    try {
      socket.write(headers({ token: h.token('a'), length: 5 * 1024 * 1024 }));
      const first = await readHead(socket);
      assert.equal(first.status, 413, first.head);
    } finally {
      socket.destroy();
    }
  });
});
