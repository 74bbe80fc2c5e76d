// The upstream pool does not cap concurrent calls to one provider by default (a stream holds its connection for minutes), and honours a configured cap.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CallCancel, UpstreamClient, type UpstreamResponse } from '../../../src/upstream/client.ts';
import { waitFor } from '../../helpers/wait.ts';

/** An upstream that answers every call with the start of a stream and holds it open until released. */
async function holdingUpstream(): Promise<{ url: string; held: ServerResponse[]; peak: () => number; release: () => void; close: () => Promise<void> }> {
  const held: ServerResponse[] = [];
  let open = 0;
  let peak = 0;
  let releasing = false;
  const server = createServer((req, res) => {
    req.resume();
    open += 1;
    peak = Math.max(peak, open);
    res.on('close', () => (open -= 1));
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write('data: {}\n\n');
    if (releasing) res.end();
    else held.push(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1/chat/completions`,
    held,
    peak: () => peak,
    release: () => {
      releasing = true;
      for (const res of held.splice(0)) res.end();
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function stream(client: UpstreamClient, url: string): Promise<UpstreamResponse | Error> {
  const body = Buffer.from('{"stream":true}');
  return client
    .send({
      url,
      headers: { 'content-type': 'application/json', 'content-length': String(body.length) },
      body,
      cancel: new CallCancel(),
      headersTimeoutMs: 60_000,
    })
    .then(
      async (response) => {
        await response.body.bytes();
        return response;
      },
      (error: Error) => error,
    );
}

test('300 concurrent streams to one provider all reach it (no per-origin connection cap by default)', async () => {
  const upstream = await holdingUpstream();
  const client = new UpstreamClient({ connectTimeoutMs: 5_000 });
  try {
    const calls = Array.from({ length: 300 }, () => stream(client, upstream.url));
    await waitFor(() => upstream.held.length === 300, 'all 300 calls at the upstream at once');
    upstream.release();
    const results = await Promise.all(calls);
    assert.ok(results.every((result) => !(result instanceof Error)));
  } finally {
    upstream.release();
    await client.close();
    await upstream.close();
  }
});

test('a configured cap holds: calls past it wait for a connection and are sent when one frees', async () => {
  const upstream = await holdingUpstream();
  const client = new UpstreamClient({ connectTimeoutMs: 5_000, connections: 3 });
  try {
    const calls = Array.from({ length: 10 }, () => stream(client, upstream.url));
    await waitFor(() => upstream.held.length === 3, 'three calls at the upstream');
    upstream.release();
    const results = await Promise.all(calls);
    assert.ok(results.every((result) => !(result instanceof Error)));
    assert.equal(upstream.peak(), 3);
  } finally {
    upstream.release();
    await client.close();
    await upstream.close();
  }
});
