// JSON shapes of the admin API (documented in docs/admin-api.md): limit rows, window rows, agent rows, policy detail.
import type { EffectivePolicy, FieldValues, LimitEntry, PolicyField, PolicyResult } from '../budget/policy/policy.ts';
import type { LimitStanding } from '../ledger/ledger.ts';
import { microsToUsd } from '../pricing/money.ts';
import { forecastOf } from '../budget/forecast.ts';
import type { AgentTotals } from './cost-totals.ts';
import { agentState, usedFraction, type AgentStanding, type LimitWithStanding, type WindowUsage } from './standings.ts';

export function limitRow(limit: LimitWithStanding, now: number): Record<string, unknown> {
  const { spec, standing } = limit;
  const usd = spec.metric === 'usd_micros';
  const sharedName = /^shared:([^|]+)/.exec(spec.scope)?.[1] ?? null;
  return {
    id: spec.id,
    scope: spec.scope,
    shared: sharedName,
    models: spec.models,
    metric: spec.metric,
    window: spec.metric === 'concurrency' ? null : spec.window,
    window_ms: spec.metric === 'concurrency' ? null : spec.windowMs,
    behavior: spec.behavior,
    limit: standing.limit,
    used: standing.used,
    reserved: standing.reserved,
    remaining: standing.remaining,
    ...(usd
      ? {
          limit_usd: microsToUsd(standing.limit),
          used_usd: microsToUsd(standing.used),
          reserved_usd: microsToUsd(standing.reserved),
          remaining_usd: microsToUsd(standing.remaining),
        }
      : {}),
    used_fraction: round4(usedFraction(standing)),
    ...resetFields(standing, now),
    ...(limit.recent ? { forecast: forecastRow({ standing, recent: limit.recent }, now) } : {}),
    source: { kind: spec.source.kind, file: spec.source.file },
    field: spec.field,
  };
}

/**
 * When a USD limit runs out at the recent rate (its scope's spend over the last hour, or over its own shorter rolling
 * window): `rate_usd_per_hour`, `rate_window`, `exhausted_in_ms` / `exhausted_at` (null: nothing spent recently), and
 * `before_reset` (it runs out before the window resets).
 */
function forecastRow(limit: { standing: LimitStanding; recent: { readonly used: number; readonly windowMs: number } }, now: number): Record<string, unknown> {
  const { standing, recent } = limit;
  const forecast = forecastOf({ remaining: standing.remaining, recent: recent.used, rateWindowMs: recent.windowMs, resetInMs: standing.resetMs });
  return {
    rate_usd_per_hour: microsToUsd(forecast.rateMicrosPerHour),
    rate_window_ms: forecast.rateWindowMs,
    exhausted_in_ms: forecast.exhaustedInMs,
    exhausted_at: forecast.exhaustedInMs === null ? null : new Date(now + forecast.exhaustedInMs).toISOString(),
    before_reset: forecast.beforeReset,
  };
}

export function windowRow(window: WindowUsage): Record<string, unknown> {
  return {
    window: window.window,
    window_ms: window.windowMs,
    spend_micros: window.used.usd_micros,
    spend_usd: microsToUsd(window.used.usd_micros),
    reserved_micros: window.reserved.usd_micros,
    reserved_usd: microsToUsd(window.reserved.usd_micros),
    requests: window.used.requests,
    input_tokens: window.used.input_tokens,
    output_tokens: window.used.output_tokens,
    total_tokens: window.used.total_tokens,
    unknown_cost_requests: window.used.unknown_cost_requests,
  };
}

export function totalsRow(totals: AgentTotals | null): Record<string, unknown> {
  return {
    cost_usd: microsToUsd(totals?.costMicros ?? 0),
    cost_micros: totals?.costMicros ?? 0,
    requests: totals?.requests ?? 0,
    priced_requests: totals?.pricedRequests ?? 0,
    unpriced_requests: totals?.unpricedRequests ?? 0,
    input_tokens: totals?.inputTokens ?? 0,
    output_tokens: totals?.outputTokens ?? 0,
  };
}

export function policyStatus(policy: PolicyResult): Record<string, unknown> {
  return policy.kind === 'policy' ? { status: 'ok' } : { status: 'unavailable', reason: policy.reason, problems: policy.problems };
}

/** The governance override's who/why/until when a governance file is in force, else null. */
export function overrideSummary(policy: PolicyResult): Record<string, unknown> | null {
  if (policy.kind !== 'policy') return null;
  const fromGovernance = Object.values(policy.sources).some((source) => source?.kind === 'governance');
  if (!fromGovernance) return null;
  const pick = (field: 'reason' | 'set_by') => (policy.sources[field]?.kind === 'governance' ? (policy.fields[field] ?? null) : null);
  return {
    present: true,
    reason: pick('reason'),
    set_by: pick('set_by'),
    expires_at: policy.sources.expires_at?.kind === 'governance' ? (policy.fields.expires_at?.text ?? null) : null,
  };
}

export function agentRow(input: { standing: AgentStanding; totals: AgentTotals | null; now: number }): Record<string, unknown> {
  const { standing, now } = input;
  const { agent, policy } = standing;
  return {
    id: agent.id,
    pod: agent.pod,
    service: agent.service,
    type: agent.type,
    state: agentState(standing),
    policy: policyStatus(policy),
    override: overrideSummary(policy),
    windows: standing.windows.map(windowRow),
    limits: standing.limits.map((limit) => limitRow(limit, now)),
    totals: totalsRow(input.totals),
  };
}

/** Every field in force with the file it came from, plus the policy-wide settings. */
export function policyDetail(policy: PolicyResult): Record<string, unknown> {
  if (policy.kind !== 'policy') return policyStatus(policy);
  return {
    status: 'ok',
    fields: fieldsWithSources(policy),
    shared: policy.shared,
    unknown_cost: policy.unknownCost,
    downgrade_to: policy.downgradeTo,
    expired_sources: policy.expired.map((source) => ({ kind: source.kind, file: source.file })),
    valid_until: policy.validUntil === null ? null : new Date(policy.validUntil).toISOString(),
  };
}

function fieldsWithSources(policy: EffectivePolicy): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(policy.fields) as [PolicyField, FieldValues[PolicyField]][]) {
    if (value === undefined) continue;
    const source = policy.sources[field];
    fields[field] = { value: fieldValue(field, value), source: source ? { kind: source.kind, file: source.file } : null };
  }
  return fields;
}

/** A typed field value back in the form it is written in a policy file. */
function fieldValue(field: PolicyField, value: FieldValues[PolicyField]): unknown {
  if (field === 'window' || field === 'expires_at') return (value as { text: string }).text;
  if (field === 'limits') {
    return (value as readonly LimitEntry[]).map((entry) => ({
      ...entry.amounts,
      window: entry.window,
      ...(entry.behavior ? { behavior: entry.behavior } : {}),
      ...(entry.models ? { models: entry.models } : {}),
    }));
  }
  return value;
}

function resetFields(standing: LimitStanding, now: number): { reset_in_ms: number | null; reset_at: string | null } {
  if (standing.resetMs === null) return { reset_in_ms: null, reset_at: null };
  return { reset_in_ms: standing.resetMs, reset_at: new Date(now + standing.resetMs).toISOString() };
}

function round4(value: number): number {
  return Math.round(value * 10_000) / 10_000;
}
