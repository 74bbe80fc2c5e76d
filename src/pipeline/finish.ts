// Before the answer ends (or after a cut before it): price, record history, settle or release exactly once; then emit the outcome.
import { historyUsage, jsonOnOneLine, type HistoryOutcome } from '../history/entry.ts';
import { jsonDeeperThan } from '../protocol/json-depth.ts';
import type { Usage } from '../protocol/usage.ts';
import type { PriceQuote } from '../pricing/pricer.ts';
import { microsToUsd } from '../pricing/money.ts';
import type { ChargeFields, ErrorEvent, ResponseEvent } from '../observability/events.ts';
import type { RelayResult } from '../stream/tap.ts';
import type { RequestContext } from './context.ts';
import type { PipelineDeps } from './deps.ts';
import { chargeableUsage } from './chargeable-usage.ts';

export interface FinishInput {
  readonly ctx: RequestContext;
  readonly deps: PipelineDeps;
  readonly relay: RelayResult;
  /** The upstream was working on the call (a 2xx answer, or cut after it had the request: see dispatch.ts). */
  readonly upstreamWorked: boolean;
}

/** A relayed call, charged (chargeCall ran before its answer ended): emit its `response` (or, cut short, `error`) event. */
export function finishCall(input: { readonly ctx: RequestContext; readonly deps: PipelineDeps; readonly relay: RelayResult }): void {
  const { ctx, deps, relay } = input;
  const route = ctx.route!;
  const usage = ctx.usage;
  const latency = Date.now() - ctx.startedAt;
  // one object filled in order (the audit line keeps this key order; its head fields, `type` among them, come first
  // whatever their place here), not a literal of conditional spreads
  const fields: Omit<ResponseEvent, 'type'> = {
    claw_id: ctx.agent!.id,
    model: route.requestedModel,
    intervention: null,
    request_id: ctx.id,
    path: ctx.path,
    provider: route.provider.name,
    upstream_model: route.upstreamModel,
    status_code: ctx.statusCode ?? 0,
    latency_ms: latency,
    stream: ctx.stream,
  };
  if (ctx.upstreamRequestId !== undefined) fields.upstream_request_id = ctx.upstreamRequestId;
  const event: ResponseEvent | ErrorEvent =
    relay.end === 'complete'
      ? Object.assign(fields, { type: 'response' as const })
      : Object.assign(fields, { type: 'error' as const, error: relay.end === 'incomplete' ? 'stream ended without its terminator' : `stream ended early: ${relay.end}`, outcome: relay.end });
  if (usage) addChargeFields(event, ctx);
  deps.bus.emit(event);
}

/**
 * Prices the call's usage (kept on ctx), writes the history entry of a charged call, then settles its reservation to
 * it (or releases it), exactly once, and waits until both lines are written: the relay ends the answer only after this
 * resolves. History goes first: a crash between the two leaves a history line the journal lacks, which start-up
 * reconciliation charges (ledger/reconcile.ts); the other order would leave a charge no history line explains. Also
 * what a call cut before any answer goes through (dispatch.ts).
 */
export async function chargeCall(input: FinishInput): Promise<void> {
  const { ctx, deps, relay } = input;
  const route = ctx.route!;
  const status = ctx.statusCode ?? 0;
  const ok = status >= 200 && status < 300;
  const usage = chargeableUsage({ body: ctx.body!, dialect: ctx.dialect, ok, relay, upstreamWorked: input.upstreamWorked, upstreamBody: ctx.upstreamBody });
  const price: PriceQuote | null = usage ? deps.pricer.price({ provider: route.provider.name, model: route.upstreamModel, usage }) : null;
  ctx.usage = usage;
  if (price) ctx.price = price;
  // a 2xx that completed always has a usage here (what the provider left out is estimated)
  const charged = usage !== null;
  if (charged) await recordHistory({ ctx, deps, relay, usage, price });
  const ticket = ctx.admission?.ticket;
  if (ticket) {
    if (charged) await ticket.settle({ usage, costMicros: price?.costMicros ?? null });
    else await ticket.release();
  }
}

/** The charged usage and cost of the call on its outcome event (metrics and cost totals count them from there). */
export function addChargeFields(event: ChargeFields, ctx: RequestContext): void {
  const { usage, price } = ctx;
  if (!usage) return;
  if (usage.inputTokens !== undefined) event.tokens_in = usage.inputTokens;
  if (usage.outputTokens !== undefined) event.tokens_out = usage.outputTokens;
  if (usage.cacheReadTokens !== undefined) event.cached_tokens = usage.cacheReadTokens;
  if (usage.cacheWriteTokens !== undefined) event.cache_write_tokens = usage.cacheWriteTokens;
  if (usage.estimated) event.usage_estimated = true;
  if (price?.costMicros != null) {
    event.cost_usd = microsToUsd(price.costMicros);
    event.cost_micros = price.costMicros;
    event.cost_source = price.source;
  } else {
    event.pricing_status = 'unpriced';
  }
}

function recordHistory(input: { ctx: RequestContext; deps: PipelineDeps; relay: RelayResult; usage: Usage | null; price: PriceQuote | null }): Promise<void> {
  const { ctx, relay, price } = input;
  const route = ctx.route!;
  return input.deps.history.record({
    requestId: ctx.id,
    upstreamRequestId: ctx.upstreamRequestId,
    startedAt: ctx.startedAt,
    latencyMs: Date.now() - ctx.startedAt,
    agentId: ctx.agent!.id,
    path: ctx.path,
    requestedModel: typeof ctx.body?.model === 'string' ? ctx.body.model : route.requestedModel,
    effectiveProvider: route.provider.name,
    effectiveModel: route.upstreamModel,
    statusCode: ctx.statusCode ?? 0,
    stream: ctx.stream,
    // the texts as they crossed the wire, not the parsed objects serialised again
    requestOriginalJson: ctx.bodyText === undefined ? undefined : jsonOnOneLine(ctx.bodyText),
    requestEffectiveJson: ctx.upstreamBodyText,
    response: relay.sse
      ? { format: 'sse', text: relay.bodyText }
      : { format: 'json', jsonText: recordedJson(relay.json, relay.bodyText, input.deps.config.maxJsonDepth) },
    usage: historyUsage(input.usage, price),
    interventions: ctx.interventions,
    outcome: historyOutcome(ctx, relay),
    responseTruncated: relay.truncated,
  });
}

/**
 * A JSON answer as its history text: the text itself, or (not JSON, or nested deeper than a request may be: a hostile
 * upstream's) that text as a JSON string, so every history line stays readable.
 */
function recordedJson(json: unknown, bodyText: string, maxDepth: number): string {
  return json === undefined || jsonDeeperThan(bodyText, maxDepth) ? JSON.stringify(bodyText) : jsonOnOneLine(bodyText);
}

function historyOutcome(ctx: RequestContext, relay: RelayResult): HistoryOutcome {
  if (relay.end === 'client_aborted' || relay.end === 'incomplete') return relay.end;
  if (relay.end !== 'complete') return 'upstream_cut';
  return (ctx.statusCode ?? 0) >= 400 ? 'upstream_error' : 'complete';
}

