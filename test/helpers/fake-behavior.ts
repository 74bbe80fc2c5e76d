// The options a test gives the fake provider (fake-upstream.ts): what to answer, how, and how to misbehave.
import type { FakeUsage, ResponsesShape } from './fake-bodies.ts';

export interface Behavior extends ResponsesShape {
  /**
   * Chat completions answer 400 "only supported in v1/responses" (a responses-only model), or this status and message;
   * the Responses API answers as usual.
   */
  onlyResponses?: boolean | { status: number; message: string };
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
