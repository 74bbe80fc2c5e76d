// A client on a raw TCP socket: sends one request and destroys the socket the moment the answer shows a marker or a byte count.
import { connect } from 'node:net';

export interface RawCall {
  readonly status: number;
  readonly headers: Record<string, string>;
  /** The answer's body as received (chunked framing removed) up to the cut. */
  readonly body: string;
  /** The socket was destroyed by the client before the answer ended. */
  readonly cut: boolean;
}

/**
 * POSTs `body` to `path` on a fresh connection and reads the answer; once its body holds `cutAt` (a string) or at least
 * `cutAfterBytes`, the socket is destroyed at once: no more is read, nothing is closed politely.
 */
export function rawPost(input: {
  url: string;
  path: string;
  headers: Record<string, string>;
  body: string;
  cutAt?: string;
  cutAfterBytes?: number;
}): Promise<RawCall> {
  const { hostname, port } = new URL(input.url);
  const payload = Buffer.from(input.body, 'utf8');
  const head = [
    `POST ${input.path} HTTP/1.1`,
    `host: ${hostname}:${port}`,
    'content-type: application/json',
    `content-length: ${payload.length}`,
    'connection: close',
    ...Object.entries(input.headers).map(([name, value]) => `${name}: ${value}`),
  ].join('\r\n');
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let raw = Buffer.alloc(0);
    let settled = false;
    const finish = (cut: boolean) => {
      if (settled) return;
      settled = true;
      const parsed = parseAnswer(raw);
      if (!parsed) {
        reject(new Error(`no HTTP answer: ${JSON.stringify(raw.toString('latin1').slice(0, 200))}`));
        return;
      }
      resolve({ ...parsed, cut });
    };
    socket.on('data', (chunk: Buffer) => {
      raw = Buffer.concat([raw, chunk]);
      const parsed = parseAnswer(raw);
      if (!parsed || parsed.status !== 200) return;
      const reached =
        (input.cutAt !== undefined && parsed.body.includes(input.cutAt)) ||
        (input.cutAfterBytes !== undefined && Buffer.byteLength(parsed.body) >= input.cutAfterBytes);
      if (reached) {
        socket.destroy();
        finish(true);
      }
    });
    socket.on('close', () => finish(false));
    socket.on('error', (error) => {
      if (!settled) reject(error);
    });
    socket.write(`${head}\r\n\r\n`);
    socket.write(payload);
  });
}

/** Status, headers and the body so far (dechunked when chunked); null before the headers are whole. */
function parseAnswer(raw: Buffer): { status: number; headers: Record<string, string>; body: string } | null {
  const end = raw.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const lines = raw.subarray(0, end).toString('latin1').split('\r\n');
  const status = Number(lines[0].split(' ')[1]);
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const rest = raw.subarray(end + 4);
  const body = headers['transfer-encoding'] === 'chunked' ? dechunk(rest) : rest;
  return { status, headers, body: body.toString('utf8') };
}

/** The data of the chunks received so far (a chunk still arriving counts with what arrived of it). */
function dechunk(raw: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  while (at < raw.length) {
    const lineEnd = raw.indexOf('\r\n', at);
    if (lineEnd < 0) break;
    const size = Number.parseInt(raw.subarray(at, lineEnd).toString('latin1'), 16);
    if (!Number.isFinite(size) || size === 0) break;
    parts.push(raw.subarray(lineEnd + 2, Math.min(raw.length, lineEnd + 2 + size)));
    at = lineEnd + 2 + size + 2;
  }
  return Buffer.concat(parts);
}
