// Reads a request body once, bounded in size, in bytes held and in time, uncompressed, and parses it as a JSON object.
import type { IncomingMessage } from 'node:http';
import { ProxyError } from '../errors.ts';
import type { ByteHold } from './bytes-in-flight.ts';
import { continueBody } from './expect-continue.ts';

export interface ReadBodyOptions {
  readonly maxBytes: number;
  /** The call's share of the bytes in flight: a declared length is held before reading, a chunked body as it comes. */
  readonly hold: ByteHold;
}

export function readBody(req: IncomingMessage, options: ReadBodyOptions): Promise<Buffer> {
  const { maxBytes, hold } = options;
  const encoding = req.headers['content-encoding'];
  if (encoding !== undefined && encoding.trim().toLowerCase() !== 'identity') {
    req.resume();
    return Promise.reject(
      new ProxyError('invalid_request', {
        message: `compressed request bodies are not accepted (content-encoding: ${encoding.slice(0, 40)}): send the JSON as it is`,
      }),
    );
  }
  const declared = Number(req.headers['content-length']);
  const known = req.headers['content-length'] !== undefined && Number.isFinite(declared);
  if (known && declared > maxBytes) {
    req.resume();
    return Promise.reject(new ProxyError('body_too_large', { message: `request body too large: ${declared} bytes, limit ${maxBytes}` }));
  }
  // a declared length is held whole before a byte is read: a body that cannot fit is refused unread (and drained)
  const refused = known ? hold.take(declared) : null;
  if (refused) {
    req.resume();
    return Promise.reject(refused);
  }
  continueBody(req); // the client waits for 100 Continue before sending it (Expect: 100-continue)
  // 'data'/'end' listeners rather than an async iterator: no promise per chunk on the path every call takes. The
  // listeners are module-level functions finding their state on the request: no closures created (and named) per call.
  return new Promise((resolve, reject) => {
    (req as ReadingRequest)[READING] = { chunks: [], size: 0, maxBytes, hold: known ? null : hold, resolve, reject };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

const READING = Symbol('tollgate.readBody');

interface Reading {
  readonly chunks: Buffer[];
  size: number;
  readonly maxBytes: number;
  /** A chunked body's hold, grown chunk by chunk; null when the declared length was held up front. */
  readonly hold: ByteHold | null;
  readonly resolve: (body: Buffer) => void;
  readonly reject: (error: Error) => void;
}

type ReadingRequest = IncomingMessage & { [READING]?: Reading };

function onData(this: ReadingRequest, chunk: Buffer): void {
  const reading = this[READING];
  if (!reading) return;
  reading.size += chunk.length;
  if (reading.size > reading.maxBytes) {
    finish(this, new ProxyError('body_too_large', { message: `request body too large: over ${reading.maxBytes} bytes` }));
    this.resume();
    return;
  }
  const refused = reading.hold?.take(chunk.length);
  if (refused) {
    finish(this, refused); // the chunks read so far are dropped with the read; the rest is drained, not kept
    this.resume();
    return;
  }
  reading.chunks.push(chunk);
}

function onEnd(this: ReadingRequest): void {
  finish(this, null);
}

function onError(this: ReadingRequest, error: Error): void {
  finish(this, error);
}

function onClose(this: ReadingRequest): void {
  finish(this, new ProxyError('client_closed', { message: 'the client closed the connection before its request body was read' }));
}

/**
 * Ends a body read in progress with this error (node:http rejected the rest of the request: it broke off or came too
 * slowly). Returns false when the request's body is not being read.
 */
export function failBodyRead(req: IncomingMessage, error: ProxyError): boolean {
  if (!(req as ReadingRequest)[READING]) return false;
  finish(req, error);
  return true;
}

function finish(req: ReadingRequest, error: Error | null): void {
  const reading = req[READING];
  if (!reading) return;
  req[READING] = undefined;
  req.off('data', onData);
  req.off('end', onEnd);
  req.off('error', onError);
  req.off('close', onClose);
  if (error) reading.reject(error);
  else reading.resolve(reading.chunks.length === 1 ? reading.chunks[0] : Buffer.concat(reading.chunks, reading.size));
}

const DEADLINE = Symbol('tollgate.bodyDeadline');
type TimedRequest = IncomingMessage & { [DEADLINE]?: { readonly timer: NodeJS.Timeout; readonly ms: number } };

/**
 * Bounds how long the request's body may take to arrive from now (its headers are in), whether it is read, refused
 * and drained, or never read (a refused caller): past `ms`, a read in progress fails with 408 (the pipeline answers it
 * and the connection closes), and an unread remainder is cut with the connection. An upload that stops part-way thus
 * holds its bytes and its connection for at most `ms` (TOLLGATE_BODY_TIMEOUT_MS), not for the whole request timeout.
 */
export function limitBodyTime(req: IncomingMessage, ms: number): void {
  const timed = req as TimedRequest;
  if (timed.complete || timed[DEADLINE]) return;
  const timer = setTimeout(onBodyDeadline, ms, timed);
  timer.unref();
  timed[DEADLINE] = { timer, ms };
  timed.on('end', clearBodyDeadline);
  timed.on('close', clearBodyDeadline);
}

function clearBodyDeadline(this: TimedRequest): void {
  const deadline = this[DEADLINE];
  if (deadline) clearTimeout(deadline.timer);
  forgetDeadline(this);
}

function forgetDeadline(req: TimedRequest): void {
  req[DEADLINE] = undefined;
  req.off('end', clearBodyDeadline);
  req.off('close', clearBodyDeadline);
}

function onBodyDeadline(req: TimedRequest): void {
  const ms = req[DEADLINE]?.ms ?? 0;
  forgetDeadline(req);
  if (req.complete) return;
  const error = new ProxyError('request_timeout', {
    message: `the request body did not arrive whole within ${ms} ms of its headers (TOLLGATE_BODY_TIMEOUT_MS)`,
  });
  if (!failBodyRead(req, error)) req.socket?.destroy(); // refused or never read, and still arriving: nothing to answer
}

export function parseJsonObject(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ProxyError('invalid_json', { message: `invalid JSON body: ${(error as Error).message}` });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ProxyError('invalid_json', { message: 'invalid JSON body: expected a JSON object' });
  }
  return value as Record<string, unknown>;
}
