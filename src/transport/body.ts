// Reads a request body once, bounded in size, and parses it as a JSON object.
import type { IncomingMessage } from 'node:http';
import { ProxyError } from '../errors.ts';

export function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) {
    req.resume();
    return Promise.reject(new ProxyError('body_too_large', { message: `request body too large: ${declared} bytes, limit ${maxBytes}` }));
  }
  // 'data'/'end' listeners rather than an async iterator: no promise per chunk on the path every call takes
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const settle = (error: Error | null): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
      if (error) reject(error);
      else resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size));
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > maxBytes) {
        settle(new ProxyError('body_too_large', { message: `request body too large: over ${maxBytes} bytes` }));
        req.resume();
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => settle(null);
    const onError = (error: Error): void => settle(error);
    const onClose = (): void => settle(Object.assign(new Error('request body ended early: the client closed the connection'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

export function parseJsonObject(raw: Buffer): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(raw.toString('utf8'));
  } catch (error) {
    throw new ProxyError('invalid_json', { message: `invalid JSON body: ${(error as Error).message}` });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ProxyError('invalid_json', { message: 'invalid JSON body: expected a JSON object' });
  }
  return value as Record<string, unknown>;
}
