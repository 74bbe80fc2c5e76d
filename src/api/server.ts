// The API port: matches a route, picks its wire protocol (protocol/index.ts), and hands the request to the pipeline or a small handler.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { ProxyError } from '../errors.ts';
import { handleModelCall } from '../pipeline/handle.ts';
import type { PipelineDeps } from '../pipeline/deps.ts';
import { chat, protocolNear, protocolOf } from '../protocol/index.ts';
import type { Protocol } from '../protocol/protocol.ts';
import { answerClientError } from '../transport/client-error.ts';
import { connectionRefusal, watchConnections } from '../transport/connection-watch.ts';
import { oweContinue } from '../transport/expect-continue.ts';
import type { ClientError } from '../http/raw-answer.ts';
import { renderError } from '../transport/render-error.ts';

/** A non-pipeline route on the API port (health, history). Returns false when it does not match. */
export type ExtraRoute = (req: IncomingMessage, res: ServerResponse, path: string) => boolean | Promise<boolean>;

export function createApiServer(options: { deps: PipelineDeps; extraRoutes?: readonly ExtraRoute[]; health: () => Promise<Record<string, unknown>> }): Server {
  const { deps } = options;
  const requestTimeoutMs = deps.config.timeouts.requestMs;
  // requestTimeout bounds how long a request takes to arrive (headers and body), not how long its answer streams; a
  // body is bounded more tightly by TOLLGATE_BODY_TIMEOUT_MS (transport/body.ts), its bytes by the bytes in flight.
  const server = createServer(
    {
      keepAliveTimeout: 65_000,
      requestTimeout: requestTimeoutMs,
      headersTimeout: Math.min(60_000, requestTimeoutMs),
      connectionsCheckingInterval: Math.min(30_000, Math.max(50, Math.floor(requestTimeoutMs / 4))),
    },
    (req, res) => {
      void route(req, res).catch((error) => {
        renderError({ res, error: error instanceof ProxyError ? error : new ProxyError('internal'), protocol: chat, requestId: '-' });
      });
    },
  );
  server.on('clientError', (error: ClientError, socket: Socket) => answerClientError({ error, socket, requestTimeoutMs }));
  const connections = watchConnections(server, { maxConnections: deps.config.intake.maxConnections });
  // Expect: 100-continue is tollgate's to answer (transport/expect-continue.ts), once the body is read after auth
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    oweContinue(req, res);
    server.emit('request', req, res);
  });

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    const queryAt = url.indexOf('?');
    const path = queryAt < 0 ? url : url.slice(0, queryAt);
    const protocol = protocolOf(path);
    const overCap = connectionRefusal(req.socket);
    if (overCap) {
      res.shouldKeepAlive = false;
      return refuse(res, protocol ?? protocolNear(path), overCap);
    }
    if (protocol) {
      if (req.method !== 'POST')
        return refuse(res, protocol, new ProxyError('method_not_allowed', { message: `${req.method} not allowed on ${path}; use POST` }), { allow: 'POST' });
      return handleModelCall({ req, res, protocol, deps });
    }
    if (path === '/health' || path === '/healthz') {
      if (req.method !== 'GET' && req.method !== 'HEAD') return refuse(res, chat, new ProxyError('method_not_allowed'), { allow: 'GET, HEAD' });
      const health = await options.health();
      const payload = JSON.stringify({ ...health, connections: connections.open });
      res.writeHead(health.ok === false ? 503 : 200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
      res.end(payload);
      return;
    }
    for (const extra of options.extraRoutes ?? []) {
      if (await extra(req, res, path)) return;
    }
    refuse(res, protocolNear(path), new ProxyError('not_found', { message: `no route for ${req.method} ${path}` }));
  }

  return server;
}

function refuse(res: ServerResponse, protocol: Protocol, error: ProxyError, headers?: Record<string, string>): void {
  res.req?.resume(); // drain an unread body so the keep-alive connection stays usable
  renderError({ res, error, protocol, requestId: '-', headers });
}
