// The effective budget policy of an agent: sources merged field by field (later wins), validated, turned into limits.
import { isTimeZone } from '../calendar.ts';
import { DEFAULT_LOOP, type LoopSettings } from '../loop-policy.ts';
import type { FallbackRates, FieldValues, ParsedSource, PolicyField, PolicySource, UnknownCostMode } from './fields.ts';
import { buildLimits, type LimitSpec, type SessionLimits, sessionLimits, uniqueIds } from './limit-specs.ts';
import { mergeSources, reportInvalid } from './merge.ts';

export * from './fields.ts';
export { globsToPattern, type LimitSpec, type SessionLimits } from './limit-specs.ts';

export interface EffectivePolicy {
  readonly kind: 'policy';
  readonly agentId: string;
  /** The agent's own limits, then those of each shared budget it draws from. Empty = no enforcement. */
  readonly limits: readonly LimitSpec[];
  readonly shared: readonly string[];
  /** `unknown_cost`; when unset, `estimate` if any USD limit applies to the agent, else `count_zero`. */
  readonly unknownCost: UnknownCostMode;
  /** `fallback_rates`; null under `estimate` means the provider's highest rates (Pricer.ceilingRates). */
  readonly fallbackRates: FallbackRates | null;
  readonly alerts: readonly number[];
  /** `forecast_alert`: a forecast alert when a USD limit runs out before it resets at the recent rate. */
  readonly forecastAlert: boolean;
  readonly downgradeTo: string | null;
  readonly downgradeAt: number | null;
  /** `cap_output_tokens` (default true): a request without an output cap gets one equal to what was reserved. */
  readonly capOutputTokens: boolean;
  /** The loop breaker's settings (the `loop` block over the defaults). */
  readonly loop: LoopSettings;
  /** Per-session limits, or null when the policy has no `session` block. */
  readonly session: SessionLimits | null;
  /** The merged field values, and the source each came from (the admin API shows both). */
  readonly fields: Partial<FieldValues>;
  readonly sources: Partial<Record<PolicyField, PolicySource>>;
  /** Sources skipped because their `expires_at` has passed. */
  readonly expired: readonly PolicySource[];
  /** Earliest future `expires_at` of an applied source: the policy must be recomputed then. Null = never. */
  readonly validUntil: number | null;
}

/** The budget check cannot run for this agent: a source is unreadable or a field in force is invalid. */
export interface PolicyUnavailable {
  readonly kind: 'unavailable';
  readonly agentId: string;
  /** The first problem, `file: field: message`. */
  readonly reason: string;
  readonly problems: readonly string[];
  readonly validUntil: number | null;
}

export type PolicyResult = EffectivePolicy | PolicyUnavailable;

/** A shared budget as the store holds it: its parsed file, or null when no such file exists. */
export type SharedLookup = (name: string) => { readonly parsed: ParsedSource } | null;

/**
 * Merges `sources` in order (metadata budget, context override, governance file): for every field, the last source that
 * sets it wins (null/absent keeps the earlier value; `limits` and `shared` arrays are replaced whole). Sources whose
 * `expires_at` is at or before `now` are skipped. Then validates what is in force and builds the limits.
 */
export function resolvePolicy(input: {
  agentId: string;
  sources: readonly ParsedSource[];
  shared: SharedLookup;
  sharedDir: string | null;
  now: number;
  agentTimezone?: string;
}): PolicyResult {
  const { agentId, now } = input;
  const problems: string[] = [];
  const expired: PolicySource[] = [];
  let validUntil: number | null = null;
  const applied: ParsedSource[] = [];
  for (const parsed of input.sources) {
    if (parsed.fatal) {
      problems.push(`${parsed.source.file}: ${parsed.fatal}`);
      continue;
    }
    const expiryProblem = parsed.invalid.get('expires_at');
    if (expiryProblem) {
      problems.push(...expiryProblem.messages.map((message) => `${parsed.source.file}: ${message}`));
      continue;
    }
    const expiresAt = parsed.values.expires_at?.ms;
    if (expiresAt !== undefined && expiresAt <= now) {
      expired.push(parsed.source);
      continue;
    }
    if (expiresAt !== undefined) validUntil = validUntil === null ? expiresAt : Math.min(validUntil, expiresAt);
    applied.push(parsed);
  }
  if (problems.length > 0) return unavailable(agentId, problems, validUntil);

  const merged = mergeSources(applied);
  const agentZone = input.agentTimezone && isTimeZone(input.agentTimezone) ? input.agentTimezone : 'UTC';
  const ownLimits = buildLimits({ merged, scopeBase: `agent:${agentId}`, problems, zone: agentZone });
  const fields = merged.values;
  const shared = fields.shared ?? [];
  const sharedLimits: LimitSpec[] = [];
  shared.forEach((name, index) => {
    const found = input.shared(name);
    const where = merged.origin.get('shared')!;
    if (!found) {
      problems.push(
        `${where.parsed.source.file}: ${where.parsed.prefix}shared[${index}]: no shared budget named "${name}"${input.sharedDir ? ` (expected ${input.sharedDir}/${name}.json)` : ' (CLAW_GOVERNANCE_DIR is not set)'}`,
      );
      return;
    }
    if (found.parsed.fatal) {
      problems.push(`${found.parsed.source.file}: ${found.parsed.fatal}`);
      return;
    }
    sharedLimits.push(...buildLimits({ merged: mergeSources([found.parsed]), scopeBase: `shared:${name}`, problems, zone: 'UTC' }));
  });

  // with a USD limit in force an unknown price is estimated by default (at the provider's highest rates unless
  // fallback_rates says otherwise), so a model newer than the price table cannot spend past the limit for free
  const limits = uniqueIds([...ownLimits, ...sharedLimits]);
  const unknownCost = fields.unknown_cost ?? (limits.some((spec) => spec.metric === 'usd_micros') ? 'estimate' : 'count_zero');
  for (const field of [
    'shared',
    'unknown_cost',
    'fallback_rates',
    'alerts',
    'downgrade_to',
    'downgrade_at',
    'cap_output_tokens',
    'session',
    'loop',
    'forecast_alert',
  ] as const)
    reportInvalid(merged, field, problems);
  if (problems.length > 0) return unavailable(agentId, problems, validUntil);

  const sources: Partial<Record<PolicyField, PolicySource>> = {};
  for (const [field, origin] of merged.origin) if (!merged.invalid.has(field)) sources[field] = origin.parsed.source;
  return {
    kind: 'policy',
    agentId,
    limits,
    shared,
    unknownCost,
    fallbackRates: fields.fallback_rates ?? null,
    alerts: fields.alerts ?? [],
    forecastAlert: fields.forecast_alert ?? false,
    downgradeTo: fields.downgrade_to ?? null,
    downgradeAt: fields.downgrade_at ?? null,
    capOutputTokens: fields.cap_output_tokens ?? true,
    session: sessionLimits(merged, agentId),
    loop: fields.loop ?? DEFAULT_LOOP,
    fields,
    sources,
    expired,
    validUntil,
  };
}

function unavailable(agentId: string, problems: string[], validUntil: number | null): PolicyUnavailable {
  return { kind: 'unavailable', agentId, reason: problems[0], problems, validUntil };
}
