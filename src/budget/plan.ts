// Which scopes a request's usage lands on and which limits it is checked against, for one policy and one model.
import type { LimitCheck } from '../ledger/ledger.ts';
import { calendarPeriod } from './calendar.ts';
import type { EffectivePolicy, LimitSpec } from './policy/policy.ts';

export interface RequestTarget {
  readonly provider: string;
  readonly model: string;
  /** The model string as asked for (`provider/model`, or bare on the Anthropic route). */
  readonly requestedModel: string;
}

export interface RequestPlan {
  /** Every scope the usage is added to: `agent:<id>`, `shared:<name>`..., and the model scopes whose globs match. */
  readonly scopes: readonly string[];
  /** Limits that refuse (hard_stop, rate_limit, concurrency), in policy order, and their ledger checks. */
  readonly hard: readonly LimitSpec[];
  readonly hardChecks: readonly LimitCheck[];
  /** soft_alert limits: read after admission, never refusing. */
  readonly soft: readonly LimitSpec[];
  readonly softChecks: readonly LimitCheck[];
  /** USD limits that carry alert thresholds (checked after each settle). */
  readonly alerting: readonly LimitSpec[];
  readonly alertChecks: readonly LimitCheck[];
  /** Every USD limit that applies, hard or soft (for `downgrade_at`). */
  readonly usd: readonly LimitSpec[];
  readonly usdChecks: readonly LimitCheck[];
  /** Whether a limit follows the calendar: its checks then carry the period of the request's time. */
  readonly calendar: boolean;
}

const PLAN_CACHE_SIZE = 256;
const plans = new WeakMap<EffectivePolicy, Map<string, RequestPlan>>();

/**
 * The plan for a request at `now`; computed once per (policy, provider/model, requested model) and cached with the
 * policy; a plan with calendar limits is copied with the period of `now` (cached until the first of them ends).
 */
export function planRequest(policy: EffectivePolicy, target: RequestTarget, now: number = Date.now(), sessionId: string | null = null): RequestPlan {
  const plan = basePlan(policy, target);
  const timedOrNot = plan.calendar ? timedPlan(plan, now) : plan;
  return sessionId !== null && policy.session ? withSession(timedOrNot, policy.session.specs, sessionId) : timedOrNot;
}

/** The plan of a request that names a session: the session's scope and limits added (its own lifetime totals). */
function withSession(plan: RequestPlan, templates: readonly LimitSpec[], sessionId: string): RequestPlan {
  const specs = templates.map((spec) => ({ ...spec, scope: `${spec.scope}${sessionId}`, sessionId }));
  const hard = specs.filter((spec) => spec.behavior !== 'soft_alert');
  const soft = specs.filter((spec) => spec.behavior === 'soft_alert');
  const usd = specs.filter((spec) => spec.metric === 'usd_micros');
  return {
    ...plan,
    scopes: [...plan.scopes, specs[0].scope],
    hard: plan.hard.concat(hard),
    hardChecks: plan.hardChecks.concat(hard.map(toCheck)),
    soft: plan.soft.concat(soft),
    softChecks: plan.softChecks.concat(soft.map(toCheck)),
    usd: plan.usd.concat(usd),
    usdChecks: plan.usdChecks.concat(usd.map(toCheck)),
  };
}

const timed = new WeakMap<RequestPlan, { readonly since: number; readonly until: number; readonly plan: RequestPlan }>();

function timedPlan(plan: RequestPlan, now: number): RequestPlan {
  const cached = timed.get(plan);
  if (cached && cached.since <= now && now < cached.until) return cached.plan;
  let since = Number.NEGATIVE_INFINITY;
  let until = Number.POSITIVE_INFINITY;
  const at = (specs: readonly LimitSpec[]) =>
    specs.map((spec) => {
      const check = checkOf(spec, now);
      if (check.period) {
        since = Math.max(since, check.period.since);
        until = Math.min(until, check.period.until);
      }
      return check;
    });
  const copy: RequestPlan = { ...plan, hardChecks: at(plan.hard), softChecks: at(plan.soft), alertChecks: at(plan.alerting), usdChecks: at(plan.usd) };
  timed.set(plan, { since, until, plan: copy });
  return copy;
}

function basePlan(policy: EffectivePolicy, target: RequestTarget): RequestPlan {
  const key = `${target.provider}/${target.model}\n${target.requestedModel}`;
  let byModel = plans.get(policy);
  if (!byModel) {
    byModel = new Map();
    plans.set(policy, byModel);
  }
  let plan = byModel.get(key);
  if (!plan) {
    if (byModel.size >= PLAN_CACHE_SIZE) byModel.clear();
    plan = buildPlan(policy, target);
    byModel.set(key, plan);
  }
  return plan;
}

/** The scope and checks for an agent without a usable policy: usage still lands on the agent, nothing refuses. */
export function bareScopes(agentId: string): readonly string[] {
  return [`agent:${agentId}`];
}

/** The ledger check of a limit at `now`: a calendar limit carries the period `now` falls in, a lifetime one its flag. */
export function checkOf(spec: LimitSpec, now: number, metric: LimitCheck['metric'] = spec.metric, id: string = spec.id): LimitCheck {
  const check = { id, scope: spec.scope, metric, windowMs: spec.windowMs, limit: spec.limit };
  if (spec.fixed === null || metric === 'concurrency') return check;
  if (spec.fixed === 'lifetime') return { ...check, lifetime: true };
  return { ...check, period: calendarPeriod(spec.fixed, spec.zone, now) };
}

function toCheck(spec: LimitSpec): LimitCheck {
  return checkOf(spec, Date.now());
}

/**
 * Whether a limit's model globs match the request: against `provider/model` after routing, the model as sent upstream
 * (a bare `claude-*` matches however the model was written, `anthropic/claude-…` or bare), and the model as requested.
 * All three are the normalized names (upstream/model-name.ts), so spacing and slashes cannot dodge a glob.
 */
export function limitApplies(spec: LimitSpec, target: RequestTarget): boolean {
  const pattern = spec.modelPattern;
  if (!pattern) return true;
  return pattern.test(`${target.provider}/${target.model}`) || pattern.test(target.model) || pattern.test(target.requestedModel);
}

function buildPlan(policy: EffectivePolicy, target: RequestTarget): RequestPlan {
  const applying = policy.limits.filter((spec) => limitApplies(spec, target));
  const scopes = new Set<string>([`agent:${policy.agentId}`, ...policy.shared.map((name) => `shared:${name}`)]);
  for (const spec of applying) scopes.add(spec.scope);
  const hard = applying.filter((spec) => spec.behavior !== 'soft_alert');
  const soft = applying.filter((spec) => spec.behavior === 'soft_alert');
  const alerting = applying.filter((spec) => spec.alerts.length > 0);
  const usd = applying.filter((spec) => spec.metric === 'usd_micros');
  return {
    scopes: [...scopes],
    hard,
    hardChecks: hard.map(toCheck),
    soft,
    softChecks: soft.map(toCheck),
    alerting,
    alertChecks: alerting.map(toCheck),
    usd,
    usdChecks: usd.map(toCheck),
    calendar: applying.some((spec) => spec.fixed !== null && spec.fixed !== 'lifetime'),
  };
}
