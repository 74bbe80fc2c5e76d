// Collects usage from an Anthropic Messages SSE stream: message_start gives input and cache tokens, message_delta the final output.
import type { SseEvent } from '../sse-parser.ts';
import type { Usage } from '../usage.ts';
import { isRecord } from '../usage-fields.ts';
import { usageFromAnthropicUsageObject } from './usage.ts';

/** Events that never carry usage: skipped by name without looking at their data. */
const USAGE_FREE_EVENTS = new Set(['content_block_start', 'content_block_delta', 'content_block_stop', 'ping', 'error']);

/**
 * Feed every event of one stream to onEvent(). Counts are cumulative, so for each field the largest report wins:
 * for a well-behaved stream that is the latest one, and it keeps a provider's `input_tokens: 0` on message_delta
 * (seen from Anthropic-compatible servers) from erasing the real count sent on message_start.
 * Only message_start and message_delta are JSON-parsed (events without a name: only when their data mentions usage or message_stop).
 */
export class AnthropicStreamUsage {
  private current: Usage | null = null;
  private stopped = false;
  private final = false;
  /** A message_delta reported output tokens. */
  private deltaOutput = false;

  onEvent(event: SseEvent): void {
    const name = event.event;
    if (name === 'message_stop') {
      this.stop();
      return;
    }
    if (name !== undefined && USAGE_FREE_EVENTS.has(name)) return;
    const data = event.data;
    if (data.length === 0 || (!data.includes('"usage"') && !data.includes('"message_stop"'))) return;
    let payload: unknown;
    try {
      payload = JSON.parse(data);
    } catch {
      return;
    }
    if (!isRecord(payload)) return;
    const type = typeof payload.type === 'string' ? payload.type : name;
    if (type === 'message_start') this.merge(isRecord(payload.message) ? usageFromAnthropicUsageObject(payload.message.usage) : null);
    else if (type === 'message_delta') {
      const report = usageFromAnthropicUsageObject(payload.usage);
      this.merge(report);
      if (report?.outputTokens !== undefined) this.deltaOutput = true;
      // the last message_delta carries the stop reason (Anthropic sends one; a compatible server may send several)
      if (isRecord(payload.delta) && typeof payload.delta.stop_reason === 'string') this.markFinal();
    } else if (type === 'message_stop') this.stop();
  }

  get usage(): Usage | null {
    return this.current;
  }

  /** The stream's terminator was seen (`message_stop`). */
  get terminated(): boolean {
    return this.stopped;
  }

  /** Anthropic streams have no usage-only chunk to strip. */
  isUsageOnlyChunk(): boolean {
    return false;
  }

  /**
   * Whether the output count is final: a message_delta reported it, and it was the last (it carried the stop reason, or
   * message_stop came). message_start's `output_tokens` (1) is a placeholder, so a stream cut before its message_delta
   * has no final output count, however much text it relayed.
   */
  get finalUsage(): boolean {
    return this.final;
  }

  private stop(): void {
    this.stopped = true;
    this.markFinal();
  }

  /** A count is final only once output was reported past message_start's placeholder, by a message_delta. */
  private markFinal(): void {
    if (this.deltaOutput) this.final = true;
  }

  private merge(report: Usage | null): void {
    if (!report) return;
    const before = this.current ?? {};
    this.current = {
      ...pickMax('inputTokens', before, report),
      ...pickMax('outputTokens', before, report),
      ...pickMax('cacheReadTokens', before, report),
      ...pickMax('cacheWriteTokens', before, report),
      ...(report.reportedCostUsd !== undefined
        ? { reportedCostUsd: report.reportedCostUsd }
        : before.reportedCostUsd !== undefined
          ? { reportedCostUsd: before.reportedCostUsd }
          : {}),
    };
  }
}

type Counter = 'inputTokens' | 'outputTokens' | 'cacheReadTokens' | 'cacheWriteTokens';

function pickMax(field: Counter, before: Usage, report: Usage): Partial<Usage> {
  const a = before[field];
  const b = report[field];
  if (a === undefined) return b === undefined ? {} : { [field]: b };
  return { [field]: b === undefined ? a : Math.max(a, b) };
}
