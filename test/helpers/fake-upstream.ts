// A fake provider on a loopback port: speaks OpenAI chat and responses, Anthropic messages (JSON and SSE); misbehaves on demand.
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { brotliCompressSync, createBrotliCompress, createDeflate, createGzip, deflateRawSync, deflateSync, gzipSync } from 'node:zlib';
import { seededRandom } from './random.ts';
import { anthropicMessage, anthropicUsage, countTokens, modelList, openAICompletion, openAIUsage, responseObject, responsesEvents, type FakeUsage, type ResponsesShape } from './fake-bodies.ts';
import { credentialOf } from './fake-credentials.ts';

type UsageSpec = FakeUsage | null;

export interface Behavior extends ResponsesShape {
  /** Chat completions answer 400 "only supported in v1/responses" (a responses-only model). */
  onlyResponses?: boolean;
  /** Answer with this status and body instead of a completion. */
  status?: number;
  errorBody?: unknown;
  /** Wait before sending headers. */
  delayMs?: number;
  /** Wait before answering until the test calls releaseHeld() (a call held upstream for as long as the test needs). */
  hold?: boolean;
  /** Destroy the socket without answering. */
  reset?: boolean;
  /** Send headers, then nothing (stream) or never finish the body (JSON). */
  stall?: boolean;
  /** Streams: stop after this many chunks and keep the connection open (stall mid-stream). */
  stallAfterChunks?: number;
  /** Streams: destroy the socket after this many chunks. */
  cutAfterChunks?: number;
  /** Gap between stream chunks. */
  chunkGapMs?: number;
  /**
   * A model that writes long answers unless stopped: this many output tokens per choice, fewer when the request caps
   * them (`max_completion_tokens` / `max_tokens`, the smaller when both), times its `n` choices, reported as usage
   * (input 10). Overridden by `usage`.
   */
  answerTokens?: number;
  /** Usage to report; defaults: input 10, output = max_tokens or 20. null = report none. */
  usage?: FakeUsage | null;
  gzip?: boolean;
  /** Number of content chunks in a stream. */
  chunks?: number;
  /** The text of every content chunk of a stream (default `tok<i> `): many tokens packed in one event. */
  chunkText?: string;
  /** The answer's text in a JSON completion (default 'hello from fake upstream'). */
  content?: string;
  /** The answer's text in a JSON completion: this many 'x' (too long for a header). */
  contentChars?: number;
  /** Send this as the answer's own request id (`x-request-id`; Anthropic: `request-id`). */
  requestId?: string;
  /** Answer 307 with this Location (and a small body) instead of a completion. */
  redirectTo?: string;
  /** Streams: after the first chunk, this many characters of one `data:` line that never ends (1 KB writes). */
  unendedEventChars?: number;
  /** Answer with exactly these bytes (UTF-8) as the body, whatever was asked: status `status` or 200. */
  rawBody?: string;
  /** With rawBody: its content-type (default text/event-stream for a stream request, else application/json). */
  rawContentType?: string;
  /** With rawBody: send a content-length (one raw body) instead of chunked transfer encoding. */
  rawContentLength?: boolean;
  /** With rawBody: neither length nor chunks, the body ends when the connection closes (HTTP/1.0 style). */
  rawCloseDelimited?: boolean;
  /** With rawBody: after the body, destroy the connection instead of ending the body (a cut the proxy sees as an error). */
  rawReset?: boolean;
  /**
   * With rawBody: write it in pieces of 1..maxBytes bytes drawn from `seed` (cut anywhere, inside a UTF-8 character
   * too), `gapMs` apart (0: the next event-loop turn). Chunked, each piece is one chunk, so the proxy reads the same cuts.
   */
  pieces?: { seed: number; maxBytes: number; gapMs?: number };
  /**
   * With rawBody: compress it so and say so in `content-encoding` (gzip, deflate, deflate-raw (sent as `deflate`), br,
   * in any letter case); any other value (`Identity`, `zstd-x`) is sent as the header over the bytes as they are.
   * The pieces are cut from the compressed bytes.
   */
  encoding?: string;
  /** Extra response headers (Retry-After, rate limits, an echoing id); a generated stream with `encoding` is compressed as it goes. */
  headers?: Record<string, string>;
  /** Behaviour by the request's `model` (as sent upstream), over the rest: one model fails, its fallback answers. */
  models?: Record<string, Behavior>;
}

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: Record<string, unknown>;
}

export interface FakeUpstream {
  readonly url: string;
  /** Behaviour per credential (Bearer token or x-api-key), over `behavior` (GET /v1/models too: a key pool's re-check). */
  byKey: Record<string, Behavior>;
  readonly requests: RecordedRequest[];
  /** How many calls wait now on `hold`. */
  readonly held: number;
  /** Lets every call waiting on `hold` be answered. */
  releaseHeld(): void;
  behavior: Behavior;
  close(): Promise<void>;
}

export async function startFakeUpstream(initial: Behavior = {}): Promise<FakeUpstream> {
  const requests: RecordedRequest[] = [];
  const state = { behavior: initial, byKey: {} as Record<string, Behavior> };
  const sockets = new Set<import('node:net').Socket>();
  const gate = holdGate();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      let body: Record<string, unknown> = {};
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        body = {};
      }
      requests.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, body });
      const perRequest = parseBehaviorHeader(req.headers['x-fake-behavior']);
      const base = { ...state.behavior, ...state.byKey[credentialOf(req.headers)], ...perRequest };
      const forModel = base.models?.[String(body.model)];
      const behavior = forModel ? { ...base, ...forModel } : base;
      void (behavior.hold ? gate.wait() : Promise.resolve()).then(() => respond(res, req.url ?? '', body, behavior));
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    get held() {
      return gate.waiting;
    },
    releaseHeld: () => gate.release(),
    get behavior() {
      return state.behavior;
    },
    get byKey() {
      return state.byKey;
    },
    set byKey(value: Record<string, Behavior>) {
      state.byKey = value;
    },
    set behavior(value: Behavior) {
      state.behavior = value;
    },
    close: () => new Promise((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    }),
  };
}

/** Calls that wait until released, all at once. */
function holdGate(): { readonly waiting: number; wait(): Promise<void>; release(): void } {
  let waiters: Array<() => void> = [];
  return {
    get waiting() {
      return waiters.length;
    },
    wait: () => new Promise<void>((resolve) => waiters.push(resolve)),
    release() {
      const released = waiters;
      waiters = [];
      for (const resolve of released) resolve();
    },
  };
}

function parseBehaviorHeader(value: string | string[] | undefined): Behavior {
  if (typeof value !== 'string') return {};
  try {
    return JSON.parse(value) as Behavior;
  } catch {
    return {};
  }
}

async function respond(res: ServerResponse, path: string, body: Record<string, unknown>, behavior: Behavior): Promise<void> {
  if (behavior.delayMs) await sleep(behavior.delayMs);
  if (behavior.reset) {
    res.socket?.destroy();
    return;
  }
  if (behavior.rawBody !== undefined) return writeRawBody(res, body, behavior);
  if (behavior.redirectTo) {
    res.writeHead(307, { location: behavior.redirectTo, 'content-type': 'text/plain' });
    res.end('moved');
    return;
  }
  if (behavior.status && behavior.status >= 400) {
    const payload = JSON.stringify(behavior.errorBody ?? { error: { message: `fake upstream error ${behavior.status}`, type: 'server_error' } });
    res.writeHead(behavior.status, { 'content-type': 'application/json', ...behavior.headers });
    res.end(payload);
    return;
  }
  if (path.startsWith('/v1/models')) return writeJson(res, modelList());
  if (path.startsWith('/v1/messages/count_tokens')) return writeJson(res, countTokens(body));
  if (behavior.onlyResponses && path.startsWith('/v1/chat/')) {
    return writeJson(res, { error: { message: 'This model is only supported in v1/responses and not in v1/chat/completions.', type: 'invalid_request_error' } }, 400);
  }
  const anthropic = path.startsWith('/v1/messages') || path.startsWith('/messages');
  const responses = path.startsWith('/v1/responses');
  const maxTokens = Number(body.max_tokens ?? body.max_completion_tokens ?? body.max_output_tokens ?? 20);
  const usage = behavior.usage === undefined ? { input: 10, output: behavior.answerTokens === undefined ? maxTokens : answeredTokens(body, behavior.answerTokens) } : behavior.usage;
  const model = String(body.model ?? 'unknown');
  if (behavior.stall && body.stream !== true) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{"id":');
    return;
  }
  if (body.stream === true) {
    const events = responses ? responsesEvents({ model, usage, chunks: behavior.chunks ?? 3, chunkText: behavior.chunkText, shape: behavior, body }) : undefined;
    return streamAnswer({ res, anthropic, model, usage, behavior, includeUsage: isUsageRequested(body), events });
  }
  const content = behavior.contentChars !== undefined ? 'x'.repeat(behavior.contentChars) : (behavior.content ?? 'hello from fake upstream');
  const payload = responses ? responseObject({ model, usage, text: content, shape: behavior, body })
    : anthropic ? anthropicMessage(model, usage, content) : openAICompletion(model, usage, content);
  const raw = Buffer.from(JSON.stringify(payload));
  if (behavior.gzip) {
    const zipped = gzipSync(raw);
    res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': zipped.length });
    res.end(zipped);
    return;
  }
  const idHeader = behavior.requestId === undefined ? {} : { [anthropic ? 'request-id' : 'x-request-id']: behavior.requestId };
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': raw.length, ...idHeader, ...behavior.headers });
  res.end(raw);
}

async function writeRawBody(res: ServerResponse, body: Record<string, unknown>, behavior: Behavior): Promise<void> {
  const raw = encoded(Buffer.from(behavior.rawBody ?? '', 'utf8'), behavior.encoding);
  const contentType = behavior.rawContentType ?? (body.stream === true ? 'text/event-stream' : 'application/json');
  if (behavior.rawCloseDelimited) {
    res.useChunkedEncodingByDefault = false;
    res.shouldKeepAlive = false;
  }
  const coding = behavior.encoding === undefined ? {} : { 'content-encoding': behavior.encoding.toLowerCase() === 'deflate-raw' ? 'deflate' : behavior.encoding };
  res.writeHead(behavior.status ?? 200, { 'content-type': contentType, ...coding, ...behavior.headers, ...(behavior.rawContentLength ? { 'content-length': raw.length } : {}) });
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
  for (let at = 0; at < raw.length && !res.destroyed;) {
    const size = 1 + Math.floor(random() * Math.max(1, maxBytes));
    res.write(raw.subarray(at, at + size));
    at += size;
    await (gapMs > 0 ? sleep(gapMs) : new Promise((resolve) => setImmediate(resolve)));
  }
  if (behavior.rawReset) return resetAfterWrites(res);
  if (!res.destroyed) res.end();
}

/** Output tokens of a model that writes `perChoice` tokens per choice unless the request caps fewer. */
function answeredTokens(body: Record<string, unknown>, perChoice: number): number {
  const caps = [body.max_completion_tokens, body.max_tokens, body.max_output_tokens].filter((cap): cap is number => typeof cap === 'number' && cap > 0);
  const choices = typeof body.n === 'number' && body.n > 1 ? body.n : 1;
  return Math.min(perChoice, ...caps) * choices;
}

/** The bytes compressed as `encoding` names (any case); unchanged for identity and codings the fake does not know. */
function encoded(raw: Buffer, encoding: string | undefined): Buffer {
  switch (encoding?.toLowerCase()) {
    case 'gzip': return gzipSync(raw);
    case 'deflate': return deflateSync(raw);
    case 'deflate-raw': return deflateRawSync(raw);
    case 'br': return brotliCompressSync(raw);
    default: return raw;
  }
}

function isUsageRequested(body: Record<string, unknown>): boolean {
  const options = body.stream_options as { include_usage?: boolean } | undefined;
  return options?.include_usage === true;
}

async function streamAnswer(input: { res: ServerResponse; anthropic: boolean; model: string; usage: UsageSpec; behavior: Behavior; includeUsage: boolean; events?: string[] }): Promise<void> {
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
    case 'gzip': return createGzip();
    case 'deflate': return createDeflate();
    case 'br': return createBrotliCompress();
    default: return null;
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
  const events = [`data: ${JSON.stringify({ ...base, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }], ...usageNull })}\n\n`];
  for (let i = 0; i < (input.behavior.chunks ?? 3); i++) {
    events.push(`data: ${JSON.stringify({ ...base, choices: [{ index: 0, delta: { content: input.behavior.chunkText ?? `tok${i} ` }, finish_reason: null }], ...usageNull })}\n\n`);
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
    event('message_start', { type: 'message_start', message: { id: 'msg_fake', type: 'message', role: 'assistant', model: input.model, content: [], stop_reason: null, stop_sequence: null, usage: startUsage } }),
    event('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }),
    event('ping', { type: 'ping' }),
  ];
  for (let i = 0; i < (input.behavior.chunks ?? 3); i++) {
    events.push(event('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: input.behavior.chunkText ?? `tok${i} ` } }));
  }
  events.push(event('content_block_stop', { type: 'content_block_stop', index: 0 }));
  events.push(event('message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: usage.output } }));
  events.push(event('message_stop', { type: 'message_stop' }));
  return events;
}

function writeJson(res: ServerResponse, value: unknown, status = 200): void {
  const raw = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(raw) });
  res.end(raw);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
