// The budget engine: merges the agent's policy, estimates the request, reserves it in the ledger and decides.
import type { Agent } from '../auth/agent.ts';
import { ProxyError } from '../errors.ts';
import { LedgerOutcomeUnknownError, type Amounts, type Ledger, type LimitStanding, type ReserveOutcome } from '../ledger/ledger.ts';
import type { DecisionDetail, EventBus } from '../observability/events.ts';
import type { Pricer } from '../pricing/pricer.ts';
import type { Admission, AdmitRequest, BudgetEngine } from './admission.ts';
import { AlertTracker } from './alerts.ts';
import { blockCode, budgetBlockError, unknownCostError, windowSummary } from './budget-error.ts';
import { readSessionId } from './session-policy.ts';
import { LoopBreaker } from './loop-breaker.ts';
import type { LoopState } from './loop-verdict.ts';
import { checkLoop, loopSettings } from './loop-guard.ts';
import { estimateAmounts, type PricedEstimate, unknownPriceRates } from './cost.ts';
import type { FallbackRates, UnknownCostMode } from './policy/fields.ts';
import { reservedOutputTokens, upstreamOutputCap } from './estimate.ts';
import { standingHeaders } from './headers.ts';
import { planRequest, type RequestPlan, type RequestTarget } from './plan.ts';
import type { EffectivePolicy, PolicyResult } from './policy/policy.ts';
import { SettleBacklog } from './settle-backlog.ts';
import { DecisionReport } from './decision-report.ts';
import { FailMode, type Fallback } from './fail-mode.ts';
import { ReservationTicket, type TicketHold } from './ticket.ts';
import { limitFields, tightest } from './policy/limit-fields.ts';

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
  /** The loop breaker: in memory, or shared on Redis (the operator views show its state); default: one in memory of its own. */
  readonly loops?: LoopState;
  readonly now?: () => number;
}

const DEFAULT_LEASE_MS = 10 * 60_000;
const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});
const NO_STANDINGS: readonly LimitStanding[] = Object.freeze([]);

type Attempt =
  | { readonly kind: 'unknown_price_blocked'; readonly target: RequestTarget }
  | { readonly kind: 'refused'; readonly target: RequestTarget; readonly plan: RequestPlan; readonly outcome: Extract<ReserveOutcome, { admitted: false }> }
  | {
      readonly kind: 'admitted';
      readonly target: RequestTarget;
      readonly plan: RequestPlan;
      readonly standings: readonly LimitStanding[];
      readonly amounts: Amounts;
    }
  | { readonly kind: 'unknown'; readonly target: RequestTarget; readonly plan: RequestPlan; readonly error: Error };
type Decided = Extract<Attempt, { kind: 'admitted' | 'unknown' }>;

export function createBudgetEngine(options: BudgetEngineOptions): BudgetEngine {
  return new Engine(options);
}

class Engine implements BudgetEngine {
  readonly #options: BudgetEngineOptions;
  readonly #now: () => number;
  readonly #leaseMs: number;
  readonly #loops: LoopState;
  readonly #report: DecisionReport;
  readonly #failMode: FailMode;

  constructor(options: BudgetEngineOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
    this.#loops = options.loops ?? new LoopBreaker({ now: this.#now });
    this.#report = new DecisionReport({
      bus: options.bus,
      ledger: options.ledger,
      alerts: new AlertTracker({ bus: options.bus, ledger: options.ledger, now: this.#now }),
    });
    this.#failMode = new FailMode({
      mode: options.failMode,
      ledger: options.ledger,
      backlog: options.backlog,
      leaseMs: this.#leaseMs,
      report: this.#report,
      ticket: (input) => this.#ticket(input),
      estimate: (request) => this.#estimate({ request, target: request, unknownCost: 'count_zero', fallbackRates: null }),
    });
  }

  async admit(request: AdmitRequest): Promise<Admission> {
    const now = this.#now();
    const policy = this.#options.policies.effective(request.agent, now);
    const looping = checkLoop({ state: this.#loops, bus: this.#options.bus, request, settings: loopSettings(policy) });
    if (looping instanceof ProxyError) return loopRefusal(looping);
    if (looping === null) return this.#admitAfterLoop(request, policy, now);
    // an agent this replica saw looping: its verdict first (it is likely a refusal, which then holds nothing)
    if (this.#loops.suspect?.(request.agent.id)) {
      const refusal = await looping;
      return refusal ? loopRefusal(refusal) : this.#admitAfterLoop(request, policy, now);
    }
    // else the shared state's verdict comes with the reserve (both are sent now); a call it refuses gives its reservation back
    const [admission, refusal] = await Promise.all([this.#admitAfterLoop(request, policy, now), looping]);
    if (!refusal) return admission;
    await admission.ticket?.release();
    return loopRefusal(refusal);
  }

  async #admitAfterLoop(request: AdmitRequest, policy: PolicyResult, now: number): Promise<Admission> {
    if (policy.kind === 'unavailable') return this.#failMode.unavailable({ request, reason: policy.reason, fallback: { kind: 'ledger_works' } });
    const session = policy.session ? readSessionId(request.headers, policy.session.header) : null;
    if (session !== null && typeof session === 'object')
      return { outcome: 'block', ticket: null, headers: NO_HEADERS, error: new ProxyError('invalid_session', { message: session.invalid }), downgradeTo: null };
    if (session !== null) request = { ...request, sessionId: session };
    try {
      return await this.#admitWithPolicy(request, policy, now);
    } catch (error) {
      if (isDefect(error)) return this.#failMode.refuseOnDefect(request, error);
      // unreachable or unanswered (nothing was held: a reserve without reply is an attempt of its own): in open mode the
      // call's usage is still kept for the ledger's return
      const keep = this.#options.backlog && SettleBacklog.keeps(error);
      const fallback: Fallback = keep
        ? { kind: 'keep', hold: 'none', policy, scopes: planRequest(policy, this.#requested(request), now, request.sessionId).scopes }
        : null;
      return this.#failMode.unavailable({ request, reason: `budget ledger error: ${(error as Error).message}`, fallback });
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
    if (attempt.kind === 'admitted') return this.#admitted({ request, policy, attempt, downgraded: input.downgraded });
    const fallback: Fallback = { kind: 'keep', hold: 'unknown', policy, scopes: attempt.plan.scopes };
    return this.#failMode.unavailable({ request, reason: `budget ledger error: ${attempt.error.message}`, fallback });
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
    return estimateAmounts({
      pricer: this.#options.pricer,
      provider: target.provider,
      model: target.model,
      inputTokens: request.estimate.inputTokens,
      outputTokens,
      unknownCost: input.unknownCost,
      fallbackRates: input.fallbackRates,
    });
  }

  async #tryReserve(input: { request: AdmitRequest; policy: EffectivePolicy; target: RequestTarget }): Promise<Attempt> {
    const { request, policy, target } = input;
    const priced = this.#estimate({
      request,
      target,
      unknownCost: policy.unknownCost,
      fallbackRates: unknownPriceRates({ policy, pricer: this.#options.pricer, target }),
    });
    if (priced.blocked) return { kind: 'unknown_price_blocked', target };
    const plan = planRequest(policy, target, this.#now(), request.sessionId);
    let outcome: ReserveOutcome;
    try {
      outcome = await this.#options.ledger.reserve({
        id: request.requestId,
        scopes: plan.scopes,
        amounts: priced.amounts,
        checks: plan.hardChecks,
        leaseMs: this.#leaseMs,
      });
    } catch (error) {
      if (error instanceof LedgerOutcomeUnknownError) return { kind: 'unknown', target, plan, error };
      throw error;
    }
    if (!outcome.admitted) return { kind: 'refused', target, plan, outcome };
    return { kind: 'admitted', target, plan, standings: outcome.standings, amounts: priced.amounts };
  }

  async #admitted(input: {
    request: AdmitRequest;
    policy: EffectivePolicy;
    attempt: Extract<Attempt, { kind: 'admitted' }>;
    downgraded: boolean;
  }): Promise<Admission> {
    const { request, policy, attempt, downgraded } = input;
    const { plan, target } = attempt;
    // most policies have no soft limit: no ledger read, and no await (a turn of the microtask queue) for one
    const softStandings = plan.soft.length === 0 ? NO_STANDINGS : await this.#report.softStandings(request, plan);
    const softIndex = plan.soft.findIndex((spec, index) => softStandings[index] !== undefined && softStandings[index].used >= spec.limit);
    const effectiveModel = `${target.provider}/${target.model}`;
    const ticket = this.#ticket({
      request,
      hold: 'held',
      scopes: plan.scopes,
      target,
      policy,
      afterSettle:
        plan.alerting.length > 0 || policy.forecastAlert
          ? () => this.#report.checkAlerts({ agentId: request.agent.id, model: effectiveModel, plan, forecast: policy.forecastAlert })
          : undefined,
    });
    if (downgraded) {
      this.#report.intervention(request, 'model_downgraded', {
        from_model: request.requestedModel,
        to_model: policy.downgradeTo,
        downgrade_at: policy.downgradeAt,
      });
    }
    const standings = softStandings.length > 0 ? attempt.standings.concat(softStandings) : attempt.standings;
    if (softIndex >= 0) {
      const spec = plan.soft[softIndex];
      this.#report.intervention(request, blockCode(spec), { behavior: 'soft_alert', ...limitFields(spec, softStandings[softIndex]) });
    }
    const deciding =
      softIndex >= 0
        ? { spec: plan.soft[softIndex], standing: softStandings[softIndex] }
        : tightest(plan.soft.length > 0 ? plan.hard.concat(plan.soft) : plan.hard, standings);
    const extra: DecisionDetail = { estimate_usd_micros: attempt.amounts.usd_micros ?? 0 };
    if (downgraded) extra.downgraded_to = policy.downgradeTo;
    this.#report.decision({ request, outcome: softIndex >= 0 ? 'soft' : 'allow', deciding, extra });
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
  #ticket(input: {
    request: AdmitRequest;
    hold: TicketHold;
    scopes: readonly string[];
    target: { readonly provider: string; readonly model: string };
    policy?: EffectivePolicy;
    afterSettle?: () => Promise<void>;
  }): ReservationTicket {
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
      this.#report.intervention(request, 'unknown_cost_blocked', {
        behavior: 'hard_stop',
        unknown_cost: 'block',
        effective_model: `${attempt.target.provider}/${attempt.target.model}`,
      });
      this.#report.decision({ request, outcome: 'block', deciding: null, extra: { reason: 'unknown_cost_blocked' } });
      return { outcome: 'block', ticket: null, headers: NO_HEADERS, error, downgradeTo: null };
    }
    const { blocked, retryAfterMs, standings } = attempt.outcome;
    const spec = attempt.plan.hard.find((candidate) => candidate.id === blocked.id)!;
    const summary = await windowSummary({ ledger: this.#options.ledger, spec, now });
    const error = budgetBlockError({ spec, blocked, retryAfterMs, summary, now });
    this.#report.intervention(request, error.code, { behavior: spec.behavior, ...limitFields(spec, blocked), retry_after_ms: retryAfterMs });
    this.#report.decision({ request, outcome: 'block', deciding: { spec, standing: blocked }, extra: { reason: error.code, retry_after_ms: retryAfterMs } });
    return { outcome: 'block', ticket: null, headers: standingHeaders(standings), error, downgradeTo: null };
  }
}

function loopRefusal(error: ProxyError): Admission {
  return { outcome: 'block', ticket: null, headers: NO_HEADERS, error, downgradeTo: null };
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
