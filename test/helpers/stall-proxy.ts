// Test helper: a TCP proxy in front of the UI port that can freeze the live-feed streams open at the time (a stuck proxy).
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

export interface StallProxy {
  readonly url: string;
  /** Connections that asked for /api/events so far. */
  readonly feedConnections: number;
  /** The feed streams open now stop passing anything to the browser but stay open; later connections pass as usual. */
  freezeFeeds(): void;
  close(): Promise<void>;
}

interface Pair {
  readonly client: Socket;
  readonly upstream: Socket;
  feed: boolean;
}

export async function startStallProxy(target: string): Promise<StallProxy> {
  const { hostname, port } = new URL(target);
  const pairs = new Set<Pair>();
  let feedConnections = 0;
  const server: Server = createServer((client) => {
    const upstream = connect({ host: hostname, port: Number(port) });
    const pair: Pair = { client, upstream, feed: false };
    pairs.add(pair);
    // a kept-alive connection can carry other requests before the feed's (which then holds it for good)
    client.on('data', (chunk: Buffer) => {
      if (!pair.feed && chunk.toString('latin1').startsWith('GET /api/events')) {
        pair.feed = true;
        feedConnections += 1;
      }
    });
    client.pipe(upstream);
    upstream.pipe(client);
    const drop = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get feedConnections() {
      return feedConnections;
    },
    freezeFeeds() {
      for (const pair of pairs) {
        if (!pair.feed) continue;
        pair.upstream.unpipe(pair.client);
        pair.upstream.pause();
      }
    },
    close: () =>
      new Promise((resolve) => {
        for (const pair of pairs) {
          pair.client.destroy();
          pair.upstream.destroy();
        }
        server.close(() => resolve());
      }),
  };
}
