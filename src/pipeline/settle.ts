// 7 price, 8 record, 9 settle: what a call consumed, priced, written to history, then its reservation settled, once.
import { historyUsage, jsonOnOneLine, type HistoryOutcome, type HistoryRouting } from '../history/entry.ts';
import { microsToUsd } from '../pricing/money.ts';
import { jsonDeeperThan } from '../protocol/json-depth.ts';
import type { Usage } from '../protocol/usage.ts';
import type { PriceQuote } from '../pricing/pricer.ts';
import type { RelayResult } from '../stream/tap.ts';
import type { AdmittedCall } from './context.ts';
import type { PipelineDeps } from './deps.ts';
import { chargeableUsage } from './chargeable-usage.ts';
import type { PolicyRouting } from '../upstream/policy-routes.ts';
import { attemptSummary } from './attempts.ts';

export interface SettleInput {
  readonly call: AdmittedCall;
  readonly deps: PipelineDeps;
  /** How its answer ended; null when it failed before the upstream worked on it (nothing to charge: released). */
  readonly relay: RelayResult | null;
  /** The upstream was working on the call (a 2xx answer, or cut after it had the request: see dispatch.ts). */
  readonly upstreamWorked: boolean;
}

/**
 * The one place a call's reservation ends. Prices the call's usage (kept on the call), writes the history entry of a
 * charged call, then settles its reservation to it (or releases it), exactly once: a second call for the same call is
 * a no-op. Resolves once both lines are written: the relay ends the answer only after this (the relay's beforeEnd).
 * History goes first: a crash between the two leaves a history line the journal lacks, which start-up reconciliation
 * charges (ledger/reconcile.ts); the other order would leave a charge no history line explains.
 */
export async function settleCall(input: SettleInput): Promise<void> {
  const { call, deps, relay } = input;
  const ticket = call.admission.ticket;
  if (ticket?.done) return;
  const usage = relay ? chargedUsage({ call, deps, relay, upstreamWorked: input.upstreamWorked }) : null;
  // a 2xx that completed always has a usage here (what the provider left out is estimated)
  if (usage && relay) await recordHistory({ call, deps, relay, usage, price: call.price ?? null });
  if (!ticket) return;
  if (usage) await ticket.settle({ usage, costMicros: call.price?.costMicros ?? null });
  else await ticket.release();
}

/** The usage a relayed call is charged and its price, put on the call (its outcome event reports them). */
function chargedUsage(input: SettleInput & { relay: RelayResult }): Usage | null {
  const { call, deps, relay } = input;
  const status = call.statusCode ?? 0;
  const ok = status >= 200 && status < 300;
  const usage = chargeableUsage({ body: call.body, protocol: call.protocol, ok, relay, upstreamWorked: input.upstreamWorked, upstreamBody: call.upstreamBody });
  call.usage = usage;
  if (usage) {
    const price = deps.pricer.price({ provider: call.route.provider.name, model: call.route.upstreamModel, usage });
    if (price) call.price = price;
  }
  return usage;
}

function recordHistory(input: { call: AdmittedCall; deps: PipelineDeps; relay: RelayResult; usage: Usage; price: PriceQuote | null }): Promise<void> {
  const { call, relay } = input;
  const { route } = call;
  return input.deps.history.record({
    requestId: call.id,
    upstreamRequestId: call.upstreamRequestId,
    startedAt: call.startedAt,
    latencyMs: Date.now() - call.startedAt,
    agentId: call.agent.id,
    path: call.path,
    requestedModel: typeof call.body.model === 'string' ? call.body.model : route.requestedModel,
    effectiveProvider: route.provider.name,
    effectiveModel: route.upstreamModel,
    statusCode: call.statusCode ?? 0,
    stream: call.stream,
    // the texts as they crossed the wire, not the parsed objects serialised again
    requestOriginalJson: jsonOnOneLine(call.bodyText),
    requestEffectiveJson: call.upstreamBodyText,
    response: relay.sse
      ? { format: 'sse', text: relay.bodyText }
      : { format: 'json', jsonText: recordedJson(relay.json, relay.bodyText, input.deps.config.maxJsonDepth) },
    usage: historyUsage(input.usage, input.price),
    interventions: call.interventions,
    outcome: historyOutcome(call, relay),
    responseTruncated: relay.truncated,
    routing: call.routing ? historyRouting(call, call.routing) : undefined,
  });
}

/** Under a model policy: what was asked for, what answered, and the attempts so far with this one last. */
function historyRouting(call: AdmittedCall, routing: PolicyRouting): HistoryRouting {
  const { route } = call;
  const attempts = [...(call.attempts ?? []), attemptSummary(call, call.statusCode ?? 0)];
  return {
    requested_model: routing.requestedModel,
    effective_model: `${route.provider.name}/${route.upstreamModel}`,
    resolution: routing.resolution.reason,
    attempts: attempts.map((attempt) => ({
      provider: attempt.provider,
      model: attempt.model,
      status_code: attempt.status_code,
      latency_ms: attempt.latency_ms,
      charged_usd: attempt.charged_micros === null ? null : microsToUsd(attempt.charged_micros),
    })),
  };
}

/**
 * A JSON answer as its history text: the text itself, or (not JSON, or nested deeper than a request may be: a hostile
 * upstream's) that text as a JSON string, so every history line stays readable.
 */
function recordedJson(json: unknown, bodyText: string, maxDepth: number): string {
  return json === undefined || jsonDeeperThan(bodyText, maxDepth) ? JSON.stringify(bodyText) : jsonOnOneLine(bodyText);
}

function historyOutcome(call: AdmittedCall, relay: RelayResult): HistoryOutcome {
  if (relay.end === 'client_aborted' || relay.end === 'incomplete') return relay.end;
  if (relay.end !== 'complete') return 'upstream_cut';
  return (call.statusCode ?? 0) >= 400 ? 'upstream_error' : 'complete';
}
