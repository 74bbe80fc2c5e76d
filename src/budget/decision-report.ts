// What the budget engine tells the bus about a call: its decision, interventions, soft limits and alerts after settling.
import type { Ledger, LimitStanding } from '../ledger/ledger.ts';
import type { BudgetDecisionEvent, DecisionDetail, EventBus, InterventionDetail, LimitFields } from '../observability/events.ts';
import type { AdmitRequest } from './admission.ts';
import type { AlertTracker } from './alerts.ts';
import type { RequestPlan } from './plan.ts';
import { addLimitFields } from './policy/limit-fields.ts';
import type { LimitSpec } from './policy/policy.ts';

export class DecisionReport {
  readonly #bus: EventBus;
  readonly #ledger: Ledger;
  readonly #alerts: AlertTracker;

  constructor(input: { bus: EventBus; ledger: Ledger; alerts: AlertTracker }) {
    this.#bus = input.bus;
    this.#ledger = input.ledger;
    this.#alerts = input.alerts;
  }

  /** The soft limits' standings; a ledger error reads as none (reported as a warning: soft limits never refuse). */
  async softStandings(request: AdmitRequest, plan: RequestPlan): Promise<LimitStanding[]> {
    if (plan.soft.length === 0) return [];
    try {
      return await this.#ledger.standing(plan.softChecks);
    } catch (error) {
      this.warning(request, `budget ledger error reading soft limits: ${(error as Error).message}`);
      return [];
    }
  }

  /** Alert thresholds (and the burn-rate forecast) checked after a call settled. */
  async checkAlerts(input: { agentId: string; model: string; plan: RequestPlan; forecast: boolean }): Promise<void> {
    try {
      const standings = await this.#ledger.standing(input.plan.alertChecks);
      await this.#alerts.observe({ agentId: input.agentId, model: input.model, specs: input.plan.alerting, standings });
      if (input.forecast) await this.#alerts.forecast({ agentId: input.agentId, model: input.model, specs: input.plan.usd, checks: input.plan.usdChecks });
    } catch (error) {
      // the call is settled; only its alert check failed (the next settle checks again)
      this.#bus.emit({
        type: 'warning',
        claw_id: input.agentId,
        model: input.model,
        intervention: null,
        error: `budget alert check failed: ${(error as Error).message}`,
      });
    }
  }

  warning(request: AdmitRequest, error: string): void {
    this.#bus.emit({ type: 'warning', claw_id: request.agent.id, model: request.requestedModel, intervention: null, request_id: request.requestId, error });
  }

  intervention(request: AdmitRequest, name: string, fields: InterventionDetail & Partial<LimitFields>): void {
    this.#bus.emit({
      type: 'intervention',
      claw_id: request.agent.id,
      model: request.requestedModel,
      intervention: name,
      request_id: request.requestId,
      ...fields,
    });
  }

  /** Only agents with a policy reach a decision (an unlimited agent is admitted before any). */
  decision(input: {
    request: AdmitRequest;
    outcome: 'allow' | 'soft' | 'block';
    deciding: { spec: LimitSpec; standing: LimitStanding } | null;
    extra: DecisionDetail;
  }): void {
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
    this.#bus.emit(event);
  }

  /** A call passed without its check (fail mode open): an `error` event, as cllama logs it. */
  passedUnchecked(request: AdmitRequest, reason: string): void {
    this.#bus.emit({
      type: 'error',
      claw_id: request.agent.id,
      model: request.requestedModel,
      intervention: null,
      request_id: request.requestId,
      status_code: 0,
      latency_ms: 0,
      error: reason,
    });
  }

  /** A check that could not run: the decision `unavailable` with the fail mode that applied. */
  unavailable(request: AdmitRequest, input: { failMode: 'open' | 'closed'; reason: string }): void {
    this.#bus.emit({
      type: 'budget_decision',
      claw_id: request.agent.id,
      model: request.requestedModel,
      intervention: null,
      request_id: request.requestId,
      outcome: 'unavailable',
      fail_mode: input.failMode,
      reason: input.reason,
    });
  }
}
