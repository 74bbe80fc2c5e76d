// What the two floor relays share: the upstream call through undici, and a loopback server that prints its URL on stdout.
import type { Server } from 'node:http';
import { Agent, type Dispatcher } from 'undici';

const upstream = new URL(process.argv[2] ?? '');
const agent = new Agent({ connections: 256, pipelining: 1, keepAliveTimeout: 30_000 });

/** POSTs the body to the upstream (argv[2]) on the same path, with the bench's provider key. */
export function callUpstream(path: string | undefined, body: Buffer): Promise<Dispatcher.ResponseData> {
  return agent.request({
    origin: upstream.origin,
    path: path ?? '/',
    method: 'POST',
    headers: { authorization: 'Bearer sk-bench', 'content-type': 'application/json' },
    body,
  });
}

export function serveOnLoopback(server: Server): void {
  server.keepAliveTimeout = 30_000;
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    if (address && typeof address === 'object') process.stdout.write(`http://127.0.0.1:${address.port}\n`);
  });
  process.on('SIGTERM', () => server.close(() => process.exit(0)));
}
