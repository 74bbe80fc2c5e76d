// Reads a request body once, bounded in size and uncompressed, and parses it as a JSON object.
import type { IncomingMessage } from 'node:http';
import { ProxyError } from '../errors.ts';

export function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const encoding = req.headers['content-encoding'];
  if (encoding !== undefined && encoding.trim().toLowerCase() !== 'identity') {
    req.resume();
    return Promise.reject(new ProxyError('invalid_request', { message: `compressed request bodies are not accepted (content-encoding: ${encoding.slice(0, 40)}): send the JSON as it is` }));
  }
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) {
    req.resume();
    return Promise.reject(new ProxyError('body_too_large', { message: `request body too large: ${declared} bytes, limit ${maxBytes}` }));
  }
  // 'data'/'end' listeners rather than an async iterator: no promise per chunk on the path every call takes. The
  // listeners are module-level functions finding their state on the request: no closures created (and named) per call.
  return new Promise((resolve, reject) => {
    (req as ReadingRequest)[READING] = { chunks: [], size: 0, maxBytes, resolve, reject };
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
