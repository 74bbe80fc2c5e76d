// Relays an SSE answer as it comes, with backpressure, masking and metering each event; bounds its first byte and gaps.
import type { ServerResponse } from 'node:http';
import { ProxyError } from '../errors.ts';
import type { Protocol } from '../protocol/protocol.ts';
import { decodeStream, type ContentCoding } from '../upstream/content-coding.ts';
import { UpstreamBody } from '../upstream/upstream-body.ts';
import type { ByteHold } from '../transport/bytes-in-flight.ts';
import { generatedBytes } from './generated-bytes.ts';
import { SseBlockTooLargeError, SseParser, type SseEvent } from '../protocol/sse-parser.ts';
import { StreamKeyMask } from './stream-key-mask.ts';
import { Utf8Pieces } from './utf8-pieces.ts';
import type { RelayEnd, RelayInput, RelayResult } from './tap.ts';
import { Watchdog } from './watchdog.ts';
import type { StreamFacts, StreamUsageReader } from './usage-reader.ts';

const FIRST_BYTE_TIMEOUT = 'upstream stream timed out before first byte';

/** One stream's relay in progress: what its loop learns, read by what follows it. */
interface StreamRun {
  readonly input: RelayInput;
  readonly state: StreamState;
  readonly mask: StreamKeyMask | null;
  end: RelayEnd;
  /** The watchdog fired: the upstream went quiet. */
  idle: boolean;
  /** What the error event tells the client, when not the default for `end`. */
  failure?: string;
  undecodable?: ProxyError;
  /** Status and headers written (with the upstream's first byte). */
  started: boolean;
  /** Status and headers flushed to the socket. */
  headersOut: boolean;
  /**
   * What the client gets once the call is charged and recorded, with the end of the answer: from the piece that
   * arrived with the end of the upstream's body on (null before it). Nothing is left to wait for then, and the client
   * sees the stream's terminator only once its call is on the books; the answer's last bytes leave in one write.
   */
  deferred: Array<Buffer | string> | null;
}

/**
 * As cllama: the status and headers leave with the upstream's first byte, so a stream that stalls or fails before it
 * is answered with a real 504 / 502 (which the SDKs retry), not with a 200 and an error event. A stream cut after it
 * ends with the route's error event; one that ends cleanly without its terminator is `incomplete`.
 */
export async function relayStream(input: RelayInput, codings: readonly ContentCoding[]): Promise<RelayResult> {
  const run: StreamRun = {
    input,
    state: newStreamState(input),
    mask: StreamKeyMask.for(input.keysToMask),
    end: 'complete',
    idle: false,
    started: false,
    headersOut: false,
    deferred: null,
  };
  const upstreamBody = input.upstream.body;
  // a decoded stream's end is not known with its last piece: its pieces are relayed as they come
  const body = codings.length === 0 ? upstreamBody : decodeStream(upstreamBody, codings);
  const bodyEnded = codings.length === 0 ? () => upstreamBody.ended : () => false;
  const watchdog = new Watchdog({ ms: input.streamTimeouts.firstByteMs, onFire: () => onStall(run) });
  try {
    await pump({ run, body, bodyEnded, watchdog });
  } catch (error) {
    noteFailure(run, error);
  } finally {
    watchdog.stop();
  }
  if (!run.started) answerUnstarted(run);
  flushHeldBack(run);
  const result = streamResult(run);
  try {
    await input.beforeEnd?.(result);
  } finally {
    // a failed charge does not keep back what the upstream sent (the error path then ends the answer)
    writeDeferred(run);
  }
  if (!input.res.writableEnded) input.res.end();
  return result;
}

/** Relays a piece now, or keeps it for the end of the answer once the upstream's body has ended. */
function send(run: StreamRun, out: Buffer | string): void {
  if (run.deferred !== null) run.deferred.push(out);
  else if (!run.input.res.writableEnded && !run.input.res.destroyed) run.input.res.write(out);
}

/** The pieces kept for the end, written in the turn that ends the answer (one write with its end). */
function writeDeferred(run: StreamRun): void {
  const { deferred } = run;
  run.deferred = null;
  if (deferred === null) return;
  for (const out of deferred) send(run, out);
}

function newStreamState(input: RelayInput): StreamState {
  const parser = new SseParser({ maxBlockChars: input.maxBytes });
  // what history keeps: the whole stream up to maxBytes (an endless stream must not grow without bound in memory)
  return {
    parser,
    utf8: new Utf8Pieces(),
    reader: input.protocol.streamUsageReader(),
    strip: input.stripUsageChunk,
    maxBytes: input.maxBytes,
    hold: input.hold ?? null,
    pendingHeld: 0,
    texts: [],
    kept: 0,
    truncated: false,
    dataEvents: 0,
    generatedBytes: 0,
  };
}

/** The first byte or a later chunk is late. */
function onStall(run: StreamRun): void {
  const { res, cancel } = run.input;
  // waiting on the client's socket, not on upstream: a client that stopped reading (a paused or dead peer the kernel
  // has not noticed) would otherwise hold the call, its socket and the buffered stream for good
  if (res.writableNeedDrain) {
    res.destroy();
    return;
  }
  run.idle = true;
  cancel.abort(run.started ? 'upstream stream idle timeout' : FIRST_BYTE_TIMEOUT);
}

/** What the pump works with: the relay, the body as it comes, whether it has all arrived, the idle bound. */
interface PumpInput {
  readonly run: StreamRun;
  readonly body: AsyncIterable<Buffer>;
  readonly bodyEnded: () => boolean;
  readonly watchdog: Watchdog;
}

/**
 * Relays the body chunk by chunk until it ends, the client goes, or the event held while incomplete outgrows the call;
 * the pieces that arrive with the body's end are kept for the end of the answer (`deferred`). An undecoded body is
 * taken in batches (what arrived since the last wait): an async iterator cost four promises a chunk, ~half of a
 * stream's.
 */
async function pump(input: PumpInput): Promise<void> {
  const { body } = input;
  const { res } = input.run.input;
  if (body instanceof UpstreamBody) return pumpBatches(input, body);
  for await (const chunk of body) {
    if (relayPiece(input, chunk)) await drained(res);
    if (stopsHere(input.run)) return;
  }
}

async function pumpBatches(input: PumpInput, body: UpstreamBody): Promise<void> {
  const { res } = input.run.input;
  try {
    for (;;) {
      const chunks = body.take();
      if (chunks.length === 0) {
        if (body.ended) return;
        body.throwIfFailed();
        await body.more();
        continue;
      }
      for (const chunk of chunks) {
        if (relayPiece(input, chunk)) await drained(res);
        if (stopsHere(input.run)) return;
      }
    }
  } finally {
    body.leave(); // stopped early (client gone, held event too large, a throw): the upstream call ends
  }
}

/** Relays one piece (or keeps it for the end); true when the client's socket is full and its drain must be awaited. */
function relayPiece(input: PumpInput, chunk: Buffer): boolean {
  const { run } = input;
  const { res } = run.input;
  input.watchdog.keepAlive(run.input.streamTimeouts.idleMs);
  if (!run.started) {
    run.started = true;
    res.writeHead(run.input.upstream.statusCode, run.input.headers);
  }
  const out = takePiece(run.state, run.mask ? run.mask.push(chunk) : chunk);
  if (run.deferred === null && input.bodyEnded()) run.deferred = [];
  if (run.deferred !== null) {
    if (out.length > 0) run.deferred.push(out);
  } else if (out.length > 0) {
    run.headersOut = true; // with the first bytes, in one write
    return !res.write(out);
  } else if (!run.headersOut && !res.destroyed) {
    run.headersOut = true; // the first bytes are held back (a partial event): the headers go on their own
    res.flushHeaders();
  }
  return false;
}

/** After a piece: the event held while incomplete outgrew the call, or the client left; either ends the relay here. */
function stopsHere(run: StreamRun): boolean {
  const refused = holdPending(run.state);
  if (refused) {
    run.end = 'upstream_error';
    run.failure = refused.message;
    run.input.cancel.abort(refused);
    return true;
  }
  if (clientGone(run.input.res)) {
    run.end = 'client_aborted';
    run.input.cancel.abort('client closed the connection');
    return true;
  }
  return false;
}

/** Why the body's iteration threw: the watchdog, the client, or the upstream (leaving the loop aborts the body). */
function noteFailure(run: StreamRun, error: unknown): void {
  run.end = run.idle ? 'upstream_idle' : clientGone(run.input.res) ? 'client_aborted' : 'upstream_error';
  if (error instanceof SseBlockTooLargeError) run.failure = error.message;
  if (error instanceof ProxyError && error.code === 'upstream_bad_encoding') {
    run.undecodable = error;
    run.failure = error.message;
  }
}

/** Nothing reached the client yet: a failure is still a plain HTTP error (dispatch.ts charges what upstream had). */
function answerUnstarted(run: StreamRun): void {
  const { end, input } = run;
  if (end === 'upstream_idle') throw new ProxyError('upstream_timeout', { message: FIRST_BYTE_TIMEOUT });
  if (end === 'upstream_error') throw run.undecodable ?? new ProxyError('upstream_unreachable', { message: 'upstream stream failed before sending data' });
  if (end === 'complete') input.res.writeHead(input.upstream.statusCode, input.headers); // an empty stream
}

/** The end of the stream looked like the start of a key and was held back: it was not one. */
function flushHeldBack(run: StreamRun): void {
  const tail = run.mask?.end();
  if (!tail || tail.length === 0) return;
  const out = takePiece(run.state, tail);
  if (out.length > 0) send(run, out);
}

/** What the stream was, once over: its last block read, its error event written when cut. */
function streamResult(run: StreamRun): RelayResult {
  const { state, input } = run;
  // a block left unfinished by a cut is not relayed: the client gets the error event, not half an event
  const cut = run.end !== 'complete';
  // a character the stream ended inside (U+FFFD): the client got its bytes already, unless usage chunks are stripped
  const tail = state.utf8.end();
  if (tail.length > 0 && !state.truncated) state.texts.push(tail);
  for (const event of tail.length > 0 ? [...state.parser.push(tail), ...state.parser.end()] : state.parser.end()) {
    readEvent(state, event);
    if (state.strip && !cut && !state.reader.isUsageOnlyChunk(event)) send(run, event.raw);
  }
  const bodyText = state.texts.join('');
  const { reader } = state;
  // written out, not spread: a spread plus a field here missed the literal's inline caches on every stream
  const facts: StreamFacts = { usage: reader.usage, finalUsage: reader.finalUsage, terminated: reader.terminated, generatedBytes: state.generatedBytes };
  let end = run.end;
  // ended cleanly but without its terminator: the upstream stopped early (charged as cut)
  if (end === 'complete' && !facts.terminated && input.upstream.statusCode >= 200 && input.upstream.statusCode < 300) end = 'incomplete';
  if (end === 'upstream_idle' || end === 'upstream_error' || end === 'incomplete') {
    // an incomplete stream's last block may have been relayed without its blank line, stripped or not
    send(run, streamErrorEvent({ protocol: input.protocol, end, message: run.failure, closeBlock: !state.strip || end === 'incomplete' }));
  }
  return {
    end,
    sse: true,
    usage: facts.usage,
    bodyText,
    dataEvents: state.dataEvents,
    generatedBytes: facts.generatedBytes,
    finalUsage: facts.finalUsage,
    truncated: state.truncated,
  };
}

/** A stream's relay in progress: what history keeps of it, its events as parsed, and whether usage chunks are stripped. */
interface StreamState {
  readonly parser: SseParser;
  /** The stream's text, decoded once for the parser and for history. */
  readonly utf8: Utf8Pieces;
  readonly reader: StreamUsageReader;
  readonly strip: boolean;
  readonly maxBytes: number;
  /** The call's bytes in flight: what history keeps of the stream is held in it, and stops when it refuses. */
  readonly hold: ByteHold | null;
  /** Characters of the parser's event in progress held in `hold` so far. */
  pendingHeld: number;
  /** What history keeps: the text of the pieces kept (`kept` bytes of the stream). */
  readonly texts: string[];
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
  const text = state.utf8.text(piece);
  if (!state.truncated && state.kept + piece.length <= state.maxBytes && !state.hold?.take(piece.length)) {
    state.texts.push(text);
    state.kept += piece.length;
  } else state.truncated = true;
  let relayed = '';
  for (const event of state.parser.push(text)) {
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
 * What tells a streaming client why its stream ended early, in its own wire format (status 200 is already sent). When
 * the upstream's bytes were relayed as they came (`closeBlock`), they may stop inside an event: a blank line ends it
 * first, so the error arrives as an event of its own (a blank line with nothing before it is ignored by SSE readers).
 */
function streamErrorEvent(input: { protocol: Protocol; end: RelayEnd; message?: string; closeBlock: boolean }): string {
  const { protocol, end } = input;
  const message = input.message ?? defaultStreamError(end, protocol);
  const event = protocol.streamErrorEvent({ message, code: end === 'incomplete' ? 'upstream_incomplete' : end });
  return `${input.closeBlock ? '\n\n' : ''}${event}`;
}

function defaultStreamError(end: RelayEnd, protocol: Protocol): string {
  if (end === 'upstream_idle') return 'upstream stream idle timeout';
  if (end === 'incomplete') return `upstream stream ended without ${protocol.terminator}`;
  return 'upstream stream failed';
}

/** The client closed the connection before the response was finished. */
function clientGone(res: ServerResponse): boolean {
  return res.destroyed && !res.writableFinished;
}
