// One wire format's behaviour as methods: what the request path asks of chat completions, messages or responses.
import type { ErrorCode } from '../errors.ts';
import type { SseEvent } from './sse-parser.ts';
import type { CallParams } from './call-params.ts';
import type { Usage } from './usage.ts';

export type ProtocolName = 'chat' | 'messages' | 'responses';

/** Which SDK family reads a route's errors: the OpenAI envelope (chat, responses) or Anthropic's (messages). */
export type ErrorFamily = 'openai' | 'anthropic';

export interface PreparedRequest {
  readonly upstreamBody: Record<string, unknown>;
  readonly stream: boolean;
  /** Whether the client itself asked for usage in the stream (else tollgate strips the usage-only chunk). */
  readonly clientWantsUsage: boolean;
}

export interface StreamUsageReader {
  onEvent(event: SseEvent): void;
  /** True only for a chat stream's final chunk that carries usage and no choices. */
  isUsageOnlyChunk(event: SseEvent): boolean;
  readonly usage: Usage | null;
  /** The usage is the provider's final count (not a placeholder, nor a report the stream was cut after). */
  readonly finalUsage: boolean;
  /** The stream's terminator was seen (`data: [DONE]`, `message_stop`, `response.completed`…). */
  readonly terminated: boolean;
}

export interface ErrorBodyInput {
  readonly code: ErrorCode;
  readonly status: number;
  readonly message: string;
  readonly requestId: string;
  readonly extra?: Record<string, unknown>;
  readonly param?: string;
}

export interface Protocol {
  readonly name: ProtocolName;
  /** The route's path, e.g. /v1/chat/completions. */
  readonly path: string;
  readonly errorFamily: ErrorFamily;
  /** What ends a 2xx stream, as a message about a stream that lacked it names it. */
  readonly terminator: string;
  /** The fields that bound a call's cost, checked (ProxyError invalid_parameter for a wrong shape). */
  readCallParams(body: Record<string, unknown>): CallParams;
  /** The upstream body (model rewritten, usage asked for on streams) and what the client asked for. */
  prepare(body: Record<string, unknown>, upstreamModel: string): PreparedRequest;
  /** Sets the output cap tollgate reserved on an upstream body the client sent without one; returns the field set. */
  setOutputCap(input: { readonly body: Record<string, unknown>; readonly provider: string; readonly cap: number }): string;
  /** Usage a whole (JSON) answer or error body reports; null when none (absent is not zero). */
  usageFromJson(body: unknown): Usage | null;
  /** A fresh reader of one stream's usage and terminator. */
  streamUsageReader(): StreamUsageReader;
  /** The generated part of a JSON answer, what an unreported output count is estimated from; undefined when none. */
  generatedPart(answer: Record<string, unknown>): unknown;
  /** An answer the provider is still working on (a Responses background call, queued): its usage comes later, unseen. */
  pendingAnswer(answer: Record<string, unknown>): boolean;
  /** Estimate input: the messages framed in the prompt (each costs a few tokens of framing). */
  promptMessages(body: Record<string, unknown>): number;
  errorBody(input: ErrorBodyInput): Record<string, unknown>;
  /** The SSE event (one whole block) that tells a streaming client its stream ended early: status 200 was already sent. */
  streamErrorEvent(input: { readonly message: string; readonly code: string }): string;
}
