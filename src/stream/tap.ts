// Relays an upstream response to the client while reading its usage: SSE chunk by chunk with backpressure, JSON whole.
import type { ServerResponse, OutgoingHttpHeaders } from 'node:http';
import { ProxyError } from '../errors.ts';
import type { UpstreamResponse } from '../upstream/client.ts';
import { upstreamError, type CallCancel } from '../upstream/client.ts';
import type { ProviderKey, WireFormat } from '../upstream/provider.ts';
import { contentCodings, decodeStream, decodeWhole, type ContentCoding } from '../upstream/content-coding.ts';
import { maskProviderKeys } from '../upstream/key-mask.ts';
import type { Usage } from '../protocol/usage.ts';
import type { ByteHold } from '../transport/bytes-in-flight.ts';
import { generatedBytes } from './generated-bytes.ts';
import { SseBlockTooLargeError, SseParser, type SseEvent } from './sse-parser.ts';
import { StreamKeyMask } from './stream-key-mask.ts';
import { Watchdog } from './watchdog.ts';
import { parseJsonBody, streamUsageReader, usageFromJson, withoutBom, type StreamFacts, type StreamUsageReader } from './usage-reader.ts';

/**
 * How a relay ended. Anything but `complete` was cut short; usage is still what was seen. `incomplete`: a 2xx stream
 * that ended cleanly without its terminator (`data: [DONE]`, `message_stop`).
 */
export type RelayEnd = 'complete' | 'client_aborted' | 'upstream_idle' | 'upstream_error' | 'incomplete';

export interface RelayResult {
  readonly end: RelayEnd;
  readonly sse: boolean;
  readonly usage: Usage | null;
  /** Whole response body (decoded; read whole, without a leading BOM) for history; of a stream, at most `maxBytes` of it. */
  readonly bodyText: string;
  /** The stream ran past `maxBytes` or the call's bytes in flight: bodyText holds its beginning only (the client got all of it). */
  readonly truncated: boolean;
  /** The body parsed once, when it was JSON (undefined otherwise). */
  readonly json?: unknown;
  /** SSE data events relayed (whether data flowed). */
  readonly dataEvents: number;
  /** UTF-8 bytes of the text a stream's events generated (`generatedBytes`): what a missing output count is estimated from. */
  readonly generatedBytes: number;
  /** A stream's usage is the provider's final count (a JSON answer's always is). */
  readonly finalUsage: boolean;
}

export interface RelayInput {
  readonly upstream: UpstreamResponse;
  readonly res: ServerResponse;
  readonly dialect: WireFormat;
  /** This response's own headers object: the relay may complete it (content-length). */
  readonly headers: OutgoingHttpHeaders;
  /** Drop the usage-only chunk the client did not ask for (OpenAI streams). */
  readonly stripUsageChunk: boolean;
  /** Largest body read whole (larger: upstream_response_too_large); the most of a stream kept for bodyText. */
  readonly maxBytes: number;
  /** Bounds on the first body chunk and on later gaps of a stream. */
  readonly streamTimeouts: { readonly firstByteMs: number; readonly idleMs: number };
  /** Aborts the upstream call (the relay does when the stream idles or the client goes); the whole-call deadline and the client's disconnect abort it too. */
  readonly cancel: CallCancel;
  /** The provider's keys: masked in every answer, read whole or streamed (key-mask.ts, stream-key-mask.ts). */
  readonly keysToMask: readonly ProviderKey[];
  /**
   * The call's bytes in flight: an answer read whole is held in it as it arrives (refused: the call fails with 503 or
   * 429); a stream's copy for history stops growing when it refuses (the entry is marked truncated, the client gets all).
   */
  readonly hold?: ByteHold;
  /**
   * Runs once the result is known and before the answer ends (a JSON answer is held until then; a stream waits with
   * its last bytes, the end of the chunked body): what charges and records the call, so a client that saw the end of
   * its answer is charged even if the process dies right after (pipeline/finish.ts).
   */
  readonly beforeEnd?: (result: RelayResult) => Promise<void>;
}

/**
 * Relays the answer decoded: one compressed anyway (tollgate asks for identity) is decompressed so that it can be
 * masked and metered, and reaches the client uncompressed; one in a coding tollgate cannot read is refused unrelayed.
 */
export async function relayResponse(input: RelayInput): Promise<RelayResult> {
  let codings: readonly ContentCoding[];
  try {
    codings = contentCodings(input.upstream.headers['content-encoding']);
  } catch (error) {
    input.cancel.abort(error);
    throw error;
  }
  delete input.headers['content-encoding'];
  return isEventStream(input.upstream.headers['content-type']) ? relayStream(input, codings) : relayWhole(input, codings);
}

const EVENT_STREAM = 'text/event-stream';
const FIRST_BYTE_TIMEOUT = 'upstream stream timed out before first byte';

/**
 * Whether the answer is SSE. A media type is case-insensitive (`Text/Event-Stream` is a stream too, to be relayed as
 * it comes and metered event by event); a lower-case copy is made only of a header that starts with a `t` and is not
 * written in lower case, never of a JSON answer's.
 */
function isEventStream(header: string | string[] | undefined): boolean {
  const contentType = typeof header === 'string' ? header : String(header ?? '');
  if (contentType.includes(EVENT_STREAM)) return true;
  const first = contentType.charCodeAt(0);
  return (first === 84 /* T */ || first === 116 /* t */) && contentType.toLowerCase().startsWith(EVENT_STREAM);
}

/** JSON (or anything not SSE): read whole, then answer once with an exact length; a failure mid-body is still a clean error. */
async function relayWhole(input: RelayInput, codings: readonly ContentCoding[]): Promise<RelayResult> {
  let raw: Buffer;
  try {
    raw = await input.upstream.body.bytes(input.maxBytes, input.hold);
  } catch (error) {
    throw upstreamError(error, input.cancel);
  }
  if (codings.length > 0) raw = await decodeHeld({ raw, codings, maxBytes: input.maxBytes, hold: input.hold });
  raw = maskProviderKeys(raw, input.keysToMask);
  const bodyText = withoutBom(raw.toString('utf8'));
  const json = parseJsonBody(bodyText);
  const result: RelayResult = { end: 'complete', sse: false, usage: usageFromJson(json, input.dialect), bodyText, json, dataEvents: 0, generatedBytes: 0, finalUsage: true, truncated: false };
  await input.beforeEnd?.(result);
  const headers = input.headers; // built for this response alone (dispatch.ts), so completed in place
  headers['content-length'] = raw.length;
  input.res.writeHead(input.upstream.statusCode, headers);
  input.res.end(raw);
  return result;
}

/**
 * An answer read whole, decompressed within what the call may still hold (a small body can inflate a thousandfold):
 * past it, the hold's refusal (503 / 429) rather than the memory.
 */
async function decodeHeld(input: { raw: Buffer; codings: readonly ContentCoding[]; maxBytes: number; hold: ByteHold | undefined }): Promise<Buffer> {
  const { raw, hold } = input;
  const limit = hold ? Math.min(input.maxBytes, raw.length + hold.room()) : input.maxBytes;
  let decoded: Buffer;
  try {
    decoded = await decodeWhole(raw, input.codings, limit);
  } catch (error) {
    // stopped by the room, not by the configured maximum: answered with the hold's refusal
    const byRoom = limit < input.maxBytes && error instanceof ProxyError && error.code === 'upstream_response_too_large';
    throw (byRoom ? hold?.take(limit - raw.length + 1) : null) ?? error;
  }
  const refused = hold?.take(decoded.length - raw.length);
  if (refused) throw refused;
  return decoded;
}

async function relayStream(input: RelayInput, codings: readonly ContentCoding[]): Promise<RelayResult> {
  const { upstream, res } = input;
  const body = codings.length === 0 ? upstream.body : decodeStream(upstream.body, codings);
  const parser = new SseParser({ maxBlockChars: input.maxBytes });
  // what history keeps: the whole stream up to maxBytes (an endless stream must not grow without bound in memory)
  const state: StreamState = { parser, reader: streamUsageReader(input.dialect), strip: input.stripUsageChunk, maxBytes: input.maxBytes, hold: input.hold ?? null, pendingHeld: 0, chunks: [], kept: 0, truncated: false, dataEvents: 0, generatedBytes: 0 };
  const mask = StreamKeyMask.for(input.keysToMask);
  let end: RelayEnd = 'complete';
  let idle = false;
  let failure: string | undefined;
  let undecodable: ProxyError | undefined;
  // As cllama: the status and headers leave with the upstream's first byte, so a stream that stalls or fails before
  // it is answered with a real 504 / 502 (which the SDKs retry), not with a 200 and an error event.
  let started = false;
  let headersOut = false;
  const watchdog = new Watchdog({
    ms: input.streamTimeouts.firstByteMs,
    onFire: () => {
      // waiting on the client's socket, not on upstream: a client that stopped reading (a paused or dead peer the
      // kernel has not noticed) would otherwise hold the call, its socket and the buffered stream for good
      if (res.writableNeedDrain) {
        res.destroy();
        return;
      }
      idle = true;
      input.cancel.abort(started ? 'upstream stream idle timeout' : FIRST_BYTE_TIMEOUT);
    },
  });
  try {
    for await (const chunk of body) {
      watchdog.keepAlive(input.streamTimeouts.idleMs);
      if (!started) {
        started = true;
        res.writeHead(upstream.statusCode, input.headers);
      }
      const out = takePiece(state, mask ? mask.push(chunk) : chunk);
      if (out.length > 0) {
        headersOut = true; // with the first bytes, in one write
        if (!res.write(out)) await drained(res);
      } else if (!headersOut && !res.destroyed) {
        headersOut = true; // the first bytes are held back (a partial event): the headers go on their own
        res.flushHeaders();
      }
      const refused = holdPending(state);
      if (refused) {
        end = 'upstream_error'; // an event held while incomplete outgrew the call's bytes in flight
        failure = refused.message;
        input.cancel.abort(refused);
        break;
      }
      if (clientGone(res)) {
        end = 'client_aborted';
        input.cancel.abort('client closed the connection');
        break;
      }
    }
  } catch (error) {
    end = idle ? 'upstream_idle' : clientGone(res) ? 'client_aborted' : 'upstream_error';
    if (error instanceof SseBlockTooLargeError) failure = error.message; // leaving the loop abandons (aborts) the body
    if (error instanceof ProxyError && error.code === 'upstream_bad_encoding') {
      undecodable = error;
      failure = error.message;
    }
  } finally {
    watchdog.stop();
  }
  if (!started) {
    // nothing reached the client yet: a failure is still a plain HTTP error (dispatch.ts charges what upstream had)
    if (end === 'upstream_idle') throw new ProxyError('upstream_timeout', { message: FIRST_BYTE_TIMEOUT });
    if (end === 'upstream_error') throw undecodable ?? new ProxyError('upstream_unreachable', { message: 'upstream stream failed before sending data' });
    if (end === 'complete') res.writeHead(upstream.statusCode, input.headers); // an empty stream
  }
  const tail = mask?.end();
  if (tail && tail.length > 0) {
    // the end of the stream looked like the start of a key and was held back: it was not one
    const out = takePiece(state, tail);
    if (out.length > 0 && !res.writableEnded && !res.destroyed) res.write(out);
  }
  // a block left unfinished by a cut is not relayed: the client gets the error event, not half an event
  const cut = end !== 'complete';
  for (const event of parser.end()) {
    readEvent(state, event);
    if (state.strip && !cut && !state.reader.isUsageOnlyChunk(event) && !res.writableEnded) res.write(event.raw);
  }
  const bodyText = Buffer.concat(state.chunks, state.kept).toString('utf8');
  const facts: StreamFacts = { ...readerFacts(state.reader), generatedBytes: state.generatedBytes };
  // ended cleanly but without its terminator: the upstream stopped early (charged as cut)
  if (end === 'complete' && !facts.terminated && upstream.statusCode >= 200 && upstream.statusCode < 300) end = 'incomplete';
  if (end === 'upstream_idle' || end === 'upstream_error' || end === 'incomplete') {
    // an incomplete stream's last block may have been relayed without its blank line, stripped or not
    writeStreamError({ res, dialect: input.dialect, end, message: failure, closeBlock: !state.strip || end === 'incomplete' });
  }
  const result: RelayResult = { end, sse: true, usage: facts.usage, bodyText, dataEvents: state.dataEvents, generatedBytes: facts.generatedBytes, finalUsage: facts.finalUsage, truncated: state.truncated };
  await input.beforeEnd?.(result);
  if (!res.writableEnded) res.end();
  return result;
}

function readerFacts(reader: StreamUsageReader): Omit<StreamFacts, 'generatedBytes'> {
  return { usage: reader.usage, finalUsage: reader.finalUsage, terminated: reader.terminated };
}

/** A stream's relay in progress: what history keeps of it, its events as parsed, and whether usage chunks are stripped. */
interface StreamState {
  readonly parser: SseParser;
  readonly reader: StreamUsageReader;
  readonly strip: boolean;
  readonly maxBytes: number;
  /** The call's bytes in flight: what history keeps of the stream is held in it, and stops when it refuses. */
  readonly hold: ByteHold | null;
  /** Characters of the parser's event in progress held in `hold` so far. */
  pendingHeld: number;
  readonly chunks: Buffer[];
  kept: number;
  truncated: boolean;
  dataEvents: number;
  generatedBytes: number;
}

/**
 * Keeps one piece of the stream for history (up to maxBytes, and while the call's bytes in flight allow it), reads its
 * events, and returns what the client gets of it.
 */
function takePiece(state: StreamState, piece: Buffer): Buffer | string {
  if (!state.truncated && state.kept + piece.length <= state.maxBytes && !state.hold?.take(piece.length)) {
    state.chunks.push(piece);
    state.kept += piece.length;
  } else state.truncated = true;
  let relayed = '';
  for (const event of state.parser.push(piece)) {
    readEvent(state, event);
    if (state.strip && !state.reader.isUsageOnlyChunk(event)) relayed += event.raw;
  }
  return state.strip ? relayed : piece;
}

/**
 * Holds the event the parser keeps while it is incomplete (up to maxBytes of a hostile upstream's endless event) in
 * the call's bytes in flight; returns the refusal when it no longer fits.
 */
function holdPending(state: StreamState): ProxyError | null {
  const pending = state.parser.pendingChars;
  const grown = pending - state.pendingHeld;
  if (!state.hold || grown === 0) return null;
  if (grown < 0) state.hold.give(-grown);
  else {
    const refused = state.hold.take(grown);
    if (refused) return refused;
  }
  state.pendingHeld = pending;
  return null;
}

/** Meters one event: its usage, and the text it generated. */
function readEvent(state: StreamState, event: SseEvent): void {
  if (event.data) {
    state.dataEvents++;
    state.generatedBytes += generatedBytes(event.data);
  }
  state.reader.onEvent(event);
}

function drained(res: ServerResponse): Promise<void> {
  if (res.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/**
 * Tells a streaming client why its stream ended early, in its own dialect (status 200 is already sent). When the
 * upstream's bytes were relayed as they came (`closeBlock`), they may stop inside an event: a blank line ends it first,
 * so the error arrives as an event of its own (a blank line with nothing before it is ignored by SSE readers).
 */
function writeStreamError(input: { res: ServerResponse; dialect: WireFormat; end: RelayEnd; message?: string; closeBlock: boolean }): void {
  const { res, dialect, end } = input;
  if (res.writableEnded || res.destroyed) return;
  const message = input.message ?? defaultStreamError(end, dialect);
  const payload = dialect === 'anthropic'
    ? { type: 'error', error: { type: 'api_error', message } }
    : { error: { message, type: 'server_error', code: end === 'incomplete' ? 'upstream_incomplete' : end } };
  res.write(`${input.closeBlock ? '\n\n' : ''}event: error\ndata: ${JSON.stringify(payload)}\n\n`);
}

function defaultStreamError(end: RelayEnd, dialect: WireFormat): string {
  if (end === 'upstream_idle') return 'upstream stream idle timeout';
  if (end === 'incomplete') return `upstream stream ended without ${dialect === 'anthropic' ? 'message_stop' : 'data: [DONE]'}`;
  return 'upstream stream failed';
}

/** The client closed the connection before the response was finished. */
function clientGone(res: ServerResponse): boolean {
  return res.destroyed && !res.writableFinished;
}
