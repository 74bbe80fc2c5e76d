// Answers what node:http rejects on the UI port (malformed HTTP, oversized headers, a request too slow to arrive) in the
// UI's own formats: the admin API's JSON error under /api/, cllama's plain text elsewhere, instead of a bare status line.
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { clientErrorKind, endWithAnswer, requestTargetOf, responseInFlight, type ClientError } from '../http/raw-answer.ts';
import { AdminError, isApiPath, requestUrl, sendAdminError } from './http.ts';
import { sendText } from '../http/respond.ts';

/** What to answer, or null when there is no one to answer (the peer reset or closed mid-request). */
export function uiClientErrorAnswer(error: ClientError): AdminError | null {
  switch (clientErrorKind(error)) {
    case 'peer_gone':
    case 'closed_mid_request':
      return null;
    case 'headers_too_large':
      return new AdminError('headers_too_large', 'request headers too large (16 KiB at most)');
    case 'request_timeout':
      return new AdminError('request_timeout', 'the request did not arrive whole in time');
    case 'malformed':
      return new AdminError('invalid_request', `malformed HTTP request (${error.code ?? 'parse error'})`);
  }
}

/** The 'clientError' listener of the UI port. The connection is closed after the answer. */
export function answerUiClientError(error: ClientError, socket: Socket): void {
  const inFlight = responseInFlight(socket);
  const answer = uiClientErrorAnswer(error);
  if (!answer || !socket.writable || inFlight?.headersSent) {
    socket.destroy();
    return;
  }
  const json = isApiTarget(inFlight?.req?.url ?? requestTargetOf(error.rawPacket));
  if (inFlight) {
    // the request's body was being read: answer on its own response; the handler's read then fails on the closed connection
    inFlight.shouldKeepAlive = false;
    send(inFlight, answer, json);
    return;
  }
  const body = json ? `${JSON.stringify({ error: { code: answer.code, message: answer.message } })}\n` : `${answer.message}\n`;
  const contentType = json ? 'application/json; charset=utf-8' : 'text/plain; charset=utf-8';
  endWithAnswer({ socket, status: answer.status, contentType, body, headers: { 'cache-control': 'no-store' } });
}

function send(res: ServerResponse, answer: AdminError, json: boolean): void {
  if (json) sendAdminError(res, answer);
  else sendText(res, answer.status, answer.message);
}

function isApiTarget(target: string | undefined): boolean {
  const url = target ? requestUrl(target) : null;
  return url !== null && isApiPath(url.pathname);
}
