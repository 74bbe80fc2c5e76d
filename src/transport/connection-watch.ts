// Watches the API port's connections: counts them against TOLLGATE_MAX_CONNECTIONS (one past the cap is answered 503 and
// closed), and keeps the start of a request head still arriving, so that a request node:http gives up on before its
// headers are whole (a header drip) is answered in its route's wire format.
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { ProxyError } from '../errors.ts';
import { CAPACITY_RETRY_MS } from './bytes-in-flight.ts';
import { responseInFlight } from '../http/raw-answer.ts';

/** Enough of a request head for its request line. */
const HEAD_BYTES = 512;
/** How long a connection past the cap may take to send the request it is refused on; then it is closed unanswered. */
const OVER_CAP_GRACE_MS = 2000;

const WATCH = Symbol('tollgate.connectionWatch');
const HEAD = Symbol('tollgate.requestHead');
const OVER_CAP = Symbol('tollgate.overCap');

interface Counter {
  open: number;
}

type WatchedSocket = Socket & { [WATCH]?: Counter; [HEAD]?: Buffer; [OVER_CAP]?: NodeJS.Timeout | null };

/**
 * Installs the watch on the API server. A connection past `maxConnections` is still read up to its first request's
 * head (for the route's format) and answered `503 too_many_connections` with the connection closed; one that sends
 * nothing within OVER_CAP_GRACE_MS is closed. The count is tollgate's own: node's `maxConnections` drops a connection
 * without a word.
 */
export function watchConnections(server: Server, options: { maxConnections: number }): { readonly open: number } {
  const counter: Counter = { open: 0 };
  server.on('connection', (socket: WatchedSocket) => {
    counter.open++;
    socket[WATCH] = counter;
    socket.once('close', onClose);
    if (counter.open > options.maxConnections) {
      const timer = setTimeout(closeSilentOverCap, OVER_CAP_GRACE_MS, socket);
      timer.unref();
      socket[OVER_CAP] = timer;
    }
    // A 'data' listener makes node:http parse this socket's bytes in JavaScript rather than natively (one call per
    // chunk), which is what lets the request line of a head that never completes be seen at all.
    socket.on('data', rememberHead);
  });
  return counter;
}

/** The refusal for a request that arrived on a connection past the cap, or null for a connection within it. */
export function connectionRefusal(socket: Socket): ProxyError | null {
  const watched = socket as WatchedSocket;
  if (watched[OVER_CAP] === undefined) return null;
  if (watched[OVER_CAP]) clearTimeout(watched[OVER_CAP]);
  watched[OVER_CAP] = null; // answered: the close after the answer ends it
  return new ProxyError('too_many_connections', {
    headers: { 'retry-after': String(Math.ceil(CAPACITY_RETRY_MS / 1000)), 'retry-after-ms': String(CAPACITY_RETRY_MS) },
  });
}

/** The first bytes of the request head still arriving on this socket (undefined once a request is being served). */
export function requestHeadOf(socket: Socket): Buffer | undefined {
  return (socket as WatchedSocket)[HEAD];
}

function onClose(this: WatchedSocket): void {
  const counter = this[WATCH];
  if (counter) counter.open--;
  this[WATCH] = undefined;
  const timer = this[OVER_CAP];
  if (timer) clearTimeout(timer);
  this[HEAD] = undefined;
}

function closeSilentOverCap(socket: WatchedSocket): void {
  if (socket[OVER_CAP] === null || responseInFlight(socket)) return; // its request is being refused
  socket.destroy();
}

/**
 * Runs after node:http has parsed the chunk: when that completed a request head, a response exists and the head kept
 * so far is dropped; otherwise the chunk is part of a head still arriving, whose start is kept.
 */
function rememberHead(this: WatchedSocket, chunk: Buffer): void {
  if (responseInFlight(this)) {
    this[HEAD] = undefined;
    return;
  }
  const head = this[HEAD];
  if (head === undefined)
    this[HEAD] = Buffer.from(chunk.subarray(0, HEAD_BYTES)); // a copy: never pin the whole chunk
  else if (head.length < HEAD_BYTES) this[HEAD] = Buffer.concat([head, chunk.subarray(0, HEAD_BYTES - head.length)]);
}
