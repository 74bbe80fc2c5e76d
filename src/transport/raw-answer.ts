// An answer written straight onto a socket node:http gave up on (no response object exists), and the route asked for.
import type { Socket } from 'node:net';

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
