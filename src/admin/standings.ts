// Budget standing of agents and shared budgets for the operator views: one ledger read for everything a view shows.
import type { Agent } from '../auth/agent.ts';
import type { LimitSpec, PolicyResult } from '../budget/policy/policy.ts';
import { checkOf } from '../budget/plan.ts';
import { rateWindowMs } from '../budget/forecast.ts';
import type { SharedBudgetInfo } from '../budget/policy/store.ts';
import type { Ledger, LimitCheck, LimitStanding, Metric } from '../ledger/ledger.ts';

/** What the views need of the PolicyStore (src/budget/policy/store.ts). */
export interface PolicyReader {
  effective(agent: Agent, now: number): PolicyResult;
  listShared(): SharedBudgetInfo[];
}

export const SUMMARY_METRICS = [
  'usd_micros',
  'requests',
  'input_tokens',
  'output_tokens',
  'total_tokens',
  'unknown_cost_requests',
] as const satisfies readonly Metric[];
export type SummaryMetric = (typeof SUMMARY_METRICS)[number];

/** The window shown for an agent with no windowed limit. */
export const DEFAULT_VIEW_WINDOW = { text: '24h', ms: 24 * 3_600_000 } as const;

export interface LimitWithStanding {
  readonly spec: LimitSpec;
  readonly standing: LimitStanding;
  /** USD limits: the spend over the forecast's rate window (budget/forecast.ts). */
  readonly recent?: { readonly used: number; readonly windowMs: number };
}

export interface WindowUsage {
  readonly window: string;
  readonly windowMs: number;
  /** Settled usage of the agent's own scope in the window, and what open reservations hold, per metric. */
  readonly used: Readonly<Record<SummaryMetric, number>>;
  readonly reserved: Readonly<Record<SummaryMetric, number>>;
}

export interface AgentStanding {
  readonly agent: Agent;
  readonly policy: PolicyResult;
  readonly limits: readonly LimitWithStanding[];
  readonly windows: readonly WindowUsage[];
}

/** A request for standings, batched: callers add checks, then `read()` asks the ledger once. */
class CheckBatch {
  readonly checks: LimitCheck[] = [];
  #results: LimitStanding[] = [];

  add(check: LimitCheck): number {
    this.checks.push(check);
    return this.checks.length - 1;
  }

  async read(ledger: Ledger): Promise<void> {
    this.#results = this.checks.length > 0 ? await ledger.standing(this.checks) : [];
  }

  get(index: number): LimitStanding {
    return this.#results[index];
  }
}

/** Agents per ledger read: the views yield to the event loop between chunks so the proxy keeps serving. */
const AGENTS_PER_CHUNK = 64;

/**
 * Standing of every given agent: its limits (own and shared) and its own usage per distinct window. Read in chunks of
 * agents, one ledger call each, yielding in between (1,000 agents cost ~14,000 checks).
 */
export async function readAgentStandings(input: { agents: readonly Agent[]; policies: PolicyReader; ledger: Ledger; now: number }): Promise<AgentStanding[]> {
  const result: AgentStanding[] = [];
  for (let start = 0; start < input.agents.length; start += AGENTS_PER_CHUNK) {
    if (start > 0) await new Promise((resolve) => setImmediate(resolve));
    result.push(...(await readChunk({ ...input, agents: input.agents.slice(start, start + AGENTS_PER_CHUNK) })));
  }
  return result;
}

async function readChunk(input: { agents: readonly Agent[]; policies: PolicyReader; ledger: Ledger; now: number }): Promise<AgentStanding[]> {
  const batch = new CheckBatch();
  const plans = input.agents.map((agent) => {
    const policy = input.policies.effective(agent, input.now);
    const specs = policy.kind === 'policy' ? policy.limits : [];
    const limitIndexes = specs.map((spec) => batch.add(checkOf(spec, input.now)));
    const rateIndexes = specs.map((spec) => (spec.metric === 'usd_micros' ? batch.add(rateCheck(spec)) : -1));
    const windows = distinctWindows(specs).map((window) => ({
      window,
      indexes: SUMMARY_METRICS.map((metric) =>
        batch.add({ id: `view:${agent.id}/${metric}/${window.ms}`, scope: `agent:${agent.id}`, metric, windowMs: window.ms, limit: Number.MAX_SAFE_INTEGER }),
      ),
    }));
    return { agent, policy, specs, limitIndexes, rateIndexes, windows };
  });
  await batch.read(input.ledger);
  return plans.map((plan) => ({
    agent: plan.agent,
    policy: plan.policy,
    limits: plan.specs.map((spec, index) => ({ spec, standing: batch.get(plan.limitIndexes[index]), ...recentSpend(batch, plan.rateIndexes[index]) })),
    windows: plan.windows.map(({ window, indexes }) => ({
      window: window.text,
      windowMs: window.ms,
      used: metricRecord(indexes, (index) => batch.get(index).used),
      reserved: metricRecord(indexes, (index) => batch.get(index).reserved),
    })),
  }));
}

export interface SharedStanding {
  readonly info: SharedBudgetInfo;
  readonly members: readonly string[];
  readonly limits: readonly LimitWithStanding[];
}

/** Every shared budget with its limits' standing and the agents that draw from it. */
export async function readSharedStandings(input: { agents: readonly Agent[]; policies: PolicyReader; ledger: Ledger; now: number }): Promise<SharedStanding[]> {
  const shared = input.policies.listShared();
  const members = new Map<string, string[]>();
  for (const agent of input.agents) {
    const policy = input.policies.effective(agent, input.now);
    if (policy.kind !== 'policy') continue;
    for (const name of policy.shared) members.set(name, [...(members.get(name) ?? []), agent.id]);
  }
  const batch = new CheckBatch();
  const plans = shared.map((info) => ({
    info,
    indexes: info.limits.map((spec) => batch.add(checkOf(spec, input.now))),
    rates: info.limits.map((spec) => (spec.metric === 'usd_micros' ? batch.add(rateCheck(spec)) : -1)),
  }));
  await batch.read(input.ledger);
  return plans.map(({ info, indexes, rates }) => ({
    info,
    members: members.get(info.name) ?? [],
    limits: info.limits.map((spec, index) => ({ spec, standing: batch.get(indexes[index]), ...recentSpend(batch, rates[index]) })),
  }));
}

/** Fraction of a limit in use, counting open reservations (0 for a zero limit). */
export function usedFraction(standing: LimitStanding): number {
  return standing.limit > 0 ? (standing.used + standing.reserved) / standing.limit : 0;
}

export type AgentState = 'unavailable' | 'exhausted' | 'near_limit' | 'ok' | 'unlimited';

export const NEAR_LIMIT_FRACTION = 0.8;

export function agentState(standing: Pick<AgentStanding, 'policy' | 'limits'>): AgentState {
  if (standing.policy.kind === 'unavailable') return 'unavailable';
  if (standing.limits.length === 0) return 'unlimited';
  const fractions = standing.limits.map((limit) => usedFraction(limit.standing));
  if (fractions.some((fraction) => fraction >= 1)) return 'exhausted';
  if (fractions.some((fraction) => fraction >= NEAR_LIMIT_FRACTION)) return 'near_limit';
  return 'ok';
}

/** The spend of a USD limit's scope over its forecast's rate window (budget/forecast.ts). */
function rateCheck(spec: LimitSpec): LimitCheck {
  return { id: `rate:${spec.id}`, scope: spec.scope, metric: 'usd_micros', windowMs: rateWindowMs(spec), limit: Number.MAX_SAFE_INTEGER };
}

function recentSpend(batch: CheckBatch, index: number): { recent?: { readonly used: number; readonly windowMs: number } } {
  if (index < 0) return {};
  const standing = batch.get(index);
  return { recent: { used: standing.used, windowMs: standing.windowMs } };
}

function distinctWindows(specs: readonly LimitSpec[]): { text: string; ms: number }[] {
  const byMs = new Map<number, string>();
  for (const spec of specs) if (spec.metric !== 'concurrency' && !byMs.has(spec.windowMs)) byMs.set(spec.windowMs, spec.window);
  if (byMs.size === 0) return [{ text: DEFAULT_VIEW_WINDOW.text, ms: DEFAULT_VIEW_WINDOW.ms }];
  return [...byMs.entries()].sort(([a], [b]) => a - b).map(([ms, text]) => ({ text, ms }));
}

function metricRecord(indexes: readonly number[], pick: (index: number) => number): Record<SummaryMetric, number> {
  const record = {} as Record<SummaryMetric, number>;
  SUMMARY_METRICS.forEach((metric, position) => {
    record[metric] = pick(indexes[position]);
  });
  return record;
}
