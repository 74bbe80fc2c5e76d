// Undoes the content codings an upstream applied anyway (gzip, deflate, br; any case), so its answer can be masked and read.
import { constants as bufferLimits } from 'node:buffer';
import { Readable, pipeline, type Transform } from 'node:stream';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { ProxyError } from '../errors.ts';

export type ContentCoding = 'gzip' | 'deflate' | 'br';

const CODINGS: Record<string, ContentCoding | null> = { gzip: 'gzip', 'x-gzip': 'gzip', deflate: 'deflate', br: 'br', identity: null };

/**
 * The codings to undo, in the order they were applied (empty: the body is as it is). An unknown coding is refused:
 * bytes tollgate cannot read cannot be searched for the provider key, so they are not relayed.
 */
export function contentCodings(header: string | string[] | undefined): readonly ContentCoding[] {
  if (header === undefined) return [];
  const out: ContentCoding[] = [];
  for (const token of (Array.isArray(header) ? header.join(',') : header).split(',')) {
    const name = token.trim().toLowerCase();
    if (name === '') continue;
    const coding = CODINGS[name];
    if (coding === undefined) throw undecodable(`an unknown content-encoding (${JSON.stringify(name.slice(0, 40))})`);
    if (coding !== null) out.push(coding);
  }
  return out;
}

/** Lenient about a missing end marker, as browsers and fetch are (a server that stops without the gzip trailer). */
const ZLIB_OPTIONS = { finishFlush: zlib.constants.Z_SYNC_FLUSH };
const BROTLI_OPTIONS = { finishFlush: zlib.constants.BROTLI_OPERATION_FLUSH };

const gunzip = promisify(zlib.gunzip);
const inflate = promisify(zlib.inflate);
const inflateRaw = promisify(zlib.inflateRaw);
const brotli = promisify(zlib.brotliDecompress);

/**
 * A whole body decoded (off the event loop, on libuv's pool); more than `maxBytes` decoded is
 * `upstream_response_too_large` (a few KB of gzip can stand for gigabytes), bytes that do not decode `upstream_bad_encoding`.
 */
export async function decodeWhole(raw: Buffer, codings: readonly ContentCoding[], maxBytes: number): Promise<Buffer> {
  let body = raw;
  for (let i = codings.length - 1; i >= 0; i--) {
    if (body.length === 0) return body;
    const options = { maxOutputLength: Math.max(1, Math.min(maxBytes, bufferLimits.MAX_LENGTH)) };
    try {
      const coding = codings[i];
      if (coding === 'gzip') body = await gunzip(body, { ...ZLIB_OPTIONS, ...options });
      else if (coding === 'br') body = await brotli(body, { ...BROTLI_OPTIONS, ...options });
      else body = await (isZlibWrapped(body[0]) ? inflate : inflateRaw)(body, { ...ZLIB_OPTIONS, ...options });
    } catch (error) {
      if ((error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
        throw new ProxyError('upstream_response_too_large', { message: `upstream response too large: over ${maxBytes} bytes once decompressed` });
      }
      throw undecodable(`a ${codings[i]} body that does not decode`);
    }
  }
  return body;
}

/**
 * A stream's chunks decoded as they come (with backpressure: the decoder pulls from `source` as it is read). Leaving
 * the loop early destroys the decoders and returns `source` (which ends the upstream call); a body that does not decode
 * fails the loop with `upstream_bad_encoding`.
 */
export async function* decodeStream(source: AsyncIterable<Buffer>, codings: readonly ContentCoding[]): AsyncGenerator<Buffer> {
  const chunks = source[Symbol.asyncIterator]();
  const first = await chunks.next();
  if (first.done) return;
  const decoders = [...codings].reverse().map((coding, index) => decoder(coding, index === 0 ? first.value[0] : 0x78));
  const upstream = { failed: false };
  const input = Readable.from(prepend(first.value, chunks, upstream));
  const output = pipeline([input, ...decoders], () => undefined) as unknown as Transform;
  try {
    for await (const chunk of output) yield chunk as Buffer;
  } catch (error) {
    if (upstream.failed || error instanceof ProxyError) throw error; // the upstream's own failure, not the coding's
    throw undecodable(`a ${codings.join(', ')} stream that does not decode`);
  } finally {
    output.destroy();
    input.destroy();
  }
}

async function* prepend(first: Buffer, rest: AsyncIterator<Buffer>, source: { failed: boolean }): AsyncGenerator<Buffer> {
  try {
    yield first;
    for (let next = await rest.next(); !next.done; next = await rest.next()) yield next.value;
  } catch (error) {
    source.failed = true;
    throw error;
  } finally {
    await rest.return?.();
  }
}

function decoder(coding: ContentCoding, firstByte: number): Transform {
  if (coding === 'gzip') return zlib.createGunzip(ZLIB_OPTIONS);
  if (coding === 'br') return zlib.createBrotliDecompress(BROTLI_OPTIONS);
  return isZlibWrapped(firstByte) ? zlib.createInflate(ZLIB_OPTIONS) : zlib.createInflateRaw(ZLIB_OPTIONS);
}

/** `deflate` is meant as zlib-wrapped; some servers send it raw: a zlib header's first byte says compression method 8. */
function isZlibWrapped(firstByte: number | undefined): boolean {
  return firstByte !== undefined && (firstByte & 0x0f) === 0x08;
}

function undecodable(what: string): ProxyError {
  return new ProxyError('upstream_bad_encoding', {
    message: `the upstream answered with ${what}: refused, since tollgate relays only what it can read (and mask)`,
  });
}
