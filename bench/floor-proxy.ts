// The floor for any Node proxy: node:http in, undici out, the body relayed with no parsing; prints its URL on stdout.
import { createServer } from 'node:http';
import { Agent } from 'undici';

const upstream = new URL(process.argv[2] ?? '');
const agent = new Agent({ connections: 256, pipelining: 1, keepAliveTimeout: 30_000 });

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    agent
      .request({
        origin: upstream.origin,
        path: req.url ?? '/',
        method: 'POST',
        headers: { authorization: 'Bearer sk-bench', 'content-type': 'application/json' },
        body: Buffer.concat(chunks),
      })
      .then(async (response) => {
        res.writeHead(response.statusCode, { 'content-type': String(response.headers['content-type'] ?? 'application/json') });
        for await (const chunk of response.body) res.write(chunk);
        res.end();
      })
      .catch(() => {
        res.writeHead(502).end();
      });
  });
});
server.keepAliveTimeout = 30_000;
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  if (address && typeof address === 'object') process.stdout.write(`http://127.0.0.1:${address.port}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
