// Raw HTTP/1.1 over a socket, for what no client library sends: a head or body dripped or left unfinished, idle connections.
import { connect, type Socket } from 'node:net';

export interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** Whether the proxy closed the connection (FIN or reset) before this side gave up on it. */
  closed: boolean;
}

export interface SendRawOptions {
  /** After `first`, write `dripByte` (default 'x') this often until the connection closes. */
  dripEveryMs?: number;
  dripByte?: string;
  /** Give up (and destroy the socket) after this long (default 5 s). */
  giveUpMs?: number;
}

/** Sends bytes on a fresh connection, optionally drips more, and reads until the proxy closes it (or this side gives up). */
export function sendRaw(url: string, first: string | Buffer, options: SendRawOptions = {}): Promise<RawAnswer> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let received = '';
    let closed = false;
    const drip = options.dripEveryMs ? setInterval(() => socket.writable && socket.write(options.dripByte ?? 'x'), options.dripEveryMs) : null;
    const giveUp = setTimeout(() => socket.destroy(), options.giveUpMs ?? 5_000);
    socket.on('connect', () => socket.write(first));
    socket.on('data', (chunk) => {
      received += chunk.toString('latin1');
    });
    socket.on('error', () => {
      closed = true;
    });
    socket.on('end', () => {
      closed = true;
    });
    socket.on('close', () => {
      clearTimeout(giveUp);
      if (drip) clearInterval(drip);
      const answer = parseAnswer(received);
      if (!answer) return reject(new Error(`no HTTP answer: ${JSON.stringify(received.slice(0, 200))}`));
      resolve({ ...answer, closed });
    });
  });
}

/** The first HTTP answer in `received` (status, lower-cased headers, body as it came), or null when there is none. */
export function parseAnswer(received: string): Omit<RawAnswer, 'closed'> | null {
  const split = received.indexOf('\r\n\r\n');
  if (split < 0) return null;
  const [statusLine, ...headerLines] = received.slice(0, split).split('\r\n');
  const headers = Object.fromEntries(headerLines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]));
  return { status: Number(statusLine.split(' ')[1]), headers, body: received.slice(split + 4) };
}

/** The first HTTP answer in `received` once its whole body (by content-length) is there, else null. */
export function completeAnswer(received: string): Omit<RawAnswer, 'closed'> | null {
  const answer = parseAnswer(received);
  if (!answer) return null;
  return Buffer.byteLength(answer.body, 'latin1') >= Number(answer.headers['content-length'] ?? 0) ? answer : null;
}

/** A connection that has been answered once on `GET /health` and is kept open (keep-alive), so the proxy has counted it. */
export function openIdleConnection(url: string): Promise<Socket> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let received = '';
    socket.on('error', reject);
    socket.on('connect', () => socket.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n'));
    socket.on('data', (chunk) => {
      received += chunk.toString('latin1');
      const answer = completeAnswer(received);
      if (answer) {
        socket.off('error', reject);
        socket.on('error', () => undefined);
        if (answer.status === 200) resolve(socket);
        else reject(new Error(`GET /health answered ${answer.status}`));
      }
    });
  });
}
