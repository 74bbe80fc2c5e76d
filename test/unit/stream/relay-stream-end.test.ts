// A stream's last pieces and its end: the client sees the terminator only once the call is charged, in one write.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chat } from '../../../src/protocol/index.ts';
import { relayResponse, type RelayResult } from '../../../src/stream/tap.ts';
import { CallCancel } from '../../../src/upstream/client.ts';
import { UpstreamBody } from '../../../src/upstream/upstream-body.ts';

const EVENT = (text: string) => `data: {"choices":[{"index":0,"delta":{"content":"${text}"}}]}\n\n`;
const USAGE = 'data: {"choices":[],"usage":{"prompt_tokens":10,"completion_tokens":3,"total_tokens":13}}\n\n';
const DONE = 'data: [DONE]\n\n';

/** One proxied stream: the upstream's body pushed by the test, the client's bytes as they arrive, beforeEnd held. */
interface Relay {
  readonly body: UpstreamBody;
  /** What the client has received so far. */
  received(): string;
  /** Resolves once the client has received text that includes `text`. */
  receivedText(text: string): Promise<void>;
  /** Resolves when the relay asks to end the answer (the call is being charged), with what it reports. */
  readonly charging: Promise<RelayResult>;
  /** Lets the charge finish. */
  charged(): void;
  /** The client's response ended. */
  readonly ended: Promise<void>;
  /** Writes to the kernel of the client's socket so far. */
  readonly socketWrites: () => number;
}

describe('a stream whose last pieces arrive with the end of its body', () => {
  let server: Server;
  let port = 0;
  let next: ((res: ServerResponse) => void) | null = null;
  before(async () => {
    server = createServer((_req, res) => next?.(res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );

  function startRelay(options: { stripUsageChunk: boolean }): Relay {
    const body = new UpstreamBody({ resume: () => undefined, call: { abort: () => undefined } });
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let reportCharging!: (result: RelayResult) => void;
    const charging = new Promise<RelayResult>((resolve) => (reportCharging = resolve));
    let text = '';
    let waiters: Array<() => void> = [];
    let writes = 0;
    next = (res) => {
      // each call of the socket's _write or _writev is one write to the kernel
      const socket = res.socket as unknown as Record<'_write' | '_writev', (...args: unknown[]) => void>;
      for (const method of ['_write', '_writev'] as const) {
        const original = socket[method];
        socket[method] = (...args: unknown[]) => {
          writes++;
          original.apply(socket, args);
        };
      }
      void relayResponse({
        upstream: { statusCode: 200, headers: { 'content-type': 'text/event-stream' }, body },
        res,
        protocol: chat,
        headers: { 'content-type': 'text/event-stream' },
        stripUsageChunk: options.stripUsageChunk,
        maxBytes: 1 << 20,
        streamTimeouts: { firstByteMs: 10_000, idleMs: 10_000 },
        cancel: new CallCancel(),
        keysToMask: [],
        beforeEnd: async (result) => {
          reportCharging(result);
          await released;
        },
      });
    };
    const ended = new Promise<void>((resolve, reject) => {
      const req = request({ port, host: '127.0.0.1', method: 'POST', path: '/' }, (res) => {
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
          for (const wake of waiters) wake();
          waiters = [];
        });
        res.on('end', () => resolve());
      });
      req.on('error', reject);
      req.end();
    });
    const receivedText = async (wanted: string): Promise<void> => {
      while (!text.includes(wanted)) await new Promise<void>((resolve) => waiters.push(resolve));
    };
    return { body, received: () => text, receivedText, charging, charged: release, ended, socketWrites: () => writes };
  }

  for (const stripUsageChunk of [false, true]) {
    it(`${stripUsageChunk ? 'usage chunk stripped' : 'relayed as it is'}: what came before is relayed at once, the terminator only once the call is charged`, async () => {
      const relay = startRelay({ stripUsageChunk });
      relay.body.push(Buffer.from(EVENT('first')));
      await relay.receivedText('first'); // a piece that arrived before the end leaves at once

      relay.body.push(Buffer.from(EVENT('last') + USAGE + DONE));
      relay.body.end();
      const result = await relay.charging;
      assert.equal(result.end, 'complete');
      assert.equal(result.usage?.outputTokens, 3, 'charged the usage the stream reported');
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.ok(!relay.received().includes('[DONE]'), 'the client has not seen the terminator while its call is being charged');
      assert.ok(!relay.received().includes('last'), 'nor the rest of the piece that came with the end');

      relay.charged();
      await relay.ended;
      const expected = EVENT('first') + EVENT('last') + (stripUsageChunk ? '' : USAGE) + DONE;
      assert.equal(relay.received(), expected, 'every byte relayed, in order, once the call is charged');
    });
  }

  it('a whole stream that arrived with its end reaches the client in one write, with the end of the answer', async () => {
    const relay = startRelay({ stripUsageChunk: true });
    relay.body.push(Buffer.from(EVENT('only') + USAGE + DONE));
    relay.body.end();
    await relay.charging;
    await new Promise((resolve) => setTimeout(resolve, 20)); // charging takes turns of the event loop, as file writes do
    relay.charged();
    await relay.ended;
    assert.equal(relay.received(), EVENT('only') + DONE);
    assert.equal(relay.socketWrites(), 1, 'headers, the events and the end of the chunked body in one write');
  });
});
