// The effective budget policy of an agent: sources merged field by field (later wins), validated, turned into limits.
import type { Metric } from '../../ledger/ledger.ts';
import { usdToMicros } from '../../pricing/money.ts';
import { isTimeZone, type FixedWindow } from '../calendar.ts';
import { DEFAULT_LOOP, type LoopSettings } from '../loop-policy.ts';
import {
  AMOUNT_FIELDS,
  POLICY_FIELDS,
  type AmountField,
  type Behavior,
  type FallbackRates,
  type FieldValues,
  type LimitAmounts,
  type ParsedSource,
  type PolicyField,
  type PolicySource,
  type UnknownCostMode,
} from './fields.ts';

export * from './fields.ts';

/** One enforceable limit, ready to become a ledger LimitCheck. */
export interface LimitSpec {
  /** Stable id: `<scope>/<metric>/<window>`, e.g. `agent:a/usd/1h`, `shared:team/requests/1d`, `agent:a/concurrency`. */
  readonly id: string;
  /** `agent:<id>`, `shared:<name>`, or either followed by `|model:<globs>` for a model-scoped limit. */
  readonly scope: string;
  readonly metric: Metric | 'concurrency';
  /** Integer; micro-dollars for usd_micros. */
  readonly limit: number;
  /** The window as written ('' for concurrency). */
  readonly window: string;
  readonly windowMs: number;
  /** `day` / `week` / `month` (aligned to `zone`'s calendar) or `lifetime`; null for a rolling window. */
  readonly fixed: FixedWindow | null;
  /** The time zone calendar windows follow: the policy's `timezone`, else the agent's metadata `timezone`, else UTC. */
  readonly zone: string;
  readonly behavior: Behavior;
  /** Globs this limit is scoped to (matched against `provider/model` and the requested model), null = every model. */
  readonly models: readonly string[] | null;
  readonly modelPattern: RegExp | null;
  /** Alert thresholds (fractions of the limit); USD limits only. */
  readonly alerts: readonly number[];
  readonly source: PolicySource;
  /** The field that set it, e.g. `limit_usd`, `limits[1].max_requests`, `max_concurrent`. */
  readonly field: string;
  /** Every amount of the entry that set it (cllama's 429 body shows `limit_usd` / `max_requests` when set). */
  readonly entry: LimitAmounts & { readonly max_concurrent?: number };
  /** A session limit, as planned for one request: the session id (its scope is that session's). */
  readonly sessionId?: string;
}

/** The policy's `session` block and its limits (their scope is a template: the plan appends the request's session id). */
export interface SessionLimits {
  readonly header: string;
  readonly idleMs: number;
  readonly specs: readonly LimitSpec[];
}

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

const METRIC_OF: Readonly<Record<AmountField, Metric>> = {
  limit_usd: 'usd_micros',
  max_requests: 'requests',
  max_input_tokens: 'input_tokens',
  max_output_tokens: 'output_tokens',
  max_total_tokens: 'total_tokens',
};

const SHORT_NAME: Readonly<Record<string, string>> = { usd_micros: 'usd', requests: 'requests', input_tokens: 'input_tokens', output_tokens: 'output_tokens', total_tokens: 'total_tokens', concurrency: 'concurrency' };

/** A shared budget as the store holds it: its parsed file, or null when no such file exists. */
export type SharedLookup = (name: string) => { readonly parsed: ParsedSource } | null;

/**
 * Merges `sources` in order (metadata budget, context override, governance file): for every field, the last source that
 * sets it wins (null/absent keeps the earlier value; `limits` and `shared` arrays are replaced whole). Sources whose
 * `expires_at` is at or before `now` are skipped. Then validates what is in force and builds the limits.
 */
export function resolvePolicy(input: { agentId: string; sources: readonly ParsedSource[]; shared: SharedLookup; sharedDir: string | null; now: number; agentTimezone?: string }): PolicyResult {
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
      problems.push(`${where.parsed.source.file}: ${where.parsed.prefix}shared[${index}]: no shared budget named "${name}"${input.sharedDir ? ` (expected ${input.sharedDir}/${name}.json)` : ' (CLAW_GOVERNANCE_DIR is not set)'}`);
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
  for (const field of ['shared', 'unknown_cost', 'fallback_rates', 'alerts', 'downgrade_to', 'downgrade_at', 'cap_output_tokens', 'session', 'loop', 'forecast_alert'] as const) reportInvalid(merged, field, problems);
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

interface Merged {
  readonly values: Partial<FieldValues>;
  readonly invalid: Map<PolicyField, readonly string[]>;
  /** The source each field in force came from (valid or not). */
  readonly origin: Map<PolicyField, { readonly parsed: ParsedSource }>;
}

function mergeSources(sources: readonly ParsedSource[]): Merged {
  const values: Record<string, unknown> = {};
  const invalid = new Map<PolicyField, readonly string[]>();
  const origin = new Map<PolicyField, { parsed: ParsedSource }>();
  for (const field of POLICY_FIELDS) {
    for (let index = sources.length - 1; index >= 0; index--) {
      const parsed = sources[index];
      const problem = parsed.invalid.get(field);
      const value = parsed.values[field];
      if (problem === undefined && value === undefined) continue;
      origin.set(field, { parsed });
      if (problem) invalid.set(field, problem.messages.map((message) => `${parsed.source.file}: ${message}`));
      else values[field] = value;
      break;
    }
  }
  return { values: values as Partial<FieldValues>, invalid, origin };
}

function reportInvalid(merged: Merged, field: PolicyField, problems: string[]): void {
  const messages = merged.invalid.get(field);
  if (messages) problems.push(...messages);
}

/**
 * The limits one policy (an agent's merged sources, or a shared budget file) sets. Top-level `window` and `behavior`
 * are checked only when something uses them (cllama: no limit set = no enforcement, whatever the other fields say).
 */
function buildLimits(input: { merged: Merged; scopeBase: string; problems: string[]; zone: string }): LimitSpec[] {
  const { merged, scopeBase, problems } = input;
  const fields = merged.values;
  reportInvalid(merged, 'timezone', problems);
  const zone = fields.timezone ?? input.zone;
  const specs: LimitSpec[] = [];
  for (const field of [...AMOUNT_FIELDS, 'max_concurrent', 'limits'] as const) reportInvalid(merged, field, problems);
  const topAmounts: Partial<Record<AmountField, number>> = {};
  for (const field of AMOUNT_FIELDS) if (fields[field] !== undefined) topAmounts[field] = fields[field];
  const topFields = Object.keys(topAmounts) as AmountField[];
  const entriesNeedBehavior = (fields.limits ?? []).some((entry) => entry.behavior === undefined) || topFields.length > 0;
  if (entriesNeedBehavior) reportInvalid(merged, 'behavior', problems);
  const topBehavior: Behavior = fields.behavior ?? 'hard_stop';
  const alerts = fields.alerts ?? [];

  if (topFields.length > 0) {
    const window = fields.window;
    if (merged.invalid.has('window')) reportInvalid(merged, 'window', problems);
    else if (!window) {
      const where = merged.origin.get(topFields[0])!.parsed;
      problems.push(`${where.source.file}: ${where.prefix}window: is required when ${where.prefix}${topFields.join('/')} is set`);
    } else {
      for (const field of topFields) {
        specs.push(makeSpec({ scopeBase, models: null, metric: METRIC_OF[field], amount: topAmounts[field]!, window: window.text, windowMs: window.ms, fixed: window.fixed ?? null, zone, behavior: topBehavior, alerts, source: merged.origin.get(field)!.parsed.source, field, entry: topAmounts }));
      }
    }
  }
  (fields.limits ?? []).forEach((entry, index) => {
    for (const field of AMOUNT_FIELDS) {
      const amount = entry.amounts[field];
      if (amount === undefined) continue;
      specs.push(makeSpec({ scopeBase, models: entry.models, metric: METRIC_OF[field], amount, window: entry.window, windowMs: entry.windowMs, fixed: entry.fixed ?? null, zone, behavior: entry.behavior ?? topBehavior, alerts, source: merged.origin.get('limits')!.parsed.source, field: `limits[${index}].${field}`, entry: entry.amounts }));
    }
  });
  if (fields.max_concurrent !== undefined) {
    specs.push(makeSpec({ scopeBase, models: null, metric: 'concurrency', amount: fields.max_concurrent, window: '', windowMs: 0, fixed: null, zone, behavior: 'rate_limit', alerts: [], source: merged.origin.get('max_concurrent')!.parsed.source, field: 'max_concurrent', entry: { max_concurrent: fields.max_concurrent } }));
  }
  return specs;
}

/** The `session` block's limits: lifetime totals on `session:<idle ms>:<agent>:` + the request's session id. */
function sessionLimits(merged: Merged, agentId: string): SessionLimits | null {
  const session = merged.values.session;
  if (!session) return null;
  const source = merged.origin.get('session')!.parsed.source;
  const behavior = session.behavior ?? merged.values.behavior ?? 'hard_stop';
  const specs: LimitSpec[] = [];
  for (const field of AMOUNT_FIELDS) {
    const amount = session.amounts[field];
    if (amount === undefined) continue;
    const spec = makeSpec({ scopeBase: `session:${session.idleMs}:${agentId}:`, models: null, metric: METRIC_OF[field], amount, window: 'session', windowMs: session.idleMs, fixed: 'lifetime', zone: 'UTC', behavior, alerts: [], source, field: `session.${field}`, entry: session.amounts });
    specs.push({ ...spec, id: `agent:${agentId}/session/${SHORT_NAME[spec.metric]}` });
  }
  return { header: session.header, idleMs: session.idleMs, specs };
}

function makeSpec(input: {
  scopeBase: string;
  models: readonly string[] | null;
  metric: Metric | 'concurrency';
  amount: number;
  window: string;
  windowMs: number;
  fixed: FixedWindow | null;
  zone: string;
  behavior: Behavior;
  alerts: readonly number[];
  source: PolicySource;
  field: string;
  entry: LimitSpec['entry'];
}): LimitSpec {
  const scope = input.models ? `${input.scopeBase}|model:${input.models.join(',')}` : input.scopeBase;
  const usd = input.metric === 'usd_micros';
  const short = SHORT_NAME[input.metric];
  return {
    id: input.metric === 'concurrency' ? `${scope}/${short}` : `${scope}/${short}/${input.window}`,
    scope,
    metric: input.metric,
    limit: usd ? usdToMicros(input.amount) : input.amount,
    window: input.window,
    windowMs: input.windowMs,
    fixed: input.fixed,
    zone: input.zone,
    behavior: input.behavior,
    models: input.models,
    modelPattern: input.models ? globsToPattern(input.models) : null,
    alerts: usd ? input.alerts : [],
    source: input.source,
    field: input.field,
    entry: input.entry,
  };
}

/** `*` matches any run of characters (including `/`), `?` one character; case-insensitive; any glob may match. */
export function globsToPattern(globs: readonly string[]): RegExp {
  const alternatives = globs.map((glob) => glob.split('').map((char) => (char === '*' ? '.*' : char === '?' ? '.' : char.replace(/[.+^${}()|[\]\\]/g, '\\$&'))).join(''));
  return new RegExp(`^(?:${alternatives.join('|')})$`, 'i');
}

function uniqueIds(specs: LimitSpec[]): LimitSpec[] {
  const seen = new Map<string, number>();
  return specs.map((spec) => {
    const count = (seen.get(spec.id) ?? 0) + 1;
    seen.set(spec.id, count);
    return count === 1 ? spec : { ...spec, id: `${spec.id}#${count}` };
  });
}

function unavailable(agentId: string, problems: string[], validUntil: number | null): PolicyUnavailable {
  return { kind: 'unavailable', agentId, reason: problems[0], problems, validUntil };
}
