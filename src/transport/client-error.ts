// Answers what node:http rejects before or while a request is read (malformed HTTP, oversized headers, a request that
// takes too long to arrive) in the caller's wire format, instead of Node's bare status line.
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { ProxyError } from '../errors.ts';
import { protocolNear } from '../protocol/index.ts';
import type { Protocol } from '../protocol/protocol.ts';
import { failBodyRead } from './body.ts';
import { requestHeadOf } from './connection-watch.ts';
import { clientErrorKind, endWithAnswer, requestTargetOf, responseInFlight, type ClientError } from '../http/raw-answer.ts';
import { errorBody, renderError } from './render-error.ts';

/** What a 'clientError' means for the caller, or null when nothing can be answered (the peer is gone). */
export function clientErrorAnswer(error: ClientError, options: { requestTimeoutMs: number }): ProxyError | null {
  switch (clientErrorKind(error)) {
    case 'peer_gone':
      return null;
    case 'closed_mid_request':
      // recorded (499, as nginx logs it); there is most likely no one to read it
      return new ProxyError('client_closed', { message: 'the client closed the connection before its request was complete' });
    case 'headers_too_large':
      return new ProxyError('headers_too_large');
    case 'request_timeout':
      return new ProxyError('request_timeout', {
        message: `the request did not arrive whole within ${options.requestTimeoutMs} ms (TOLLGATE_REQUEST_TIMEOUT_MS)`,
      });
    case 'malformed':
      return new ProxyError('malformed_http', { message: `malformed HTTP request (${error.code ?? 'parse error'}): ${error.message}`.slice(0, 300) });
  }
}

/**
 * The 'clientError' listener of the API port. When a response of the same request has already started, the
 * connection is only closed: nothing more can be said on it without corrupting what the client reads.
 */
export function answerClientError(input: { error: ClientError; socket: Socket; requestTimeoutMs: number }): void {
  const { error, socket } = input;
  const inFlight = responseInFlight(socket);
  const proxyError = clientErrorAnswer(error, input);
  if (!proxyError || !socket.writable || inFlight?.headersSent) {
    socket.destroy();
    return;
  }
  if (!inFlight && proxyError.code === 'client_closed') {
    socket.destroy(); // a request cut off in its headers: nothing to record, no one to answer
    return;
  }
  const protocol = protocolOf(inFlight?.req ?? null, requestHeadOf(socket) ?? error.rawPacket);
  if (inFlight) {
    // The request's body was being read: that read fails with this error, and the pipeline answers it on the
    // request's own response (with its request id, and in the audit log as the agent's call); the connection closes.
    inFlight.shouldKeepAlive = false;
    if (failBodyRead(inFlight.req, proxyError)) return;
    renderError({ res: inFlight, error: proxyError, protocol, requestId: '-' });
    return;
  }
  const body = JSON.stringify(errorBody({ error: proxyError, protocol, requestId: '-' }));
  endWithAnswer({ socket, status: proxyError.status, contentType: 'application/json', body, headers: { 'x-should-retry': String(proxyError.retryable) } });
}

/**
 * The route's wire format from the request being read, else from the request line of a head still arriving (kept by the
 * connection watch: a header drip timed out) or in the bytes the parser stopped on.
 */
function protocolOf(req: IncomingMessage | null, head: Buffer | undefined): Protocol {
  return protocolNear(req?.url ?? requestTargetOf(head) ?? '/');
}
