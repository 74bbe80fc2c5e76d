// Reads a request body once, bounded in size, and parses it as a JSON object.
import type { IncomingMessage } from 'node:http';
import { ProxyError } from '../errors.ts';

export async function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) {
    req.resume();
    throw new ProxyError('body_too_large', { message: `request body too large: ${declared} bytes, limit ${maxBytes}` });
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) {
      req.resume();
      throw new ProxyError('body_too_large', { message: `request body too large: over ${maxBytes} bytes` });
    }
    chunks.push(chunk);
  }
  return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size);
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
