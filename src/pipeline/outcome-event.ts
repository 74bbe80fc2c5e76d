// 10 observe: the one event that tells how a call ended (`response`, or `error`), with what it was charged.
import type { ProxyError } from '../errors.ts';
import type { ChargeFields, ErrorEvent, ResponseEvent } from '../observability/events.ts';
import { microsToUsd } from '../pricing/money.ts';
import type { RelayResult } from '../stream/tap.ts';
import type { AdmittedCall, CallProgress } from './context.ts';

/**
 * A relayed call's outcome: `response` when its answer completed, `error` when it was cut short. A call that failed
 * before or instead of its answer (`error`) names what was known of it; one cut after the upstream had its request
 * also carries what it was charged.
 */
export function outcomeEvent(input: { call: AdmittedCall; relay: RelayResult } | { progress: CallProgress; error: ProxyError }): ResponseEvent | ErrorEvent {
  return 'relay' in input ? relayedEvent(input.call, input.relay) : failedEvent(input.progress, input.error);
}

function failedEvent(progress: CallProgress, error: ProxyError): ErrorEvent {
  const model = progress.request?.body.model;
  const event: ErrorEvent = {
    type: 'error',
    claw_id: progress.agent?.id ?? null,
    model: typeof model === 'string' ? model : null,
    intervention: null,
    request_id: progress.start.id,
    path: progress.start.path,
    status_code: error.status,
    latency_ms: Date.now() - progress.start.startedAt,
    error: error.message,
    code: error.code,
  };
  const call = progress.call;
  if (call?.usage) {
    event.provider = call.route.provider.name;
    event.upstream_model = call.route.upstreamModel;
    addChargeFields(event, call);
  }
  return event;
}

function relayedEvent(call: AdmittedCall, relay: RelayResult): ResponseEvent | ErrorEvent {
  const { route } = call;
  // one object filled in order (the audit line keeps this key order; its head fields, `type` among them, come first
  // whatever their place here), not a literal of conditional spreads
  const fields: Omit<ResponseEvent, 'type'> = {
    claw_id: call.agent.id,
    model: route.requestedModel,
    intervention: null,
    request_id: call.id,
    path: call.path,
    provider: route.provider.name,
    upstream_model: route.upstreamModel,
    status_code: call.statusCode ?? 0,
    latency_ms: Date.now() - call.startedAt,
    stream: call.stream,
  };
  if (call.upstreamRequestId !== undefined) fields.upstream_request_id = call.upstreamRequestId;
  const event: ResponseEvent | ErrorEvent =
    relay.end === 'complete'
      ? Object.assign(fields, { type: 'response' as const })
      : Object.assign(fields, {
          type: 'error' as const,
          error: relay.end === 'incomplete' ? 'stream ended without its terminator' : `stream ended early: ${relay.end}`,
          outcome: relay.end,
        });
  if (call.usage) addChargeFields(event, call);
  return event;
}

/** The charged usage and cost of the call on its outcome event (metrics and cost totals count them from there). */
function addChargeFields(event: ChargeFields, call: AdmittedCall): void {
  const { usage, price } = call;
  if (!usage) return;
  if (usage.inputTokens !== undefined) event.tokens_in = usage.inputTokens;
  if (usage.outputTokens !== undefined) event.tokens_out = usage.outputTokens;
  if (usage.cacheReadTokens !== undefined) event.cached_tokens = usage.cacheReadTokens;
  if (usage.cacheWriteTokens !== undefined) event.cache_write_tokens = usage.cacheWriteTokens;
  if (usage.reasoningTokens !== undefined) event.reasoning_tokens = usage.reasoningTokens;
  if (usage.estimated) event.usage_estimated = true;
  if (price?.costMicros != null) {
    event.cost_usd = microsToUsd(price.costMicros);
    event.cost_micros = price.costMicros;
    event.cost_source = price.source;
  } else {
    event.pricing_status = 'unpriced';
  }
}
