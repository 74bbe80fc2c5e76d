// How the fake provider writes an answer's bytes: generated SSE streams and raw bodies, compressed, in pieces, stalled or cut.
import type { ServerResponse } from 'node:http';
import { brotliCompressSync, createBrotliCompress, createDeflate, createGzip, deflateRawSync, deflateSync, gzipSync } from 'node:zlib';
import { anthropicUsage, openAIUsage, type FakeUsage } from './fake-bodies.ts';
import type { Behavior } from './fake-behavior.ts';
import { seededRandom } from './random.ts';

type UsageSpec = FakeUsage | null;

/** Writes `behavior.rawBody` as it is asked: encoded, with or without a length, in seeded pieces, ended or cut. */
export async function writeRawBody(res: ServerResponse, body: Record<string, unknown>, behavior: Behavior): Promise<void> {
  const raw = encoded(Buffer.from(behavior.rawBody ?? '', 'utf8'), behavior.encoding);
  const contentType = behavior.rawContentType ?? (body.stream === true ? 'text/event-stream' : 'application/json');
  if (behavior.rawCloseDelimited) {
    res.useChunkedEncodingByDefault = false;
    res.shouldKeepAlive = false;
  }
  const coding =
    behavior.encoding === undefined ? {} : { 'content-encoding': behavior.encoding.toLowerCase() === 'deflate-raw' ? 'deflate' : behavior.encoding };
  res.writeHead(behavior.status ?? 200, {
    'content-type': contentType,
    ...coding,
    ...behavior.headers,
    ...(behavior.rawContentLength ? { 'content-length': raw.length } : {}),
  });
  if (!behavior.pieces) {
    if (!behavior.rawReset) {
      res.end(raw);
      return;
    }
    res.write(raw);
    return resetAfterWrites(res);
  }
  const { seed, maxBytes, gapMs = 0 } = behavior.pieces;
  const random = seededRandom(seed);
  for (let at = 0; at < raw.length && !res.destroyed; ) {
    const size = 1 + Math.floor(random() * Math.max(1, maxBytes));
    res.write(raw.subarray(at, at + size));
    at += size;
    await (gapMs > 0 ? sleep(gapMs) : new Promise((resolve) => setImmediate(resolve)));
  }
  if (behavior.rawReset) return resetAfterWrites(res);
  if (!res.destroyed) res.end();
}

/** The bytes compressed as `encoding` names (any case); unchanged for identity and codings the fake does not know. */
function encoded(raw: Buffer, encoding: string | undefined): Buffer {
  switch (encoding?.toLowerCase()) {
    case 'gzip':
      return gzipSync(raw);
    case 'deflate':
      return deflateSync(raw);
    case 'deflate-raw':
      return deflateRawSync(raw);
    case 'br':
      return brotliCompressSync(raw);
    default:
      return raw;
  }
}

/** A generated SSE answer (or the given `events`), paced, compressed, stalled or cut as `behavior` says. */
export async function streamAnswer(input: {
  res: ServerResponse;
  anthropic: boolean;
  model: string;
  usage: UsageSpec;
  behavior: Behavior;
  includeUsage: boolean;
  events?: string[];
}): Promise<void> {
  const { res, behavior } = input;
  const compressor = streamCompressor(behavior.encoding);
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', ...(compressor ? { 'content-encoding': behavior.encoding } : {}) });
  res.flushHeaders();
  compressor?.pipe(res);
  // through the compressor when there is one, flushed after each event so that it leaves at once
  const emit = (event: string): void => {
    if (!compressor) {
      res.write(event);
      return;
    }
    compressor.write(event);
    compressor.flush();
  };
  if (behavior.stall) return;
  const events = input.events ?? (input.anthropic ? anthropicEvents(input) : openAIEvents(input));
  let sent = 0;
  for (const event of events) {
    if (behavior.stallAfterChunks !== undefined && sent >= behavior.stallAfterChunks) return;
    if (behavior.cutAfterChunks !== undefined && sent >= behavior.cutAfterChunks) return resetAfterWrites(res);
    if (res.destroyed) return;
    emit(event);
    sent++;
    if (behavior.unendedEventChars !== undefined) return writeUnendedEvent(res, behavior.unendedEventChars);
    if (behavior.chunkGapMs) await sleep(behavior.chunkGapMs);
  }
  if (compressor) compressor.end();
  else res.end();
}

function streamCompressor(encoding: string | undefined) {
  switch (encoding?.toLowerCase()) {
    case 'gzip':
      return createGzip();
    case 'deflate':
      return createDeflate();
    case 'br':
      return createBrotliCompress();
    default:
      return null;
  }
}

/** Lets the chunks already written reach the wire, then drops the connection mid-body. */
async function resetAfterWrites(res: ServerResponse): Promise<void> {
  await sleep(20);
  res.socket?.destroy();
}

async function writeUnendedEvent(res: ServerResponse, chars: number): Promise<void> {
  res.write('data: ');
  for (let written = 0; written < chars && !res.destroyed; written += 1024) {
    if (!res.write('x'.repeat(Math.min(1024, chars - written)))) await new Promise((resolve) => res.once('drain', resolve));
  }
  if (!res.destroyed) res.end();
}

function openAIEvents(input: { model: string; usage: UsageSpec; behavior: Behavior; includeUsage: boolean }): string[] {
  const base = { id: 'chatcmpl-fake', object: 'chat.completion.chunk', created: 1_700_000_000, model: input.model };
  const usageNull = input.includeUsage ? { usage: null } : {};
  const events = [
    `data: ${JSON.stringify({ ...base, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }], ...usageNull })}\n\n`,
  ];
  for (let i = 0; i < (input.behavior.chunks ?? 3); i++) {
    events.push(
      `data: ${JSON.stringify({ ...base, choices: [{ index: 0, delta: { content: input.behavior.chunkText ?? `tok${i} ` }, finish_reason: null }], ...usageNull })}\n\n`,
    );
  }
  events.push(`data: ${JSON.stringify({ ...base, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }], ...usageNull })}\n\n`);
  if (input.includeUsage && input.usage) events.push(`data: ${JSON.stringify({ ...base, choices: [], usage: openAIUsage(input.usage) })}\n\n`);
  events.push('data: [DONE]\n\n');
  return events;
}

function anthropicEvents(input: { model: string; usage: UsageSpec; behavior: Behavior }): string[] {
  const usage = input.usage ?? { input: 0, output: 0 };
  const event = (name: string, data: unknown) => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
  const startUsage = { ...anthropicUsage(usage), output_tokens: 1 };
  const events = [
    event('message_start', {
      type: 'message_start',
      message: {
        id: 'msg_fake',
        type: 'message',
        role: 'assistant',
        model: input.model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: startUsage,
      },
    }),
    event('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }),
    event('ping', { type: 'ping' }),
  ];
  for (let i = 0; i < (input.behavior.chunks ?? 3); i++) {
    events.push(
      event('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: input.behavior.chunkText ?? `tok${i} ` } }),
    );
  }
  events.push(event('content_block_stop', { type: 'content_block_stop', index: 0 }));
  events.push(
    event('message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: usage.output } }),
  );
  events.push(event('message_stop', { type: 'message_stop' }));
  return events;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
