// The budget engine: merges the agent's policy, estimates the request, reserves it in the ledger and decides.
import type { Agent } from '../auth/agent.ts';
import { ProxyError } from '../errors.ts';
import { LedgerOutcomeUnknownError, type Amounts, type Ledger, type LimitStanding, type ReserveOutcome } from '../ledger/ledger.ts';
import type { BudgetDecisionEvent, DecisionDetail, EventBus, InterventionDetail, LimitFields } from '../observability/events.ts';
import type { Pricer } from '../pricing/pricer.ts';
import type { Admission, AdmitRequest, BudgetEngine } from './admission.ts';
import { AlertTracker } from './alerts.ts';
import { blockCode, budgetBlockError, unknownCostError, windowSummary } from './budget-error.ts';
import { readSessionId } from './session-policy.ts';
import { LoopBreaker } from './loop-breaker.ts';
import { checkLoop, loopSettings } from './loop-guard.ts';
import { estimateAmounts, type PricedEstimate, unknownPriceRates } from './cost.ts';
import type { FallbackRates, UnknownCostMode } from './policy/fields.ts';
import { reservedOutputTokens, upstreamOutputCap } from './estimate.ts';
import { standingHeaders } from './headers.ts';
import { bareScopes, planRequest, type RequestPlan, type RequestTarget } from './plan.ts';
import type { EffectivePolicy, LimitSpec, PolicyResult } from './policy/policy.ts';
import { SettleBacklog } from './settle-backlog.ts';
import { ReservationTicket, type TicketHold } from './ticket.ts';
import { addLimitFields, limitFields, tightest } from './policy/limit-fields.ts';

export interface BudgetEngineOptions {
  readonly ledger: Ledger;
  readonly pricer: Pricer;
  /** The PolicyStore (only `effective` is used on the request path). */
  readonly policies: { effective(agent: Agent, now: number): PolicyResult };
  readonly bus: EventBus;
  /** CLLAMA_BUDGET_FAIL_MODE: what happens when the check cannot run (bad policy, ledger down). */
  readonly failMode: 'open' | 'closed';
  /** Output-token cap assumed when the client sets no max_tokens. */
  readonly defaultMaxOutputTokens: number;
  /** A reservation not settled within this time is dropped by the ledger (default 10 minutes). */
  readonly leaseMs?: number;
  /** Whether a `provider/model` routes on a request path (a downgrade that does not is not offered); default: any. */
  readonly routable?: (target: { readonly path: string; readonly model: string }) => boolean;
  /** Where settlements go that could not reach the shared ledger, to be applied when it is back (none: reported only). */
  readonly backlog?: SettleBacklog;
  /** The loop breaker (shared with the operator views, which show its state); default: one of the engine's own. */
  readonly loops?: LoopBreaker;
  readonly now?: () => number;
}

const DEFAULT_LEASE_MS = 10 * 60_000;
const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});

type Attempt =
  | { readonly kind: 'unknown_price_blocked'; readonly target: RequestTarget }
  | { readonly kind: 'refused'; readonly target: RequestTarget; readonly plan: RequestPlan; readonly outcome: Extract<ReserveOutcome, { admitted: false }> }
  | { readonly kind: 'admitted'; readonly target: RequestTarget; readonly plan: RequestPlan; readonly standings: readonly LimitStanding[]; readonly amounts: Amounts }
  | { readonly kind: 'unknown'; readonly target: RequestTarget; readonly plan: RequestPlan; readonly error: Error };
type Decided = Extract<Attempt, { kind: 'admitted' | 'unknown' }>;

/**
 * What becomes of a call whose check could not run: `ledger_works` (its policy is unusable, the ledger fine: its usage is
 * recorded on the agent's own scope), `keep` (the ledger did not answer: the call's id is resolved once it does, and in
 * open mode its usage is counted on `scopes` then), or nothing.
 */
type Fallback =
  | { readonly kind: 'ledger_works' }
  | { readonly kind: 'keep'; readonly hold: Exclude<TicketHold, 'held'>; readonly policy: EffectivePolicy; readonly scopes: readonly string[] }
  | null;

export function createBudgetEngine(options: BudgetEngineOptions): BudgetEngine {
  return new Engine(options);
}

class Engine implements BudgetEngine {
  readonly #options: BudgetEngineOptions;
  readonly #now: () => number;
  readonly #leaseMs: number;
  readonly #alerts: AlertTracker;
  readonly #loops: LoopBreaker;

  constructor(options: BudgetEngineOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
    this.#alerts = new AlertTracker({ bus: options.bus, ledger: options.ledger, now: this.#now });
    this.#loops = options.loops ?? new LoopBreaker({ now: this.#now });
  }

  async admit(request: AdmitRequest): Promise<Admission> {
    const now = this.#now();
    const policy = this.#options.policies.effective(request.agent, now);
    const looping = checkLoop({ breaker: this.#loops, bus: this.#options.bus, request, settings: loopSettings(policy) });
    if (looping) return { outcome: 'block', ticket: null, headers: NO_HEADERS, error: looping, downgradeTo: null };
    if (policy.kind === 'unavailable') return this.#unavailable({ request, reason: policy.reason, fallback: { kind: 'ledger_works' } });
    const session = policy.session ? readSessionId(request.headers, policy.session.header) : null;
    if (session !== null && typeof session === 'object') return { outcome: 'block', ticket: null, headers: NO_HEADERS, error: new ProxyError('invalid_session', { message: session.invalid }), downgradeTo: null };
    if (session !== null) request = { ...request, sessionId: session };
    try {
      return await this.#admitWithPolicy(request, policy, now);
    } catch (error) {
      if (isDefect(error)) return this.#refuseOnDefect(request, error);
      // unreachable or unanswered (nothing was held: a reserve without reply is an attempt of its own): in open mode the
      // call's usage is still kept for the ledger's return
      const keep = this.#options.backlog && SettleBacklog.keeps(error);
      const fallback: Fallback = keep ? { kind: 'keep', hold: 'none', policy, scopes: planRequest(policy, this.#requested(request), now, request.sessionId).scopes } : null;
      return this.#unavailable({ request, reason: `budget ledger error: ${(error as Error).message}`, fallback });
    }
  }

  #requested(request: AdmitRequest): RequestTarget {
    return { provider: request.provider, model: request.model, requestedModel: request.requestedModel };
  }

  /** The policy's downgrade target, when it differs from the request's and routes on the request's path. */
  #downgradeFor(request: AdmitRequest, policy: EffectivePolicy, target: RequestTarget): RequestTarget | null {
    const downgrade = downgradeTarget(policy, target);
    const routable = this.#options.routable;
    if (!downgrade || !routable || request.path === undefined) return downgrade;
    return routable({ path: request.path, model: downgrade.requestedModel }) ? downgrade : null;
  }

  /**
   * A check the ledger refused as malformed (TypeError, RangeError) is a defect, not an outage: it would fail the same
   * way for every call of the agent, so failing open would drop its budget for good, with log lines as the only sign.
   * It is refused (503) whatever CLLAMA_BUDGET_FAIL_MODE says; the fail mode is for a ledger that cannot be reached.
   */
  #refuseOnDefect(request: AdmitRequest, error: Error): Admission {
    const reason = `budget check failed on a defect, refused whatever the fail mode: ${error.name}: ${error.message}`;
    this.#options.bus.emit({ type: 'budget_decision', claw_id: request.agent.id, model: request.requestedModel, intervention: null, request_id: request.requestId, outcome: 'unavailable', fail_mode: 'closed', reason });
    return { outcome: 'unavailable', ticket: null, headers: NO_HEADERS, error: new ProxyError('budget_unavailable', { cause: reason }), downgradeTo: null };
  }

  async #admitWithPolicy(request: AdmitRequest, policy: EffectivePolicy, now: number): Promise<Admission> {
    const target = this.#requested(request);
    if (isUnlimited(policy)) return this.#unlimited(request, policy, target);
    const downgrade = this.#downgradeFor(request, policy, target);
    let triedDowngrade = false;
    if (downgrade && policy.downgradeAt !== null && (await this.#pastDowngradeThreshold(policy, target, request.sessionId))) {
      triedDowngrade = true;
      const attempt = await this.#tryReserve({ request, policy, target: downgrade });
      if (isDecided(attempt)) return this.#decided({ request, policy, attempt, downgraded: true });
    }
    const first = await this.#tryReserve({ request, policy, target });
    if (isDecided(first)) return this.#decided({ request, policy, attempt: first, downgraded: false });
    if (downgrade && !triedDowngrade) {
      const attempt = await this.#tryReserve({ request, policy, target: downgrade });
      if (isDecided(attempt)) return this.#decided({ request, policy, attempt, downgraded: true });
    }
    return this.#refused({ request, attempt: first, now });
  }

  /**
   * Admitted, or the reserve got no reply (Redis stalled, the connection lost mid-call): then it may hold, or may still
   * run. It is resolved by id, never left to its lease: refused (closed), it is released by id once the ledger answers
   * (a reserve running late finds the id ended and holds nothing); passed (open), its usage is settled, or recorded, once
   * by id when the call ends.
   */
  #decided(input: { request: AdmitRequest; policy: EffectivePolicy; attempt: Decided; downgraded: boolean }): Promise<Admission> {
    const { request, policy, attempt } = input;
    if (attempt.kind === 'admitted') return this.#admitted({ ...input, attempt });
    const fallback: Fallback = { kind: 'keep', hold: 'unknown', policy, scopes: attempt.plan.scopes };
    return this.#unavailable({ request, reason: `budget ledger error: ${attempt.error.message}`, fallback });
  }

  /** `downgrade_at`: settled spend of some USD limit that applies has reached that fraction of it. */
  async #pastDowngradeThreshold(policy: EffectivePolicy, target: RequestTarget, sessionId: string | null | undefined): Promise<boolean> {
    const plan = planRequest(policy, target, this.#now(), sessionId);
    if (plan.usd.length === 0) return false;
    const standings = await this.#options.ledger.standing(plan.usdChecks);
    return standings.some((standing) => standing.used >= policy.downgradeAt! * standing.limit);
  }

  /** The request's estimate (its input, the output it reserves) priced at the target's rates. */
  #estimate(input: { request: AdmitRequest; target: RequestTarget; unknownCost: UnknownCostMode; fallbackRates: FallbackRates | null }): PricedEstimate {
    const { request, target } = input;
    const outputTokens = reservedOutputTokens(request.estimate, this.#options.defaultMaxOutputTokens);
    return estimateAmounts({ pricer: this.#options.pricer, provider: target.provider, model: target.model, inputTokens: request.estimate.inputTokens, outputTokens, unknownCost: input.unknownCost, fallbackRates: input.fallbackRates });
  }

  async #tryReserve(input: { request: AdmitRequest; policy: EffectivePolicy; target: RequestTarget }): Promise<Attempt> {
    const { request, policy, target } = input;
    const priced = this.#estimate({ request, target, unknownCost: policy.unknownCost, fallbackRates: unknownPriceRates({ policy, pricer: this.#options.pricer, target }) });
    if (priced.blocked) return { kind: 'unknown_price_blocked', target };
    const plan = planRequest(policy, target, this.#now(), request.sessionId);
    let outcome: ReserveOutcome;
    try {
      outcome = await this.#options.ledger.reserve({ id: request.requestId, scopes: plan.scopes, amounts: priced.amounts, checks: plan.hardChecks, leaseMs: this.#leaseMs });
    } catch (error) {
      if (error instanceof LedgerOutcomeUnknownError) return { kind: 'unknown', target, plan, error };
      throw error;
    }
    if (!outcome.admitted) return { kind: 'refused', target, plan, outcome };
    return { kind: 'admitted', target, plan, standings: outcome.standings, amounts: priced.amounts };
  }

  async #admitted(input: { request: AdmitRequest; policy: EffectivePolicy; attempt: Extract<Attempt, { kind: 'admitted' }>; downgraded: boolean }): Promise<Admission> {
    const { request, policy, attempt, downgraded } = input;
    const { plan, target } = attempt;
    const softStandings = await this.#softStandings(request, plan);
    const softIndex = plan.soft.findIndex((spec, index) => softStandings[index] !== undefined && softStandings[index].used >= spec.limit);
    const effectiveModel = `${target.provider}/${target.model}`;
    const ticket = this.#ticket({
      request,
      hold: 'held',
      scopes: plan.scopes,
      target,
      policy,
      afterSettle: plan.alerting.length > 0 || policy.forecastAlert ? () => this.#checkAlerts({ agentId: request.agent.id, model: effectiveModel, plan, forecast: policy.forecastAlert }) : undefined,
    });
    if (downgraded) {
      this.#intervention(request, 'model_downgraded', { from_model: request.requestedModel, to_model: policy.downgradeTo, downgrade_at: policy.downgradeAt });
    }
    const standings = softStandings.length > 0 ? attempt.standings.concat(softStandings) : attempt.standings;
    if (softIndex >= 0) {
      const spec = plan.soft[softIndex];
      this.#intervention(request, blockCode(spec), { behavior: 'soft_alert', ...limitFields(spec, softStandings[softIndex]) });
    }
    const deciding = softIndex >= 0 ? { spec: plan.soft[softIndex], standing: softStandings[softIndex] } : tightest(plan.soft.length > 0 ? plan.hard.concat(plan.soft) : plan.hard, standings);
    const extra: DecisionDetail = { estimate_usd_micros: attempt.amounts.usd_micros ?? 0 };
    if (downgraded) extra.downgraded_to = policy.downgradeTo;
    this.#decision({ request, outcome: softIndex >= 0 ? 'soft' : 'allow', deciding, extra });
    return {
      outcome: softIndex >= 0 ? 'soft' : 'allow',
      ticket,
      headers: standings.length > 0 ? standingHeaders(standings) : NO_HEADERS,
      error: null,
      downgradeTo: downgraded ? policy.downgradeTo : null,
      outputCap: upstreamOutputCap({ estimate: request.estimate, policy, defaultCap: this.#options.defaultMaxOutputTokens }),
    };
  }

  /**
   * No policy at all: nothing can refuse the call, so nothing is held for it (no estimate, no reservation, no
   * journal line for one); the ticket records what the call consumed on its scopes when it settles.
   */
  #unlimited(request: AdmitRequest, policy: EffectivePolicy, target: RequestTarget): Admission {
    return { outcome: 'allow', ticket: this.#recordingTicket({ request, policy, target }), headers: NO_HEADERS, error: null, downgradeTo: null };
  }

  /** A ticket that holds nothing and records the call's usage on every scope of its plan when it settles. */
  #recordingTicket(input: { request: AdmitRequest; policy: EffectivePolicy; target: RequestTarget }): ReservationTicket {
    const { request, policy, target } = input;
    return this.#ticket({ request, hold: 'none', scopes: planRequest(policy, target, this.#now(), request.sessionId).scopes, target, policy });
  }

  /**
   * The call's ticket under its request id, for the provider and model it went to; `policy` gives how an unpriced
   * model is charged (absent: $0, counted).
   */
  #ticket(input: { request: AdmitRequest; hold: TicketHold; scopes: readonly string[]; target: { readonly provider: string; readonly model: string }; policy?: EffectivePolicy; afterSettle?: () => Promise<void> }): ReservationTicket {
    const { request, policy, target } = input;
    return new ReservationTicket({
      ledger: this.#options.ledger,
      bus: this.#options.bus,
      backlog: this.#options.backlog,
      reservationId: request.requestId,
      hold: input.hold,
      scopes: input.scopes,
      agentId: request.agent.id,
      model: `${target.provider}/${target.model}`,
      unknownCost: policy?.unknownCost ?? 'count_zero',
      fallbackRates: policy ? unknownPriceRates({ policy, pricer: this.#options.pricer, target }) : null,
      now: this.#now,
      afterSettle: input.afterSettle,
    });
  }

  async #refused(input: { request: AdmitRequest; attempt: Exclude<Attempt, Decided>; now: number }): Promise<Admission> {
    const { request, attempt, now } = input;
    if (attempt.kind === 'unknown_price_blocked') {
      const error = unknownCostError({ provider: attempt.target.provider, model: attempt.target.model });
      this.#intervention(request, 'unknown_cost_blocked', { behavior: 'hard_stop', unknown_cost: 'block', effective_model: `${attempt.target.provider}/${attempt.target.model}` });
      this.#decision({ request, outcome: 'block', deciding: null, extra: { reason: 'unknown_cost_blocked' } });
      return { outcome: 'block', ticket: null, headers: NO_HEADERS, error, downgradeTo: null };
    }
    const { blocked, retryAfterMs, standings } = attempt.outcome;
    const spec = attempt.plan.hard.find((candidate) => candidate.id === blocked.id)!;
    const summary = await windowSummary({ ledger: this.#options.ledger, spec, now });
    const error = budgetBlockError({ spec, blocked, retryAfterMs, summary, now });
    this.#intervention(request, error.code, { behavior: spec.behavior, ...limitFields(spec, blocked), retry_after_ms: retryAfterMs });
    this.#decision({ request, outcome: 'block', deciding: { spec, standing: blocked }, extra: { reason: error.code, retry_after_ms: retryAfterMs } });
    return { outcome: 'block', ticket: null, headers: standingHeaders(standings), error, downgradeTo: null };
  }

  /**
   * The check could not run. Closed: 503 `budget_unavailable` (the pipeline logs the error); a reserve without reply is
   * released by id once the ledger answers. Open: the request passes with a `budget_check_unavailable` intervention and
   * an error event; usage is still recorded on the agent's own scope when the ledger works (no limit is checked), and on
   * every scope its policy names when the ledger did not answer (kept by the backlog until it does, counted once by id:
   * an outage or a stall costs no spend).
   */
  async #unavailable(input: { request: AdmitRequest; reason: string; fallback: Fallback }): Promise<Admission> {
    const { request, reason, fallback } = input;
    const { bus, failMode } = this.#options;
    bus.emit({ type: 'budget_decision', claw_id: request.agent.id, model: request.requestedModel, intervention: null, request_id: request.requestId, outcome: 'unavailable', fail_mode: failMode, reason });
    if (failMode === 'closed') {
      if (fallback?.kind === 'keep' && fallback.hold === 'unknown') this.#releaseById(request.requestId);
      return { outcome: 'unavailable', ticket: null, headers: NO_HEADERS, error: new ProxyError('budget_unavailable', { cause: reason }), downgradeTo: null };
    }
    this.#intervention(request, 'budget_check_unavailable', { reason });
    bus.emit({ type: 'error', claw_id: request.agent.id, model: request.requestedModel, intervention: null, request_id: request.requestId, status_code: 0, latency_ms: 0, error: reason });
    let ticket: ReservationTicket | null = null;
    if (fallback?.kind === 'ledger_works') ticket = await this.#recordOnlyTicket(request);
    else if (fallback?.kind === 'keep') ticket = this.#ticket({ request, hold: fallback.hold, scopes: fallback.scopes, target: request, policy: fallback.policy });
    return { outcome: 'unavailable', ticket, headers: NO_HEADERS, error: null, downgradeTo: null };
  }

  /** Ends an id whose reserve got no reply: released by the backlog as soon as the ledger answers (it retries every second). */
  #releaseById(id: string): void {
    const { backlog, ledger } = this.#options;
    if (backlog) backlog.add({ kind: 'release', reservationId: id });
    else ledger.release(id).catch(() => undefined);
  }

  async #recordOnlyTicket(request: AdmitRequest): Promise<ReservationTicket | null> {
    const priced = this.#estimate({ request, target: request, unknownCost: 'count_zero', fallbackRates: null });
    if (priced.blocked) return null;
    const scopes = bareScopes(request.agent.id);
    try {
      await this.#options.ledger.reserve({ id: request.requestId, scopes, amounts: priced.amounts, checks: [], leaseMs: this.#leaseMs });
    } catch (error) {
      this.#options.bus.emit({ type: 'warning', claw_id: request.agent.id, model: request.requestedModel, intervention: null, request_id: request.requestId, error: `budget ledger error: ${(error as Error).message}` });
      if (!this.#options.backlog || !SettleBacklog.keeps(error)) return null;
      return this.#ticket({ request, hold: error instanceof LedgerOutcomeUnknownError ? 'unknown' : 'none', scopes, target: request });
    }
    return this.#ticket({ request, hold: 'held', scopes, target: request });
  }

  async #softStandings(request: AdmitRequest, plan: RequestPlan): Promise<LimitStanding[]> {
    if (plan.soft.length === 0) return [];
    try {
      return await this.#options.ledger.standing(plan.softChecks);
    } catch (error) {
      this.#options.bus.emit({ type: 'warning', claw_id: request.agent.id, model: request.requestedModel, intervention: null, request_id: request.requestId, error: `budget ledger error reading soft limits: ${(error as Error).message}` });
      return [];
    }
  }

  async #checkAlerts(input: { agentId: string; model: string; plan: RequestPlan; forecast: boolean }): Promise<void> {
    try {
      const standings = await this.#options.ledger.standing(input.plan.alertChecks);
      await this.#alerts.observe({ agentId: input.agentId, model: input.model, specs: input.plan.alerting, standings });
      if (input.forecast) await this.#alerts.forecast({ agentId: input.agentId, model: input.model, specs: input.plan.usd, checks: input.plan.usdChecks });
    } catch (error) {
      // the call is settled; only its alert check failed (the next settle checks again)
      this.#options.bus.emit({ type: 'warning', claw_id: input.agentId, model: input.model, intervention: null, error: `budget alert check failed: ${(error as Error).message}` });
    }
  }

  #intervention(request: AdmitRequest, name: string, fields: InterventionDetail & Partial<LimitFields>): void {
    this.#options.bus.emit({ type: 'intervention', claw_id: request.agent.id, model: request.requestedModel, intervention: name, request_id: request.requestId, ...fields });
  }

  /** Only agents with a policy reach a decision (an unlimited agent is admitted before any). */
  #decision(input: { request: AdmitRequest; outcome: 'allow' | 'soft' | 'block'; deciding: { spec: LimitSpec; standing: LimitStanding } | null; extra: DecisionDetail }): void {
    const { request, deciding } = input;
    // filled in place, in the audit line's key order: this runs on every governed call, and spreads cost more here
    const event: BudgetDecisionEvent = {
      type: 'budget_decision',
      claw_id: request.agent.id,
      model: request.requestedModel,
      intervention: null,
      request_id: request.requestId,
      outcome: input.outcome,
    };
    if (deciding) {
      const { spec, standing } = deciding;
      event.behavior = spec.behavior;
      addLimitFields(event, spec, standing);
      event.source = spec.source.file;
      event.source_kind = spec.source.kind;
      event.field = spec.field;
    }
    Object.assign(event, input.extra);
    this.#options.bus.emit(event);
  }
}

/** No limit and no policy field anywhere: nothing can refuse or shape the agent's calls. */
function isUnlimited(policy: EffectivePolicy): boolean {
  if (policy.limits.length > 0) return false;
  for (const key in policy.fields) if (Object.hasOwn(policy.fields, key)) return false;
  return true;
}

/** `downgrade_to` split on its first `/`, unless it is the model already asked for. */
function downgradeTarget(policy: EffectivePolicy, current: RequestTarget): RequestTarget | null {
  const to = policy.downgradeTo;
  if (!to) return null;
  const slash = to.indexOf('/');
  const target = { provider: to.slice(0, slash), model: to.slice(slash + 1), requestedModel: to };
  if (to === current.requestedModel || (target.provider === current.provider && target.model === current.model)) return null;
  return target;
}

function isDecided(attempt: Attempt): attempt is Decided {
  return attempt.kind === 'admitted' || attempt.kind === 'unknown';
}

/** Errors of a malformed call (our own defect), as opposed to a ledger that is down or slow. */
function isDefect(error: unknown): error is Error {
  return error instanceof TypeError || error instanceof RangeError;
}
