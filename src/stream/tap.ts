// Relays an upstream response to the client while reading its usage: SSE chunk by chunk with backpressure, JSON whole.
import type { ServerResponse, OutgoingHttpHeaders } from 'node:http';
import { ProxyError } from '../errors.ts';
import type { UpstreamResponse } from '../upstream/client.ts';
import { upstreamError, type CallCancel } from '../upstream/client.ts';
import type { ProviderKey } from '../upstream/provider.ts';
import type { Protocol } from '../protocol/protocol.ts';
import { contentCodings, decodeWhole, type ContentCoding } from '../upstream/content-coding.ts';
import { relayStream } from './relay-stream.ts';
import { maskProviderKeys } from '../upstream/key-mask.ts';
import type { Usage } from '../protocol/usage.ts';
import type { ByteHold } from '../transport/bytes-in-flight.ts';
import { parseJsonBody, withoutBom } from './usage-reader.ts';
import type { AnswerTranslator } from './answer-translation.ts';

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
  /** The route's wire format: how usage is read, and how a stream cut short is told so. */
  readonly protocol: Protocol;
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
   * the pieces that arrived with the end of the upstream's body, its terminator among them, and the end of the chunked
   * body): what charges and records the call, so a client that saw the end of its answer is charged even if the
   * process dies right after (pipeline/settle.ts).
   */
  readonly beforeEnd?: (result: RelayResult) => Promise<void>;
  /** Rewrites the answer, read whole whatever its type, before it is relayed and metered (cllama's Responses adapter). */
  readonly translate?: AnswerTranslator;
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
  return !input.translate && isEventStream(input.upstream.headers['content-type']) ? relayStream(input, codings) : relayWhole(input, codings);
}

const EVENT_STREAM = 'text/event-stream';

/**
 * Whether the answer is SSE. A media type is case-insensitive (`Text/Event-Stream` is a stream too, to be relayed as
 * it comes and metered event by event); a lower-case copy is made only of a header that starts with a `t` and is not
 * written in lower case, never of a JSON answer's.
 */
function isEventStream(header: string | string[] | undefined): boolean {
  const contentType = typeof header === 'string' ? header : String(header ?? '');
  if (contentType.includes(EVENT_STREAM)) return true;
  const first = contentType.charCodeAt(0);
  return (first === 84 /* T */ || first === 116) /* t */ && contentType.toLowerCase().startsWith(EVENT_STREAM);
}

/** JSON (or anything not SSE): read whole, then answer once with an exact length; a failure mid-body is still a clean error. */
async function relayWhole(input: RelayInput, codings: readonly ContentCoding[]): Promise<RelayResult> {
  let raw: Buffer;
  try {
    raw = await input.upstream.body.bytes({ maxBytes: input.maxBytes, hold: input.hold, idleMs: input.streamTimeouts.idleMs });
  } catch (error) {
    throw upstreamError(error, input.cancel);
  }
  if (codings.length > 0) raw = await decodeHeld({ raw, codings, maxBytes: input.maxBytes, hold: input.hold });
  raw = maskProviderKeys(raw, input.keysToMask);
  const bodyText = withoutBom(raw.toString('utf8'));
  const json = parseJsonBody(bodyText);
  if (input.translate) return relayTranslated({ ...input, translate: input.translate }, { bodyText, json });
  const result: RelayResult = {
    end: 'complete',
    sse: false,
    usage: json === undefined ? null : input.protocol.usageFromJson(json),
    bodyText,
    json,
    dataEvents: 0,
    generatedBytes: 0,
    finalUsage: true,
    truncated: false,
  };
  await input.beforeEnd?.(result);
  const headers = input.headers; // built for this response alone (dispatch.ts), so completed in place
  headers['content-length'] = raw.length;
  input.res.writeHead(input.upstream.statusCode, headers);
  input.res.end(raw);
  return result;
}

/**
 * An answer read whole and rewritten: charged and recorded as the client gets it (before it ends), or, when it is no
 * success, charged what it reported and failed with `responses_adapter_failed` (nothing of it relayed).
 */
async function relayTranslated(input: RelayInput & { translate: AnswerTranslator }, read: { bodyText: string; json: unknown }): Promise<RelayResult> {
  const status = input.upstream.statusCode;
  const answer = input.translate({ status, ...read });
  if (answer.kind === 'failed') {
    const failed: RelayResult = {
      end: 'upstream_error',
      sse: false,
      usage: answer.usage,
      bodyText: read.bodyText,
      json: read.json,
      dataEvents: 0,
      generatedBytes: 0,
      finalUsage: true,
      truncated: false,
    };
    await input.beforeEnd?.(failed);
    throw new ProxyError('responses_adapter_failed', { message: `failed to translate responses API reply: ${answer.reason}` });
  }
  const raw = Buffer.from(answer.text);
  const result: RelayResult = {
    end: 'complete',
    sse: answer.sse,
    usage: answer.usage,
    bodyText: answer.text,
    json: answer.json,
    dataEvents: answer.sse ? 1 : 0,
    generatedBytes: answer.generatedBytes,
    finalUsage: true,
    truncated: false,
  };
  await input.beforeEnd?.(result);
  const headers = input.headers;
  headers['content-type'] = answer.contentType;
  headers['content-length'] = raw.length;
  input.res.writeHead(status, headers);
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
