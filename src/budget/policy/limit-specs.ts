// Limit specs from a merged policy: each amount field (top level, `limits[]`, `session`, `max_concurrent`) becomes one limit.
import type { Metric } from '../../ledger/ledger.ts';
import { usdToMicros } from '../../pricing/money.ts';
import type { FixedWindow } from '../calendar.ts';
import { AMOUNT_FIELDS, type AmountField, type Behavior, type LimitAmounts, type PolicySource } from './fields.ts';
import { type Merged, originOf, reportInvalid } from './merge.ts';

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

const METRIC_OF: Readonly<Record<AmountField, Metric>> = {
  limit_usd: 'usd_micros',
  max_requests: 'requests',
  max_input_tokens: 'input_tokens',
  max_output_tokens: 'output_tokens',
  max_total_tokens: 'total_tokens',
};

const SHORT_NAME: Readonly<Record<string, string>> = {
  usd_micros: 'usd',
  requests: 'requests',
  input_tokens: 'input_tokens',
  output_tokens: 'output_tokens',
  total_tokens: 'total_tokens',
  concurrency: 'concurrency',
};

/**
 * The limits one policy (an agent's merged sources, or a shared budget file) sets. Top-level `window` and `behavior`
 * are checked only when something uses them (cllama: no limit set = no enforcement, whatever the other fields say).
 */
export function buildLimits(input: { merged: Merged; scopeBase: string; problems: string[]; zone: string }): LimitSpec[] {
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
      const where = originOf(merged, topFields[0]);
      problems.push(`${where.source.file}: ${where.prefix}window: is required when ${where.prefix}${topFields.join('/')} is set`);
    } else {
      for (const [field, amount] of Object.entries(topAmounts) as [AmountField, number][]) {
        specs.push(
          makeSpec({
            scopeBase,
            models: null,
            metric: METRIC_OF[field],
            amount,
            window: window.text,
            windowMs: window.ms,
            fixed: window.fixed ?? null,
            zone,
            behavior: topBehavior,
            alerts,
            source: originOf(merged, field).source,
            field,
            entry: topAmounts,
          }),
        );
      }
    }
  }
  (fields.limits ?? []).forEach((entry, index) => {
    for (const field of AMOUNT_FIELDS) {
      const amount = entry.amounts[field];
      if (amount === undefined) continue;
      specs.push(
        makeSpec({
          scopeBase,
          models: entry.models,
          metric: METRIC_OF[field],
          amount,
          window: entry.window,
          windowMs: entry.windowMs,
          fixed: entry.fixed ?? null,
          zone,
          behavior: entry.behavior ?? topBehavior,
          alerts,
          source: originOf(merged, 'limits').source,
          field: `limits[${index}].${field}`,
          entry: entry.amounts,
        }),
      );
    }
  });
  if (fields.max_concurrent !== undefined) {
    specs.push(
      makeSpec({
        scopeBase,
        models: null,
        metric: 'concurrency',
        amount: fields.max_concurrent,
        window: '',
        windowMs: 0,
        fixed: null,
        zone,
        behavior: 'rate_limit',
        alerts: [],
        source: originOf(merged, 'max_concurrent').source,
        field: 'max_concurrent',
        entry: { max_concurrent: fields.max_concurrent },
      }),
    );
  }
  return specs;
}

/** The `session` block's limits: lifetime totals on `session:<idle ms>:<agent>:` + the request's session id. */
export function sessionLimits(merged: Merged, agentId: string): SessionLimits | null {
  const session = merged.values.session;
  if (!session) return null;
  const source = originOf(merged, 'session').source;
  const behavior = session.behavior ?? merged.values.behavior ?? 'hard_stop';
  const specs: LimitSpec[] = [];
  for (const field of AMOUNT_FIELDS) {
    const amount = session.amounts[field];
    if (amount === undefined) continue;
    const spec = makeSpec({
      scopeBase: `session:${session.idleMs}:${agentId}:`,
      models: null,
      metric: METRIC_OF[field],
      amount,
      window: 'session',
      windowMs: session.idleMs,
      fixed: 'lifetime',
      zone: 'UTC',
      behavior,
      alerts: [],
      source,
      field: `session.${field}`,
      entry: session.amounts,
    });
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
  const alternatives = globs.map((glob) =>
    glob
      .split('')
      .map((char) => (char === '*' ? '.*' : char === '?' ? '.' : char.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
      .join(''),
  );
  return new RegExp(`^(?:${alternatives.join('|')})$`, 'i');
}

export function uniqueIds(specs: LimitSpec[]): LimitSpec[] {
  const seen = new Map<string, number>();
  return specs.map((spec) => {
    const count = (seen.get(spec.id) ?? 0) + 1;
    seen.set(spec.id, count);
    return count === 1 ? spec : { ...spec, id: `${spec.id}#${count}` };
  });
}
