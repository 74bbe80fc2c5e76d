// The floor for any Node proxy: node:http in, undici out, the body relayed with no parsing; prints its URL on stdout.
import { createServer } from 'node:http';
import { callUpstream, serveOnLoopback } from './floor-relay.ts';

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    callUpstream(req.url, Buffer.concat(chunks))
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
serveOnLoopback(server);
