// Collects usage from an Anthropic Messages SSE stream: message_start gives input and cache tokens, message_delta cumulative output.
import type { SseEvent } from '../../stream/sse-parser.ts';
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

  onEvent(event: SseEvent): void {
    const name = event.event;
    if (name === 'message_stop') {
      this.stopped = true;
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
    else if (type === 'message_delta') this.merge(usageFromAnthropicUsageObject(payload.usage));
    else if (type === 'message_stop') this.stopped = true;
  }

  get usage(): Usage | null {
    return this.current;
  }

  /** Whether the message_stop event was seen (the stream completed). */
  get sawMessageStop(): boolean {
    return this.stopped;
  }

  private merge(report: Usage | null): void {
    if (!report) return;
    const before = this.current ?? {};
    this.current = {
      ...pickMax('inputTokens', before, report),
      ...pickMax('outputTokens', before, report),
      ...pickMax('cacheReadTokens', before, report),
      ...pickMax('cacheWriteTokens', before, report),
      ...(report.reportedCostUsd !== undefined ? { reportedCostUsd: report.reportedCostUsd }
        : before.reportedCostUsd !== undefined ? { reportedCostUsd: before.reportedCostUsd } : {}),
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
