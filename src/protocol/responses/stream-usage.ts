// Collects usage from a Responses API SSE stream: the final count rides on its terminal event (response.completed…).
import type { SseEvent } from '../sse-parser.ts';
import type { StreamUsageReader } from '../protocol.ts';
import type { Usage } from '../usage.ts';
import { isRecord } from '../usage-fields.ts';
import { usageFromResponsesJson } from './usage.ts';

/** The events that end a response; each carries the whole response object, its usage the final count. */
const TERMINAL = new Set(['response.completed', 'response.incomplete', 'response.failed']);

/**
 * Feed every event of one stream to onEvent(). Only a terminal event is JSON-parsed (by its `event:` name, or for an
 * unnamed event by its data's `"type"`): `response.created` and `response.in_progress` carry `usage: null`, and the
 * deltas none. The usage is final once a terminal event reported it: `response.completed`, or `response.incomplete`
 * (stopped at max_output_tokens or by a content filter: what it generated is counted) and `response.failed` (what it
 * reports). A stream cut before its terminal event has no final usage: what it relayed is estimated
 * (pipeline/chargeable-usage.ts), as on the other routes.
 */
export class ResponsesStreamUsage implements StreamUsageReader {
  private latest: Usage | null = null;
  private ended = false;
  private final = false;

  onEvent(event: SseEvent): void {
    const name = event.event;
    if (name !== undefined && name !== 'message' && !TERMINAL.has(name)) return;
    const data = event.data;
    if (name === undefined || name === 'message') {
      if (!data.includes('"response.completed"') && !data.includes('"response.incomplete"') && !data.includes('"response.failed"')) return;
    }
    let payload: unknown;
    try {
      payload = JSON.parse(data);
    } catch {
      return;
    }
    if (!isRecord(payload) || typeof payload.type !== 'string' || !TERMINAL.has(payload.type)) return;
    this.ended = true;
    const usage = usageFromResponsesJson(payload);
    if (usage) {
      this.latest = usage;
      this.final = true;
    }
  }

  /** Responses streams have no usage-only chunk to strip. */
  isUsageOnlyChunk(): boolean {
    return false;
  }

  get usage(): Usage | null {
    return this.latest;
  }

  get terminated(): boolean {
    return this.ended;
  }

  get finalUsage(): boolean {
    return this.final;
  }
}
