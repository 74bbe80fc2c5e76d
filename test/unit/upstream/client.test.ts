import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ProxyError } from '../../../src/errors.ts';
import { CallCancel, UpstreamClient } from '../../../src/upstream/client.ts';

async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ url: string; server: Server; close: () => Promise<void> }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function send(client: UpstreamClient, url: string, options: { cancel?: CallCancel; headersTimeoutMs?: number; body?: string } = {}) {
  const body = Buffer.from(options.body ?? '{"model":"m"}');
  return client.send({
    url,
    headers: { 'content-type': 'application/json', 'content-length': String(body.length), 'x-test': 'yes' },
    body,
    cancel: options.cancel ?? new CallCancel(),
    headersTimeoutMs: options.headersTimeoutMs ?? 5_000,
  });
}

test('sends method, path with query, headers and body; returns status, parsed headers and the whole body', async () => {
  const seen: { method?: string; url?: string; header?: string; body?: string } = {};
  const upstream = await serve((req, res) => {
    let text = '';
    req.on('data', (chunk) => (text += chunk));
    req.on('end', () => {
      Object.assign(seen, { method: req.method, url: req.url, header: req.headers['x-test'], body: text });
      res.writeHead(201, { 'content-type': 'application/json', 'set-cookie': ['a=1', 'b=2'] });
      res.write('{"ok":');
      setTimeout(() => res.end('true}'), 10);
    });
  });
  const client = new UpstreamClient({ connectTimeoutMs: 1_000 });
  try {
    const response = await send(client, `${upstream.url}/v1/chat/completions?x=1`, { body: '{"hello":"world"}' });
    assert.equal(response.statusCode, 201);
    assert.equal(response.headers['content-type'], 'application/json');
    assert.deepEqual(response.headers['set-cookie'], ['a=1', 'b=2']);
    assert.equal((await response.body.bytes()).toString(), '{"ok":true}');
    assert.deepEqual(seen, { method: 'POST', url: '/v1/chat/completions?x=1', header: 'yes', body: '{"hello":"world"}' });
  } finally {
    await client.close();
    await upstream.close();
  }
});

test('streams chunks in order through for-await, with backpressure on a large body', async () => {
  const piece = 'x'.repeat(16 * 1024);
  const pieces = 64; // 1 MiB, well over the high-water mark
  const upstream = await serve((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    let sent = 0;
    const pump = () => {
      while (sent < pieces) {
        sent++;
        if (!res.write(piece)) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
  });
  const client = new UpstreamClient({ connectTimeoutMs: 1_000 });
  try {
    const response = await send(client, upstream.url);
    let total = 0;
    for await (const chunk of response.body) {
      total += chunk.length;
      await new Promise((resolve) => setImmediate(resolve)); // a slow reader
    }
    assert.equal(total, piece.length * pieces);
  } finally {
    await client.close();
    await upstream.close();
  }
});

test('an abort before the headers rejects with the abort reason', async () => {
  const upstream = await serve(() => undefined); // never answers
  const client = new UpstreamClient({ connectTimeoutMs: 1_000 });
  try {
    const cancel = new CallCancel();
    const pending = send(client, upstream.url, { cancel });
    setTimeout(() => cancel.abort(new ProxyError('upstream_timeout', { message: 'deadline' })), 20);
    await assert.rejects(pending, (error: unknown) => error instanceof ProxyError && error.code === 'upstream_timeout');
    const aborted = new CallCancel();
    aborted.abort(new ProxyError('upstream_unreachable', { message: 'gone' }));
    aborted.abort(new ProxyError('upstream_timeout', { message: 'later reasons are ignored' }));
    await assert.rejects(send(client, upstream.url, { cancel: aborted }), (error: unknown) => error instanceof ProxyError && error.message === 'gone');
  } finally {
    await client.close();
    await upstream.close();
  }
});

test('an abort mid-body fails the body read; a reset mid-body too; headers timeout is a 504 code', async () => {
  const upstream = await serve((req, res) => {
    if (req.url === '/silent') return; // no headers
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{"partial":');
    if (req.url === '/reset') setTimeout(() => res.socket?.destroy(), 10);
  });
  const client = new UpstreamClient({ connectTimeoutMs: 1_000 });
  try {
    const cancel = new CallCancel();
    const response = await send(client, `${upstream.url}/stall`, { cancel });
    setTimeout(() => cancel.abort(new ProxyError('upstream_timeout', { message: 'body deadline' })), 20);
    await assert.rejects(response.body.bytes(), (error: unknown) => error instanceof ProxyError && error.message === 'body deadline');

    const reset = await send(client, `${upstream.url}/reset`);
    await assert.rejects(reset.body.bytes());

    await assert.rejects(
      send(client, `${upstream.url}/silent`, { headersTimeoutMs: 50 }),
      (error: unknown) => error instanceof ProxyError && error.code === 'upstream_timeout',
    );
  } finally {
    await client.close();
    await upstream.close();
  }
});

test('leaving a for-await loop early aborts the upstream call', async () => {
  let closed = false;
  const upstream = await serve((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write('data: 1\n\n');
    res.on('close', () => (closed = true));
    // never ends on its own
  });
  const client = new UpstreamClient({ connectTimeoutMs: 1_000 });
  try {
    const response = await send(client, upstream.url);
    for await (const chunk of response.body) {
      assert.equal(chunk.toString(), 'data: 1\n\n');
      break;
    }
    for (let i = 0; i < 100 && !closed; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.ok(closed, 'the upstream saw the connection close');
  } finally {
    await client.close();
    await upstream.close();
  }
});

test('an unreachable upstream is a 502 code, said plainly', async () => {
  const upstream = await serve(() => undefined);
  const url = upstream.url;
  await upstream.close();
  const client = new UpstreamClient({ connectTimeoutMs: 1_000 });
  try {
    await assert.rejects(send(client, url), (error: unknown) => {
      assert.ok(error instanceof ProxyError && error.code === 'upstream_unreachable');
      assert.equal(error.message, 'upstream request failed: the upstream refused the connection (ECONNREFUSED)');
      return true;
    });
  } finally {
    await client.close();
  }
});
