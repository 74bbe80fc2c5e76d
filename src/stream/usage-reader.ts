// Picks the usage reader for a wire format and reads usage from whole bodies (JSON, or SSE that arrived encoded).
import type { Usage } from '../protocol/usage.ts';
import type { WireFormat } from '../protocol/wire-format.ts';
import { AnthropicStreamUsage } from '../protocol/anthropic/stream-usage.ts';
import { usageFromAnthropicJson } from '../protocol/anthropic/usage.ts';
import { OpenAIStreamUsage } from '../protocol/openai/stream-usage.ts';
import { usageFromOpenAIJson } from '../protocol/openai/usage.ts';
import type { SseEvent } from '../protocol/sse-parser.ts';

export interface StreamUsageReader {
  onEvent(event: SseEvent): void;
  /** True only for OpenAI's final chunk that carries usage and no choices. */
  isUsageOnlyChunk(event: SseEvent): boolean;
  readonly usage: Usage | null;
  /** The usage is the provider's final count (not a placeholder, nor a report the stream was cut after). */
  readonly finalUsage: boolean;
  /** The stream's terminator was seen: `data: [DONE]` (OpenAI), `message_stop` (Anthropic). */
  readonly terminated: boolean;
}

export function streamUsageReader(dialect: WireFormat): StreamUsageReader {
  return dialect === 'openai' ? new OpenAIStreamUsage() : new AnthropicStreamUsage();
}

/** What a stream told about its usage and its end, read as it passed (or afterwards, from its decoded text). */
export interface StreamFacts {
  readonly usage: Usage | null;
  readonly finalUsage: boolean;
  readonly terminated: boolean;
  /** UTF-8 bytes of the text its events generated (`generatedBytes`). */
  readonly generatedBytes: number;
}

/**
 * A whole body's text without the byte-order mark some servers put first: it is not part of the content (a client
 * decoding UTF-8, as fetch's `json()` does, drops it), and JSON.parse, like a history line holding the body, refuses it.
 */
export function withoutBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** Parses a whole response body once; undefined when it is not JSON. */
export function parseJsonBody(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export function usageFromJson(body: unknown, dialect: WireFormat): Usage | null {
  if (body === undefined) return null;
  return dialect === 'openai' ? usageFromOpenAIJson(body) : usageFromAnthropicJson(body);
}
