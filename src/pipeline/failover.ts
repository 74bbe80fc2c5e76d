// 3-9 under a model policy: the candidates tried in order, each admitted against every limit before it is sent.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ProxyError } from '../errors.ts';
import { toProxyError } from '../transport/render-error.ts';
import type { PolicyRouting } from '../upstream/policy-routes.ts';
import type { Route } from '../upstream/provider.ts';
import { admitCall } from './admit.ts';
import type { AdmittedCall, AttemptSummary, CallProgress, CallRequest } from './context.ts';
import type { PipelineDeps } from './deps.ts';
import { dispatchAndRelay, UpstreamStatusFailure } from './dispatch.ts';
import { planCandidates } from './candidates.ts';
import { settleCall } from './settle.ts';
import { attemptSummary } from './attempts.ts';

interface Failure {
  readonly route: Route;
  readonly reason: string;
  readonly error: ProxyError;
  /** The failed attempt (what it was charged goes on the failover event). */
  readonly call: AdmittedCall;
}

/** What the candidate loop has learnt so far. */
interface LoopState {
  readonly attempts: AttemptSummary[];
  failure: Failure | null;
  /** The first budget refusal of a candidate skipped after a failure. */
  refusal: ProxyError | null;
  /** The earliest end of a cool-off among the candidates skipped for an open circuit. */
  soonest: number | null;
}

interface CallInput {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly request: CallRequest;
  readonly progress: CallProgress;
  readonly deps: PipelineDeps;
}

/**
 * Routes the call (under its model policy, when it has one), then tries each candidate: circuit, budget, send. An
 * attempt that fails before any byte reached the client (5xx, transport error, timeout or stream failure before the
 * first byte) is settled to what it consumed, and the next candidate is admitted at its own price before it is sent;
 * one that does not fit is skipped. Never on a 4xx, never once the answer started.
 */
export async function dispatchCandidates(input: CallInput): Promise<void> {
  const { req, res, request, progress, deps } = input;
  const plan = planCandidates({ request, deps });
  if (!plan.policy) {
    const call = await admitCall({ request, progress, deps, route: plan.candidates[0], candidate: 0 });
    await dispatchAndRelay({ req, res, call, deps });
    return;
  }
  reportResolution({ request, plan: plan.policy, deps });
  const state: LoopState = { attempts: [], failure: null, refusal: null, soonest: null };
  for (let index = 0; index < plan.candidates.length; index++) {
    if (await tryCandidate({ ...input, policy: plan.policy, index, state })) return;
  }
  if (state.refusal) throw state.refusal; // every candidate left after a failure was over budget: the first one's refusal
  if (state.failure) throw state.failure.error;
  const until = state.soonest ?? Date.now();
  throw new ProxyError('circuit_open', {
    message: `every candidate of this agent's model policy is cooling off after repeated failures (circuit open) until ${new Date(until).toISOString()}`,
    headers: { 'retry-after': String(Math.max(1, Math.ceil((until - Date.now()) / 1000))) },
  });
}

/** One candidate: skipped (circuit open, over budget after a failure), answered (true), or failed over (false). */
async function tryCandidate(input: CallInput & { policy: PolicyRouting; index: number; state: LoopState }): Promise<boolean> {
  const { res, request, deps, policy, index, state } = input;
  const route = policy.candidates[index];
  const circuit = await deps.circuits.check(route.provider.name, route.upstreamModel);
  if (circuit.kind === 'open') {
    state.soonest = Math.min(state.soonest ?? circuit.until, circuit.until);
    intervene({ request, deps, name: 'circuit_open', route, extra: { circuit_until: new Date(circuit.until).toISOString() } });
    return false;
  }
  const probe = circuit.kind === 'probe';
  const call = await admitCandidate({ ...input, route, probe });
  if (!call) return false;
  const more = index < policy.candidates.length - 1;
  try {
    await dispatchAndRelay({ req: input.req, res, call, deps, failoverOnStatus: more });
    state.attempts.push(attemptSummary(call, call.statusCode ?? 0));
    const outcome = { provider: route.provider.name, model: route.upstreamModel, requestId: call.id };
    // the last candidate's 5xx is relayed, and still a failure of that candidate
    void ((call.statusCode ?? 0) >= 500 ? deps.circuits.failed({ ...outcome, probe }) : deps.circuits.succeeded(outcome));
    return true;
  } catch (error) {
    const reason = failoverReason({ error, res, call });
    await settleCall({ call, deps, relay: null, upstreamWorked: false }); // released unless dispatch charged it
    state.attempts.push(attemptSummary(call, error instanceof UpstreamStatusFailure ? error.status : 0));
    if (reason === null) {
      if (probe) await deps.circuits.release(route.provider.name, route.upstreamModel);
      throw error;
    }
    if (POOL_REASONS.has(reason)) {
      // its keys, not the model, failed: no circuit failure; a probe claimed goes back
      if (probe) await deps.circuits.release(route.provider.name, route.upstreamModel);
    } else {
      void deps.circuits.failed({ provider: route.provider.name, model: route.upstreamModel, probe, requestId: call.id });
      intervene({ request, deps, name: `provider_candidate_fallback:${reason}`, route });
    }
    const proxyError = error instanceof UpstreamStatusFailure ? error.asProxyError() : toProxyError(error);
    state.failure = { route, reason, error: proxyError, call };
    if (!more) throw proxyError;
    return false;
  }
}

/**
 * Admits the candidate at its own price. Before any failure a refusal is the call's answer, as without a policy; after
 * one, a candidate over budget is skipped (null) and never sent.
 */
async function admitCandidate(
  input: CallInput & { policy: PolicyRouting; index: number; state: LoopState; route: Route; probe: boolean },
): Promise<AdmittedCall | null> {
  const { request, progress, deps, route, state } = input;
  let call: AdmittedCall;
  try {
    call = await admitCall({ request, progress, deps, route, candidate: input.index, routing: input.policy, attempts: state.attempts });
  } catch (error) {
    if (input.probe) await deps.circuits.release(route.provider.name, route.upstreamModel);
    if (!state.failure || !isBudgetRefusal(error)) throw error;
    state.refusal ??= error;
    intervene({ request, deps, name: 'failover_over_budget', route, extra: { reason: error.code } });
    return null;
  }
  if (state.failure) {
    switched({ request, deps, failure: state.failure, to: route, slotIndex: input.index });
    call.interventions.push(`provider_candidate_fallback:${state.failure.reason}`, 'provider_exhausted_failover');
  }
  return call;
}

/**
 * cllama's reason for a failure that moves to the next candidate, or null for one that does not: a 4xx answer (passed
 * through), a client that left, anything once bytes reached the client, or a refusal of tollgate's own.
 */
export function failoverReason(input: { error: unknown; res: ServerResponse; call: AdmittedCall }): string | null {
  const { error, res, call } = input;
  if (error instanceof UpstreamStatusFailure) return `http_${error.status}`;
  if (res.headersSent || res.destroyed || !(error instanceof ProxyError)) return null;
  // the candidate's key pool gave up (pipeline/key-attempts.ts): cllama moves on, without a candidate-fallback intervention
  if (error.code === 'provider_keys_cooling') return 'provider_cooldown';
  if (error.code === 'provider_keys_unusable') return 'provider_keys_exhausted';
  if (error.code === 'upstream_timeout') return call.stream ? 'stream_first_byte_timeout' : 'transport_error';
  // a Responses reply the adapter could not take as a success (read whole, so nothing reached the client)
  if (error.code === 'responses_adapter_failed') return 'responses_adapter_error';
  if (error.code !== 'upstream_unreachable' || error.message === 'client closed the connection') return null;
  return error.message === 'upstream stream failed before sending data' ? 'stream_read_error' : 'transport_error';
}

/** cllama's key-pool reasons: a failover without a `provider_candidate_fallback:*` intervention. */
const POOL_REASONS: ReadonlySet<string> = new Set(['provider_cooldown', 'provider_keys_exhausted']);

function isBudgetRefusal(error: unknown): error is ProxyError {
  return (
    error instanceof ProxyError &&
    (error.code === 'budget_exceeded' || error.code === 'rate_limited' || error.code === 'unknown_cost_blocked' || error.code === 'budget_unavailable')
  );
}

/** cllama's `failover` event then `provider_exhausted_failover`, in that order. */
function switched(input: { request: CallRequest; deps: PipelineDeps; failure: Failure; to: Route; slotIndex: number }): void {
  const { request, deps, failure, to } = input;
  const requested = requestedModel(request);
  const event = {
    type: 'failover' as const,
    claw_id: request.agent.id,
    model: requested,
    intervention: null,
    request_id: request.id,
    latency_ms: Date.now() - request.startedAt,
    reason: failure.reason || 'unknown',
    from_provider: failure.route.provider.name,
    to_provider: to.provider.name,
    from_model: failure.route.upstreamModel,
    to_model: to.upstreamModel,
    slot_index: input.slotIndex,
    charged_micros: failure.call.price?.costMicros ?? 0,
  };
  deps.bus.emit(event);
  intervene({ request, deps, name: 'provider_exhausted_failover', route: to });
}

/** The resolution's intervention (cllama's names), and `policy_failover_unreachable`. */
function reportResolution(input: { request: CallRequest; plan: PolicyRouting; deps: PipelineDeps }): void {
  const { request, plan, deps } = input;
  const first = plan.candidates[0];
  if (plan.resolution.reason)
    intervene({ request, deps, name: plan.resolution.reason, route: first, extra: { from_model: plan.requestedModel, to_model: plan.resolution.chosenRef } });
  if (plan.failoverUnreachable) intervene({ request, deps, name: 'policy_failover_unreachable', route: first });
}

function intervene(input: { request: CallRequest; deps: PipelineDeps; name: string; route: Route; extra?: Record<string, unknown> }): void {
  const { request, route } = input;
  input.deps.bus.emit({
    type: 'intervention',
    claw_id: request.agent.id,
    model: requestedModel(request),
    intervention: input.name,
    request_id: request.id,
    provider: route.provider.name,
    upstream_model: route.upstreamModel,
    ...input.extra,
  });
}

/** The model string the agent sent (cllama's `model` on these events), or null when it sent none. */
function requestedModel(request: CallRequest): string | null {
  const model = request.body.model;
  return typeof model === 'string' ? model : null;
}
