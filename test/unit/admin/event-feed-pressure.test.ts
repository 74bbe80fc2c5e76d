// EventFeed under pressure: many clients that never read (memory bounded over all of them), and a Last-Event-ID from an earlier life.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { EventFeed } from '../../../src/admin/event-feed.ts';
import { EventBus } from '../../../src/observability/events.ts';
import { seededRandom } from '../../helpers/random.ts';
import { waitFor } from '../../helpers/wait.ts';
import { rawEvent } from '../../helpers/raw-event.ts';

async function serve(feed: EventFeed, responses: ServerResponse[]): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    responses.push(res);
    feed.open(req, res, new URL(req.url!, 'http://x').searchParams);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

/** A client that sends its request and then never reads a byte. */
function deafClient(port: number): Promise<Socket> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' }, () => {
      socket.write('GET /?replay=0 HTTP/1.1\r\nhost: x\r\n\r\n');
      socket.pause();
      resolve(socket);
    });
    socket.on('error', () => undefined);
  });
}

describe('EventFeed under pressure', () => {
  it('bounds what all clients that stopped reading hold, not only each one', { timeout: 60_000 }, async () => {
    const bus = new EventBus();
    const feed = new EventFeed({ bus });
    const responses: ServerResponse[] = [];
    const { server, port } = await serve(feed, responses);
    const random = seededRandom(11);
    const sockets: Socket[] = [];
    try {
      for (let index = 0; index < 96; index++) sockets.push(await deafClient(port));
      await waitFor(() => feed.clientCount === 96, 'clients connected');
      let peak = 0;
      // ~48 MiB of events each client would have to hold
      for (let index = 0; index < 1536; index++) {
        bus.emit(rawEvent({ type: 'response', claw_id: 'a', model: null, intervention: null, note: 'x'.repeat(16_384 + Math.floor(random() * 32_768)) }));
        peak = Math.max(
          peak,
          responses.reduce((sum, res) => sum + (res.destroyed ? 0 : res.writableLength), 0),
        );
        if (index % 16 === 0) await new Promise((resolve) => setImmediate(resolve));
      }
      peak = Math.max(
        peak,
        responses.reduce((sum, res) => sum + (res.destroyed ? 0 : res.writableLength), 0),
      );
      assert.ok(peak <= (32 << 20) + 96 * 65_536, `unsent bytes over all clients peaked at ${peak}`);
    } finally {
      for (const socket of sockets) socket.destroy();
      feed.close();
      server.closeAllConnections();
      server.close();
    }
  });

  it('replays everything buffered to a Last-Event-ID this feed never issued (the process restarted, or another replica)', async () => {
    const bus = new EventBus();
    const feed = new EventFeed({ bus, bufferSize: 10, firstId: 1 });
    const responses: ServerResponse[] = [];
    const { server, port } = await serve(feed, responses);
    try {
      for (let index = 0; index < 4; index++) bus.emit(rawEvent({ type: 'response', claw_id: 'a', model: null, intervention: null, n: index }));
      const ids = async (lastEventId: string) => {
        const controller = new AbortController();
        const response = await fetch(`http://127.0.0.1:${port}/`, { headers: { 'last-event-id': lastEventId }, signal: controller.signal });
        const reader = response.body!.getReader();
        let text = '';
        while (!text.includes('retry: 3000\n\n')) text += new TextDecoder().decode((await reader.read()).value);
        controller.abort();
        return [...text.matchAll(/^id: (\d+)$/gm)].map((match) => Number(match[1]));
      };
      assert.deepEqual(await ids('2'), [3, 4]);
      assert.deepEqual(await ids('4'), []);
      assert.deepEqual(await ids('900'), [1, 2, 3, 4], 'id 900 is from an earlier life: all of this one is news');
    } finally {
      feed.close();
      server.closeAllConnections();
      server.close();
    }
  });
});
