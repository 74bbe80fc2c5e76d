// EventFeed: bounded replay buffer, Last-Event-ID, type filters, redaction, and streams ended on close.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { EventFeed } from '../../../src/admin/event-feed.ts';
import { EventBus } from '../../../src/observability/events.ts';
import { rawEvent } from '../../helpers/raw-event.ts';

async function serve(feed: EventFeed): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => feed.open(req, res, new URL(req.url!, 'http://x').searchParams));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/** Reads frames until `count` data frames arrived; returns [id, parsed data] pairs. */
async function frames(url: string, count: number, headers: Record<string, string> = {}): Promise<[number, Record<string, unknown>][]> {
  const controller = new AbortController();
  const response = await fetch(url, { headers, signal: controller.signal });
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  const parsed = () => [...text.matchAll(/^id: (\d+)\ndata: (.*)$/gm)].map((m) => [Number(m[1]), JSON.parse(m[2])] as [number, Record<string, unknown>]);
  while (parsed().length < count) {
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
  }
  controller.abort();
  return parsed();
}

const emit = (bus: EventBus, type: string, extra: Record<string, unknown> = {}) =>
  bus.emit(rawEvent({ type: type as never, claw_id: 'a', model: null, intervention: null, ...extra }));

describe('EventFeed', () => {
  it('replays at most the buffer size, after Last-Event-ID, and filters by type', async () => {
    const bus = new EventBus();
    const feed = new EventFeed({ bus, bufferSize: 3, firstId: 1 });
    const { server, url } = await serve(feed);
    try {
      for (let index = 1; index <= 5; index++) emit(bus, 'response', { n: index });
      assert.deepEqual(
        (await frames(url, 3)).map(([id]) => id),
        [3, 4, 5],
      );
      assert.deepEqual(
        (await frames(`${url}?replay=1`, 1)).map(([id]) => id),
        [5],
      );
      assert.deepEqual(
        (await frames(url, 1, { 'last-event-id': '4' })).map(([id]) => id),
        [5],
      );
      emit(bus, 'request');
      emit(bus, 'intervention', { intervention: 'rate_limited' });
      const defaults = await frames(url, 2);
      assert.ok(
        defaults.every(([, data]) => data.type !== 'request'),
        'request events are left out by default',
      );
      assert.deepEqual(
        (await frames(`${url}?types=request`, 1)).map(([, data]) => data.type),
        ['request'],
      );
    } finally {
      feed.close();
      server.close();
    }
  });

  it('sends live events to connected clients, redacts secrets, and ends the streams on close', async () => {
    const bus = new EventBus();
    const feed = new EventFeed({ bus });
    const { server, url } = await serve(feed);
    try {
      const pending = frames(`${url}?replay=0`, 1);
      while (feed.clientCount === 0) await new Promise((resolve) => setTimeout(resolve, 5));
      emit(bus, 'error', { error: 'upstream said Bearer sk-abcdefghijklmnopqrstuvwxyz', api_key: 'sk-real' });
      const [[, data]] = await pending;
      assert.ok(!JSON.stringify(data).includes('sk-abcdefghijklmnopqrstuvwxyz'));
      assert.ok(!JSON.stringify(data).includes('sk-real'));
      while (feed.clientCount > 0) await new Promise((resolve) => setTimeout(resolve, 5));
      const open = fetch(url).then(async (response) => response.text());
      while (feed.clientCount === 0) await new Promise((resolve) => setTimeout(resolve, 5));
      feed.close();
      assert.match(await open, /^retry: 3000/, 'the stream ends instead of hanging');
      const late = await fetch(url).then(async (response) => response.text());
      assert.match(late, /^retry: 3000/, 'a client arriving after close is ended at once');
    } finally {
      server.close();
    }
  });

  it('numbers events after the clock, so a restarted process never reissues an id a page already holds', async () => {
    const bus = new EventBus();
    const first = new EventFeed({ bus });
    const started = Date.now();
    for (let index = 0; index < 3; index++) emit(bus, 'response');
    const firstIds = first.recent().map(({ id }) => id);
    first.close();
    assert.ok(firstIds[0] >= started * 1000 && Number.isSafeInteger(firstIds[2]), `ids from the clock in microseconds: ${firstIds}`);
    while (Date.now() === started) await new Promise((resolve) => setTimeout(resolve, 1)); // the next process starts later
    const nextBus = new EventBus();
    const next = new EventFeed({ bus: nextBus });
    emit(nextBus, 'response');
    assert.ok(next.recent()[0].id > firstIds[2], 'ids keep increasing across lives of the process');
    next.close();
  });

  it('pings with a named event a page can hear (a comment never reaches EventSource)', async () => {
    const bus = new EventBus();
    const feed = new EventFeed({ bus, heartbeatMs: 20 });
    const { server, url } = await serve(feed);
    try {
      const controller = new AbortController();
      const response = await fetch(`${url}?replay=0`, { signal: controller.signal });
      const reader = response.body!.getReader();
      let text = '';
      while (!text.includes('event: ping')) text += new TextDecoder().decode((await reader.read()).value);
      controller.abort();
      assert.match(text, /\n\nevent: ping\ndata: \{\}\n\n/, 'a named event with data (an empty one would not be dispatched)');
      assert.ok(!/^id:/m.test(text), "no id: it moves no one's Last-Event-ID");
    } finally {
      feed.close();
      server.closeAllConnections();
      server.close();
    }
  });
});
