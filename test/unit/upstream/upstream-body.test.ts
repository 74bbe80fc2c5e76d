// The upstream body read in batches: order, waits, backpressure, leaving early, and a stream relayed without a promise per chunk.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHook } from 'node:async_hooks';
import { PassThrough } from 'node:stream';
import type { ServerResponse } from 'node:http';
import { chat } from '../../../src/protocol/index.ts';
import { relayResponse } from '../../../src/stream/tap.ts';
import { CallCancel } from '../../../src/upstream/client.ts';
import { UpstreamBody } from '../../../src/upstream/upstream-body.ts';

function body(): { body: UpstreamBody; resumes: () => number; aborts: unknown[] } {
  let resumes = 0;
  const aborts: unknown[] = [];
  const upstream = new UpstreamBody({ resume: () => resumes++, call: { abort: (reason) => aborts.push(reason) } });
  return { body: upstream, resumes: () => resumes, aborts };
}

describe('an upstream body read in batches', () => {
  it('gives what arrived since the last take, in order, and nothing twice', async () => {
    const { body: upstream } = body();
    assert.deepEqual(upstream.take(), []);
    upstream.push(Buffer.from('a'));
    upstream.push(Buffer.from('b'));
    assert.deepEqual(upstream.take().map(String), ['a', 'b']);
    assert.deepEqual(upstream.take(), []);
    const waited = upstream.more();
    upstream.push(Buffer.from('c'));
    await waited;
    assert.deepEqual(upstream.take().map(String), ['c']);
  });

  it('wakes a wait at its end and at a failure, which it then throws', async () => {
    const ended = body().body;
    const waitEnd = ended.more();
    ended.end();
    await waitEnd;
    assert.equal(ended.ended, true);
    const failed = body().body;
    const waitFail = failed.more();
    failed.fail(new Error('reset'));
    await waitFail;
    assert.throws(() => failed.throwIfFailed(), /reset/);
  });

  it('asks undici to pause past 64 KiB unread, and lets it read on once taken', () => {
    const { body: upstream, resumes } = body();
    upstream.take(); // reading as it comes from here on
    assert.equal(upstream.push(Buffer.alloc(40 * 1024)), true);
    assert.equal(upstream.push(Buffer.alloc(40 * 1024)), false);
    assert.equal(resumes(), 0);
    assert.equal(upstream.take().length, 2);
    assert.equal(resumes(), 1);
  });

  it('ends the upstream call when its reader leaves before the end, not after', () => {
    const early = body();
    early.body.push(Buffer.from('a'));
    early.body.leave();
    assert.equal(early.aborts.length, 1);
    const done = body();
    done.body.end();
    done.body.leave();
    assert.equal(done.aborts.length, 0);
  });
});

describe('a stream relayed from an upstream body', () => {
  it('makes no promise per chunk: 200 chunks that arrived together are relayed as one batch', async () => {
    const { body: upstream } = body();
    const chunks = 200;
    for (let index = 0; index < chunks; index++) upstream.push(Buffer.from(`data: {"choices":[{"index":0,"delta":{"content":"${index}"}}]}\n\n`));
    upstream.push(Buffer.from('data: [DONE]\n\n'));
    const client = new PassThrough();
    let received = '';
    client.on('data', (chunk: Buffer) => (received += chunk.toString()));
    const res = Object.assign(client, {
      writeHead: () => res,
      flushHeaders: () => undefined,
      headersSent: true,
    }) as unknown as ServerResponse;
    let promises = 0;
    const hook = createHook({
      init: (_id, type) => {
        if (type === 'PROMISE') promises++;
      },
    }).enable();
    const relayed = relayResponse({
      upstream: { statusCode: 200, headers: { 'content-type': 'text/event-stream' }, body: upstream },
      res,
      protocol: chat,
      headers: {},
      stripUsageChunk: false,
      maxBytes: 1 << 20,
      streamTimeouts: { firstByteMs: 10_000, idleMs: 10_000 },
      cancel: new CallCancel(),
      keysToMask: [],
    });
    upstream.end();
    const result = await relayed;
    hook.disable();
    assert.equal(result.end, 'complete');
    assert.equal(result.dataEvents, chunks + 1);
    assert.ok(received.endsWith('data: [DONE]\n\n'));
    // an async iterator made about four a chunk (800 here); a batch makes a handful whatever the chunk count
    assert.ok(promises < chunks / 4, `${promises} promises for ${chunks} chunks`);
  });
});
