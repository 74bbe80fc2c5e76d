// Collects usage from an OpenAI-format SSE stream chunk by chunk, and recognises the usage-only chunk so it can be stripped.
import type { SseEvent } from '../sse-parser.ts';
import type { Usage } from '../usage.ts';
import { jsonKey, nextKeyValue } from '../json-scan.ts';
import { isRecord } from '../usage-fields.ts';
import { usageFromOpenAIUsageObject } from './usage.ts';

/**
 * Feed every event of one stream to onEvent(). Usage is the latest non-null `usage` object seen: each report is
 * cumulative and complete (OpenAI's final usage chunk; providers that send usage on every chunk; OpenRouter).
 * Content chunks are not JSON-parsed: a chunk is parsed only if its data holds a `"usage"` key whose value is not null.
 */
export class OpenAIStreamUsage {
  private latest: Usage | null = null;
  private done = false;
  private final = false;
  private lastEvent: SseEvent | null = null;
  private lastWasUsageOnly = false;

  onEvent(event: SseEvent): void {
    this.lastEvent = event;
    this.lastWasUsageOnly = false;
    const data = event.data;
    if (data.length === 0) return;
    if (data === '[DONE]') {
      this.done = true;
      if (this.latest) this.final = true;
      return;
    }
    if (!mayCarryUsage(data)) return;
    const chunk = parseObject(data);
    if (!chunk) return;
    const usage = usageFromOpenAIUsageObject(chunk.usage);
    if (usage) this.latest = usage;
    this.lastWasUsageOnly = isUsageOnlyShape(chunk);
    if (usage && this.lastWasUsageOnly) this.final = true;
  }

  /**
   * True for the chunk that carries nothing but usage: a non-null `usage` object, `choices` empty or absent, and no `error`.
   * A chunk with choices and usage is not usage-only. Answered from onEvent's work when called with the same event.
   */
  isUsageOnlyChunk(event: SseEvent): boolean {
    if (event === this.lastEvent) return this.lastWasUsageOnly;
    if (!mayCarryUsage(event.data)) return false;
    const chunk = parseObject(event.data);
    return chunk !== null && isUsageOnlyShape(chunk);
  }

  get usage(): Usage | null {
    return this.latest;
  }

  /**
   * The stream's terminator was seen: `data: [DONE]`, or the usage-only chunk, which only `[DONE]` follows (some
   * compatible servers leave `[DONE]` out after it).
   */
  get terminated(): boolean {
    return this.done || this.final;
  }

  /**
   * Whether the usage is final: the usage-only chunk came, or `[DONE]` followed a chunk with usage (providers that
   * report it on content chunks). Before that, a report may be partial (cumulative so far) or missing.
   */
  get finalUsage(): boolean {
    return this.final;
  }
}

const USAGE = jsonKey('usage');

/** Cheap proof that a chunk carries no usage: no `"usage"` key, or every one is `"usage":null`. */
export function mayCarryUsage(data: string): boolean {
  for (let at = nextKeyValue(data, USAGE, 0); at !== -1; at = nextKeyValue(data, USAGE, at)) {
    if (!data.startsWith('null', at)) return true;
  }
  return false;
}

function parseObject(data: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(data);
    return isRecord(value) ? value : null;
  } catch {
    return null;
  }
}

function isUsageOnlyShape(chunk: Record<string, unknown>): boolean {
  if (!isRecord(chunk.usage) || chunk.error !== undefined) return false;
  const choices = chunk.choices;
  return choices === undefined || (Array.isArray(choices) && choices.length === 0);
}
