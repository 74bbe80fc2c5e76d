// What node:http gave up on ('clientError'): what kind of failure it was, the request it was reading, the route asked
// for, and an answer written straight onto the socket when no response object exists.
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** The error node:http hands to 'clientError': a parser error (`HPE_*`, with the bytes it stopped on) or a timeout. */
export type ClientError = Error & { code?: string; rawPacket?: Buffer };

/** Each port answers these in its own format. */
export type ClientErrorKind = 'peer_gone' | 'closed_mid_request' | 'headers_too_large' | 'request_timeout' | 'malformed';

export function clientErrorKind(error: ClientError): ClientErrorKind {
  switch (error.code) {
    case 'ECONNRESET':
    case 'EPIPE':
      return 'peer_gone';
    case 'HPE_INVALID_EOF_STATE':
      return 'closed_mid_request'; // the client closed its side before the request was complete
    case 'HPE_HEADER_OVERFLOW':
      return 'headers_too_large';
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return 'request_timeout';
    default:
      return 'malformed';
  }
}

/** The response of the request node:http was reading on this socket, if it had got that far. */
export function responseInFlight(socket: Socket): ServerResponse | null {
  return (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage ?? null;
}

const STATUS_TEXT: Readonly<Record<number, string>> = { 400: 'Bad Request', 408: 'Request Timeout', 431: 'Request Header Fields Too Large' };

/** The request target from the request line in the bytes the parser stopped on, if it got that far. */
export function requestTargetOf(rawPacket: Buffer | undefined): string | undefined {
  if (!rawPacket) return undefined;
  const line = rawPacket.subarray(0, 512).toString('latin1');
  return /^[A-Z]+ (\S+)/.exec(line)?.[1];
}

/** Writes a whole HTTP/1.1 answer and closes the connection; a peer that never reads it does not keep the socket. */
export function endWithAnswer(input: { socket: Socket; status: number; contentType: string; body: string; headers?: Readonly<Record<string, string>> }): void {
  const lines = [
    `HTTP/1.1 ${input.status} ${STATUS_TEXT[input.status] ?? 'Error'}`,
    `content-type: ${input.contentType}`,
    `content-length: ${Buffer.byteLength(input.body)}`,
    ...Object.entries(input.headers ?? {}).map(([name, value]) => `${name}: ${value}`),
    'connection: close',
  ];
  input.socket.end(`${lines.join('\r\n')}\r\n\r\n${input.body}`);
  input.socket.setTimeout(5_000, () => input.socket.destroy());
}
