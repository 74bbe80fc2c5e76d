// A streaming client that stops reading mid-stream: the call ends (client_aborted, charged for what was relayed) instead of holding on for good.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { startHarness, type Harness } from '../helpers/harness.ts';
import { waitFor } from '../helpers/wait.ts';

describe('a streaming client that stops reading', () => {
  let h: Harness;
  before(async () => {
    // an answer far larger than the socket buffers between proxy and client, and an idle bound the test can wait out
    h = await startHarness({ env: { CLLAMA_STREAM_IDLE_TIMEOUT_MS: '500' }, upstream: { chunks: 200_000 } });
  });
  after(async () => {
    await h.close();
  });

  it('is cut once the relay has waited on its socket for the idle bound, and the call is charged and recorded', async () => {
    const url = new URL(h.url);
    const body = JSON.stringify({ model: 'openai/gpt-4o', stream: true, messages: [{ role: 'user', content: 'a long answer' }] });
    const socket: Socket = connect(Number(url.port), url.hostname);
    let received = 0;
    const paused = new Promise<void>((resolve) => {
      socket.on('data', (chunk: Buffer) => {
        if (received === 0) socket.pause(); // reads the first bytes, then stops: the kernel buffers fill, the relay waits on drain
        received += chunk.length;
        resolve();
      });
    });
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    socket.on('error', () => undefined);
    socket.write(
      `POST /v1/chat/completions HTTP/1.1\r\nhost: ${url.host}\r\nauthorization: Bearer ${h.token('a')}\r\n` +
        `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    await paused;
    assert.ok(received > 0);
    assert.equal(h.tollgate.deps.inFlight.count, 1, 'the call is running');

    await waitFor(() => h.tollgate.deps.inFlight.count === 0, 'the stalled call ended');
    // the entry holds megabytes of stream: read it once it is all written
    await waitFor(() => h.tollgate.deps.history.pendingEntries === 0, 'the entry written');
    const entry = h.historyLines('a')[0];
    assert.equal(entry.outcome, 'client_aborted');
    assert.ok(((entry.usage as Record<string, number>).prompt_tokens ?? 0) > 0, 'charged for what upstream processed');
    // the audit line follows the history line (it is written on the next turn)
    await waitFor(() => h.events.some((event) => event.type === 'error' && event.outcome === 'client_aborted'), 'an error event says the client went');
    socket.resume();
    await closed; // the proxy closed the connection
  });
});
