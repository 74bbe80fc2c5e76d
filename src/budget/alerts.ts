// Threshold alerts on USD limits: after each settle, each threshold reached fires once per window, on one replica only.
import { randomUUID } from 'node:crypto';
import type { Ledger, LimitCheck, LimitStanding } from '../ledger/ledger.ts';
import { forecastOf, rateWindowMs } from './forecast.ts';
import type { EventBus } from '../observability/events.ts';
import { microsToUsd } from '../pricing/money.ts';
import type { LimitSpec } from './policy/policy.ts';

/**
 * A threshold reached fires one `budget_alert` event, then stays quiet for one window length (the usage that reached
 * it takes that long to leave the window): "once per threshold per window". The claim lives in the ledger, so replicas
 * sharing a Redis ledger fire it once between them, not once each; each process remembers claims it has seen, so a
 * threshold held by a claim costs the ledger nothing on later settles.
 */
export class AlertTracker {
  readonly #bus: EventBus;
  readonly #ledger: Pick<Ledger, 'claimOnce' | 'standing'>;
  readonly #now: () => number;
  /** claim key → until when a claim (ours or another replica's) is known to hold. */
  readonly #held = new Map<string, number>();

  constructor(options: { bus: EventBus; ledger: Pick<Ledger, 'claimOnce' | 'standing'>; now?: () => number }) {
    this.#bus = options.bus;
    this.#ledger = options.ledger;
    this.#now = options.now ?? Date.now;
  }

  /** Compares each limit's settled usage with its thresholds. `specs[i]` and `standings[i]` describe the same limit. */
  async observe(input: { agentId: string; model: string; specs: readonly LimitSpec[]; standings: readonly LimitStanding[] }): Promise<void> {
    for (const [index, spec] of input.specs.entries()) {
      const standing = input.standings[index];
      if (!standing || spec.limit <= 0) continue;
      for (const threshold of spec.alerts) {
        if (standing.used / spec.limit < threshold) continue;
        const key = `alert:${spec.id}@${threshold}`;
        const now = this.#now();
        if ((this.#held.get(key) ?? 0) > now) continue;
        // a calendar window's alert is quiet until the period ends (its spend then leaves it all at once)
        const ttlMs = spec.fixed !== null && spec.fixed !== 'lifetime' && standing.resetMs !== null ? Math.max(1, standing.resetMs) : spec.windowMs;
        const claim = await this.#ledger.claimOnce({ key, ttlMs });
        this.#forgetExpired(now);
        this.#held.set(key, now + claim.heldForMs);
        if (claim.claimed) this.#emit({ agentId: input.agentId, model: input.model, spec, standing, threshold });
      }
    }
  }

  /**
   * `forecast_alert`: each USD limit that, at the spend rate of the last hour (or of its shorter rolling window), runs out
   * before its window resets, fires one `budget_alert` with `kind: "forecast"`, then stays quiet until the window resets
   * (or for one window length); across replicas once, as threshold alerts.
   */
  async forecast(input: { agentId: string; model: string; specs: readonly LimitSpec[]; checks: readonly LimitCheck[] }): Promise<void> {
    if (input.specs.length === 0) return;
    const rates = input.specs.map((spec) => ({
      id: `rate:${spec.id}`,
      scope: spec.scope,
      metric: 'usd_micros' as const,
      windowMs: rateWindowMs(spec),
      limit: Number.MAX_SAFE_INTEGER,
    }));
    const read = await this.#ledger.standing([...input.checks, ...rates]);
    for (const [index, spec] of input.specs.entries()) {
      const standing = read[index];
      const recent = read[input.specs.length + index];
      const forecast = forecastOf({ remaining: standing.remaining, recent: recent.used, rateWindowMs: recent.windowMs, resetInMs: standing.resetMs });
      if (!forecast.beforeReset || forecast.exhaustedInMs === 0) continue; // run out already: the limit itself refuses
      const key = `forecast:${spec.id}`;
      const now = this.#now();
      if ((this.#held.get(key) ?? 0) > now) continue;
      const claim = await this.#ledger.claimOnce({ key, ttlMs: Math.max(1, standing.resetMs ?? spec.windowMs) });
      this.#held.set(key, now + claim.heldForMs);
      if (!claim.claimed) continue;
      this.#emit({
        agentId: input.agentId,
        model: input.model,
        spec,
        standing,
        threshold: Math.round((standing.used / spec.limit) * 1e4) / 1e4,
        forecast: { exhausted_at: new Date(now + (forecast.exhaustedInMs ?? 0)).toISOString(), rate_usd_per_hour: microsToUsd(forecast.rateMicrosPerHour) },
      });
    }
  }

  #emit(input: {
    agentId: string;
    model: string;
    spec: LimitSpec;
    standing: LimitStanding;
    threshold: number;
    forecast?: { exhausted_at: string; rate_usd_per_hour: number };
  }): void {
    const { spec, standing } = input;
    this.#bus.emit({
      type: 'budget_alert',
      claw_id: input.agentId,
      model: input.model,
      intervention: 'budget_alert',
      // one id per alert fired, the same in every try of its webhook delivery: a receiver drops a repeat by it
      alert_id: randomUUID(),
      limit_id: spec.id,
      scope: spec.scope,
      window: spec.window,
      behavior: spec.behavior,
      threshold: input.threshold,
      used_usd: microsToUsd(standing.used),
      limit_usd: microsToUsd(spec.limit),
      used_micros: standing.used,
      limit_micros: spec.limit,
      source: spec.source.file,
      ...(input.forecast ? { kind: 'forecast' as const, ...input.forecast } : {}),
    });
  }

  #forgetExpired(now: number): void {
    if (this.#held.size < 1024) return;
    for (const [key, until] of this.#held) if (until <= now) this.#held.delete(key);
  }
}
