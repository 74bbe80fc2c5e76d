// The fields budget events carry about a limit and its standing, and which limit an allow decision reports.
import type { LimitStanding } from '../../ledger/ledger.ts';
import type { LimitFields } from '../../observability/events.ts';
import type { LimitSpec } from './policy.ts';

export function limitFields(spec: LimitSpec, standing: LimitStanding | undefined): LimitFields {
  return addLimitFields({}, spec, standing);
}

/** The limit and its standing as event fields, added to `event` in place. */
export function addLimitFields<E extends Partial<LimitFields>>(event: E, spec: LimitSpec, standing: LimitStanding | undefined): E & LimitFields {
  event.limit_id = spec.id;
  event.scope = spec.scope;
  event.metric = spec.metric;
  event.window = spec.window;
  event.limit = spec.limit;
  event.used = standing?.used ?? null;
  event.reserved = standing?.reserved ?? null;
  event.remaining = standing?.remaining ?? null;
  return event as E & LimitFields; // every field set just above
}

/** The limit with the least remaining share (what an allow decision reports). */
export function tightest(specs: readonly LimitSpec[], standings: readonly LimitStanding[]): { spec: LimitSpec; standing: LimitStanding } | null {
  let best: { spec: LimitSpec; standing: LimitStanding; share: number } | null = null;
  for (const standing of standings) {
    const spec = specs.find((candidate) => candidate.id === standing.id);
    if (!spec) continue;
    const share = spec.limit > 0 ? standing.remaining / spec.limit : 0;
    if (!best || share < best.share) best = { spec, standing, share };
  }
  return best && { spec: best.spec, standing: best.standing };
}
