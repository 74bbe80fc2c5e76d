// Burn-rate forecasts: when a USD limit runs out at the recent rate (the spend of the last hour, or of a shorter window).
import type { LimitSpec } from './policy/policy.ts';

/** The rate is the spend over this long (or over the limit's own rolling window when shorter). */
export const FORECAST_RATE_MS = 3_600_000;

/** The window the burn rate is read over for a limit: the last hour, or its own rolling window when shorter. */
export function rateWindowMs(spec: Pick<LimitSpec, 'fixed' | 'windowMs'>): number {
  return spec.fixed === null ? Math.min(spec.windowMs, FORECAST_RATE_MS) : FORECAST_RATE_MS;
}

export interface Forecast {
  /** USD micro-dollars an hour at the recent rate. */
  readonly rateMicrosPerHour: number;
  /** What the rate is read over (ms): "spend over the last hour". */
  readonly rateWindowMs: number;
  /** Until the limit is exhausted at that rate (0: already), or null when nothing was spent recently. */
  readonly exhaustedInMs: number | null;
  /** Whether that comes before the window resets (a limit with no reset: always, when it comes). */
  readonly beforeReset: boolean;
}

/** `remaining` is what is left of the limit; `recent` what was spent over `rateWindowMs`; `resetInMs` null when none. */
export function forecastOf(input: { remaining: number; recent: number; rateWindowMs: number; resetInMs: number | null }): Forecast {
  const { remaining, recent, rateWindowMs: window } = input;
  const perMs = window > 0 ? recent / window : 0;
  const exhaustedInMs = remaining <= 0 ? 0 : perMs > 0 ? Math.ceil(remaining / perMs) : null;
  return {
    rateMicrosPerHour: Math.round(perMs * 3_600_000),
    rateWindowMs: window,
    exhaustedInMs,
    beforeReset: exhaustedInMs !== null && (input.resetInMs === null || exhaustedInMs < input.resetInMs),
  };
}
