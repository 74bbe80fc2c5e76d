// The 429 a refused admission becomes: which code, which retry signals, and cllama's `budget` body object (plus ours).
import { ProxyError, type ErrorCode } from '../errors.ts';
import type { Ledger, LimitStanding } from '../ledger/ledger.ts';
import { checkOf } from './plan.ts';
import { retryAfterSeconds } from './duration.ts';
import { microsToUsd } from '../pricing/money.ts';
import type { LimitSpec } from './policy/policy.ts';

/** What the window held for the refusing limit's scope (cllama's window summary). */
export interface WindowSummary {
  readonly requests: number;
  readonly usdMicros: number;
  readonly unknownCostRequests: number;
}

/** Requests, USD and unknown-cost requests settled in the refusing limit's scope and window (cllama's summary). */
export async function windowSummary(input: { ledger: Pick<Ledger, 'standing'>; spec: LimitSpec; now: number }): Promise<WindowSummary> {
  const { spec, now } = input;
  if (spec.metric === 'concurrency') return { requests: 0, usdMicros: 0, unknownCostRequests: 0 };
  const check = (metric: 'usd_micros' | 'requests' | 'unknown_cost_requests') => ({
    ...checkOf(spec, now, metric, `${spec.id}#${metric}`),
    limit: Number.MAX_SAFE_INTEGER,
  });
  try {
    const [usd, requests, unknown] = await input.ledger.standing([check('usd_micros'), check('requests'), check('unknown_cost_requests')]);
    return { usdMicros: usd.used, requests: requests.used, unknownCostRequests: unknown.used };
  } catch {
    return { requests: 0, usdMicros: 0, unknownCostRequests: 0 };
  }
}

/** Concurrency limits have no window to wait for: tell the client to come back after this long. */
export const CONCURRENCY_RETRY_MS = 1000;

/**
 * The code follows cllama: behaviour `rate_limit` → `rate_limited`; `hard_stop` → `rate_limited` when a request-count
 * limit tripped, else `budget_exceeded` (USD and token limits). A concurrency cap is always `rate_limited`.
 */
export function blockCode(spec: LimitSpec): 'budget_exceeded' | 'rate_limited' {
  if (spec.metric === 'concurrency' || spec.behavior === 'rate_limit' || spec.metric === 'requests') return 'rate_limited';
  return 'budget_exceeded';
}

/**
 * When the client may retry, in ms, or null when unknown. `rate_limit` (and concurrency) always answer: the ledger's
 * exact wait, else the time until the oldest usage leaves the window, else the whole window. `hard_stop` answers only
 * with the ledger's exact wait (its `x-should-retry: false` tells SDKs not to wait anyway).
 */
export function retryDelayMs(input: { spec: LimitSpec; blocked: LimitStanding; retryAfterMs: number | null }): number | null {
  const { spec, blocked, retryAfterMs } = input;
  if (spec.metric === 'concurrency') return CONCURRENCY_RETRY_MS;
  if (retryAfterMs !== null) return Math.max(1, Math.ceil(retryAfterMs));
  if (spec.behavior !== 'rate_limit') return null;
  return Math.max(1, Math.ceil(blocked.resetMs ?? spec.windowMs));
}

export function budgetBlockError(input: {
  spec: LimitSpec;
  blocked: LimitStanding;
  retryAfterMs: number | null;
  summary: WindowSummary;
  now: number;
}): ProxyError {
  const { spec, blocked, summary, now } = input;
  const code: ErrorCode = blockCode(spec);
  const delay = retryDelayMs(input);
  const retrySoon = spec.metric === 'concurrency' || spec.behavior === 'rate_limit';
  const headers: Record<string, string> = { 'x-should-retry': String(retrySoon) };
  if (delay !== null) {
    headers['retry-after'] = String(retryAfterSeconds(delay));
    headers['retry-after-ms'] = String(delay);
  }
  const resetsIn = delay ?? blocked.resetMs;
  const budget: Record<string, unknown> = {
    behavior: spec.behavior,
    window: spec.metric === 'concurrency' ? null : spec.window, // a capacity cap has no window
    ...(spec.entry.limit_usd !== undefined ? { limit_usd: spec.entry.limit_usd } : {}),
    ...(spec.entry.max_requests !== undefined ? { max_requests: spec.entry.max_requests } : {}),
    ...(spec.entry.max_input_tokens !== undefined ? { max_input_tokens: spec.entry.max_input_tokens } : {}),
    ...(spec.entry.max_output_tokens !== undefined ? { max_output_tokens: spec.entry.max_output_tokens } : {}),
    ...(spec.entry.max_total_tokens !== undefined ? { max_total_tokens: spec.entry.max_total_tokens } : {}),
    ...(spec.entry.max_concurrent !== undefined ? { max_concurrent: spec.entry.max_concurrent, in_flight: blocked.used } : {}),
    requests: summary.requests,
    reported_cost_usd: microsToUsd(summary.usdMicros),
    unknown_cost_requests: summary.unknownCostRequests,
    limit_id: spec.id,
    scope: spec.scope,
    metric: spec.metric,
    retry_after_ms: delay,
    resets_at: resetsIn === null ? null : new Date(now + resetsIn).toISOString(),
    // a session's limit: which session, and what it spent (the window summary above is the session's)
    ...(spec.sessionId !== undefined ? { session: { id: spec.sessionId, requests: summary.requests, spent_usd: microsToUsd(summary.usdMicros) } } : {}),
  };
  const message =
    spec.sessionId !== undefined
      ? `session ${spec.sessionId} budget exceeded`
      : code === 'rate_limited'
        ? spec.metric === 'concurrency'
          ? 'too many concurrent requests for this budget'
          : 'request rate limit exceeded'
        : 'budget exceeded';
  return new ProxyError(code, { message, extra: { budget }, headers });
}

/** The 429 for a model whose price is unknown when the policy says `unknown_cost: "block"`. */
export function unknownCostError(input: { provider: string; model: string }): ProxyError {
  return new ProxyError('unknown_cost_blocked', {
    message: `the price of ${input.provider}/${input.model} is unknown and the budget policy blocks unknown-cost requests`,
    extra: { budget: { unknown_cost: 'block', model: `${input.provider}/${input.model}` } },
    headers: { 'x-should-retry': 'false' },
  });
}
