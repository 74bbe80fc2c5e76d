// Threshold alerts on USD limits: after each settle, fire each threshold once per window, re-arm when usage falls back below it.
import type { LimitStanding } from '../ledger/ledger.ts';
import type { EventBus } from '../observability/events.ts';
import { microsToUsd } from './headers.ts';
import type { LimitSpec } from './policy.ts';

export class AlertTracker {
  readonly #bus: EventBus;
  /** limit id → thresholds that fired and have not re-armed yet. */
  readonly #fired = new Map<string, Set<number>>();

  constructor(bus: EventBus) {
    this.#bus = bus;
  }

  /**
   * Compares each limit's settled usage with its thresholds: a threshold reached for the first time emits one
   * `budget_alert` event; a threshold whose usage has dropped below it (the window rolled) is armed again.
   * `specs[i]` and `standings[i]` describe the same limit.
   */
  observe(input: { agentId: string; model: string; specs: readonly LimitSpec[]; standings: readonly LimitStanding[] }): void {
    input.specs.forEach((spec, index) => {
      const standing = input.standings[index];
      if (!standing || spec.limit <= 0) return;
      const ratio = standing.used / spec.limit;
      let fired = this.#fired.get(spec.id);
      for (const threshold of spec.alerts) {
        const reached = ratio >= threshold;
        if (!reached) {
          fired?.delete(threshold);
          continue;
        }
        if (fired?.has(threshold)) continue;
        if (!fired) {
          fired = new Set();
          this.#fired.set(spec.id, fired);
        }
        fired.add(threshold);
        this.#bus.emit({
          type: 'budget_alert',
          claw_id: input.agentId,
          model: input.model,
          intervention: 'budget_alert',
          limit_id: spec.id,
          scope: spec.scope,
          window: spec.window,
          behavior: spec.behavior,
          threshold,
          used_usd: microsToUsd(standing.used),
          limit_usd: microsToUsd(spec.limit),
          used_micros: standing.used,
          limit_micros: spec.limit,
          source: spec.source.file,
        });
      }
      if (fired && fired.size === 0) this.#fired.delete(spec.id);
    });
  }
}
