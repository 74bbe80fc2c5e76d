// Idle upstream connections are closed after tollgate's own bound (TOLLGATE_UPSTREAM_IDLE_TIMEOUT_MS), however long
// the upstream's `Keep-Alive: timeout=` invites it to keep them.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { startHarness, type Harness } from '../helpers/harness.ts';
import { waitFor } from '../helpers/wait.ts';

/** An upstream that keeps idle connections 65 s and says so (`Keep-Alive: timeout=65`), as a real provider's may. */
async function startLingeringUpstream(): Promise<{ server: Server; url: string; opened: Socket[]; closed: () => number }> {
  const opened: Socket[] = [];
  let closed = 0;
  const server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
    req.resume();
    req.on('end', () => {
      const body = JSON.stringify({
        id: 'x',
        object: 'chat.completion',
        model: 'gpt-4o',
        choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
      });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  server.on('connection', (socket: Socket) => {
    opened.push(socket);
    socket.on('close', () => (closed += 1));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, opened, closed: () => closed };
}

describe('upstream keep-alive bounded by tollgate', () => {
  let h: Harness;
  let upstream: Awaited<ReturnType<typeof startLingeringUpstream>>;
  before(async () => {
    upstream = await startLingeringUpstream();
    h = await startHarness({
      agents: { a: {} },
      env: { TOLLGATE_UPSTREAM_IDLE_TIMEOUT_MS: '300' },
      providerFields: { openai: { base_url: `${upstream.url}/v1` } },
    });
  });
  after(async () => {
    await h.close();
    for (const socket of upstream.opened) socket.destroy();
    await new Promise((resolve) => upstream.server.close(resolve));
  });

  it('the upstream advertises 65 s', async () => {
    const response = await fetch(`${upstream.url}/v1/chat/completions`, { method: 'POST', body: '{}', headers: { connection: 'keep-alive' } });
    await response.text();
    assert.match(response.headers.get('keep-alive') ?? '', /timeout=65/);
  });

  it('every connection tollgate opened is closed by tollgate once idle past its 300 ms bound, not after ~63 s', async () => {
    const before = upstream.opened.length;
    const closedBefore = upstream.closed();
    const call = () =>
      fetch(`${h.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${h.token('a')}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'hi' }] }),
      }).then((response) => response.status);
    assert.deepEqual(await Promise.all([call(), call(), call()]), [200, 200, 200]);
    assert.equal(await call(), 200);
    const ours = upstream.opened.length - before;
    assert.ok(ours >= 1, 'tollgate opened connections');
    // the upstream would hold them 65 s; waitFor gives up after 15 s
    await waitFor(() => upstream.closed() - closedBefore >= ours, 'tollgate to close its idle upstream connections');
    assert.equal(upstream.closed() - closedBefore, ours);
  });
});
