// Reads one budget policy source (a JSON object) field by field: each field present is either a typed value or its problems.
import { isPlainAgentId } from '../../auth/agent.ts';
import { usdToMicros } from '../../pricing/money.ts';
import { parseWindow } from '../duration.ts';
import { CALENDAR_MAX_MS, CALENDAR_WINDOWS, isTimeZone, type FixedWindow } from '../calendar.ts';
import { readSessionBlock, type SessionPolicy } from '../session-policy.ts';
import { readLoopBlock, type LoopSettings } from '../loop-policy.ts';
import { LEDGER_RETENTION_MS } from '../../ledger/ledger.ts';
import { collapseModelName, invisibleCharacter } from '../../upstream/model-name.ts';

export type Behavior = 'hard_stop' | 'rate_limit' | 'soft_alert';
export type UnknownCostMode = 'count_zero' | 'block' | 'estimate';
export type SourceKind = 'metadata' | 'context_override' | 'governance' | 'shared';

/** Where a policy field came from: the file, and its kind in the merge order. */
export interface PolicySource {
  readonly kind: SourceKind;
  readonly file: string;
}

/** The windowed amount limits one entry can set. USD as written; counts are integers. */
export interface LimitAmounts {
  readonly limit_usd?: number;
  readonly max_requests?: number;
  readonly max_input_tokens?: number;
  readonly max_output_tokens?: number;
  readonly max_total_tokens?: number;
}

export const AMOUNT_FIELDS = ['limit_usd', 'max_requests', 'max_input_tokens', 'max_output_tokens', 'max_total_tokens'] as const;
export type AmountField = (typeof AMOUNT_FIELDS)[number];

/** One entry of `limits`: amounts over one window, with its own behaviour and optional model scope. */
export interface LimitEntry {
  readonly amounts: LimitAmounts;
  readonly window: string;
  readonly windowMs: number;
  /** `day`, `week`, `month` (calendar, in the policy's time zone) or `lifetime`; absent for a rolling window. */
  readonly fixed?: FixedWindow;
  /** Absent: the policy's top-level behaviour applies (hard_stop when none). */
  readonly behavior?: Behavior;
  /** `provider/model` globs; null = every model. */
  readonly models: readonly string[] | null;
}

export interface FallbackRates {
  readonly input_per_mtok: number;
  readonly output_per_mtok: number;
}

/** Typed value of every field a policy file may hold. */
export interface FieldValues extends LimitAmounts {
  readonly max_concurrent?: number;
  readonly window?: WindowValue;
  readonly behavior?: Behavior;
  /** IANA time zone of calendar windows (`Europe/Paris`); else the agent's metadata `timezone`, else UTC. */
  readonly timezone?: string;
  readonly limits?: readonly LimitEntry[];
  readonly shared?: readonly string[];
  readonly unknown_cost?: UnknownCostMode;
  readonly fallback_rates?: FallbackRates;
  readonly alerts?: readonly number[];
  /** Alert (webhook) when a USD limit will run out before its window resets at the recent rate. */
  readonly forecast_alert?: boolean;
  readonly downgrade_to?: string;
  readonly downgrade_at?: number;
  readonly cap_output_tokens?: boolean;
  /** Limits per session id (`x-tollgate-session`), each session expiring once idle. */
  readonly session?: SessionPolicy;
  /** Loop breaker thresholds and escalation (defaults: on, alert only). */
  readonly loop?: LoopSettings;
  readonly reason?: string;
  readonly set_by?: string;
  readonly expires_at?: { readonly text: string; readonly ms: number };
}

export type PolicyField = keyof FieldValues;

/** A window as written: rolling (`ms` its length) or fixed (`ms` the longest the period can last, for alert quiet times). */
export interface WindowValue {
  readonly text: string;
  readonly ms: number;
  readonly fixed?: FixedWindow;
}

/** A field that was present but unusable: its problems, each already `field: message`. */
export interface FieldProblem {
  readonly field: PolicyField;
  readonly messages: readonly string[];
}

export interface ParsedSource {
  readonly source: PolicySource;
  /** Prefix shown before field names in messages (`budget.` for metadata.json). */
  readonly prefix: string;
  /** Fields present with a usable value (null, absent and blank strings are "not set": an earlier source is kept). */
  readonly values: Partial<FieldValues>;
  /** Fields present with an unusable value. They still override earlier sources in the merge. */
  readonly invalid: ReadonlyMap<PolicyField, FieldProblem>;
  /** The whole source is unusable (not a JSON object, unreadable, unparsable). */
  readonly fatal: string | null;
  /** Fields that are ignored (unknown names, fields that do not apply to this kind of file). */
  readonly warnings: readonly string[];
}

const BEHAVIORS: readonly Behavior[] = ['hard_stop', 'rate_limit', 'soft_alert'];
const UNKNOWN_COST_MODES: readonly UnknownCostMode[] = ['count_zero', 'block', 'estimate'];
const WINDOW_MESSAGE = 'must be a positive duration like 1h or 7d';
const SHARED_FIELDS = new Set<string>([...AMOUNT_FIELDS, 'max_concurrent', 'window', 'behavior', 'limits', 'alerts', 'timezone', 'forecast_alert']);
const LIMIT_ENTRY_FIELDS = new Set<string>([...AMOUNT_FIELDS, 'window', 'behavior', 'models']);

type Reader = (raw: unknown, field: string, problems: string[]) => unknown;

const READERS: Readonly<Record<PolicyField, Reader>> = {
  limit_usd: readUsd,
  max_requests: readCount,
  max_input_tokens: readCount,
  max_output_tokens: readCount,
  max_total_tokens: readCount,
  max_concurrent: readCount,
  window: (raw, field, problems) => {
    const text = readString(raw, field, problems);
    if (text === undefined) return undefined;
    const fixed = text.trim().toLowerCase() as FixedWindow;
    if (CALENDAR_WINDOWS.includes(fixed)) return { text: fixed, ms: fixed === 'lifetime' ? LEDGER_RETENTION_MS : CALENDAR_MAX_MS[fixed], fixed };
    const ms = parseWindow(text);
    if (ms === null) return fail(problems, field, WINDOW_MESSAGE);
    if (ms > LEDGER_RETENTION_MS) return fail(problems, field, `must be at most 35d: the ledger keeps 35 days of usage, a longer window would be cut short`);
    return { text: text.trim(), ms };
  },
  behavior: readBehavior,
  timezone: (raw, field, problems) => {
    const text = readString(raw, field, problems);
    if (text === undefined) return undefined;
    return isTimeZone(text.trim()) ? text.trim() : fail(problems, field, `must be an IANA time zone like "Europe/Paris" or "UTC", got "${text.slice(0, 64)}"`);
  },
  limits: readLimits,
  shared: (raw, field, problems) => {
    if (!Array.isArray(raw)) return fail(problems, field, `must be an array of shared budget names, got ${typeName(raw)}`);
    const before = problems.length;
    raw.forEach((name, index) => {
      if (typeof name !== 'string' || !isPlainAgentId(name)) problems.push(`${field}[${index}]: must be a plain name (letters, digits, . _ -)`);
    });
    return problems.length > before ? undefined : [...new Set(raw as string[])];
  },
  unknown_cost: (raw, field, problems) => {
    const text = readString(raw, field, problems);
    if (text === undefined) return undefined;
    const mode = text.trim().toLowerCase() as UnknownCostMode;
    return UNKNOWN_COST_MODES.includes(mode) ? mode : fail(problems, field, `must be one of ${UNKNOWN_COST_MODES.join(', ')}, got "${text}"`);
  },
  fallback_rates: (raw, field, problems) => {
    if (!isObject(raw)) return fail(problems, field, `must be an object { input_per_mtok, output_per_mtok }, got ${typeName(raw)}`);
    const before = problems.length;
    for (const key of ['input_per_mtok', 'output_per_mtok']) {
      const value = raw[key];
      if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) problems.push(`${field}.${key}: must be a number >= 0 (USD per million tokens)`);
    }
    return problems.length > before ? undefined : { input_per_mtok: raw.input_per_mtok as number, output_per_mtok: raw.output_per_mtok as number };
  },
  alerts: (raw, field, problems) => {
    if (!Array.isArray(raw)) return fail(problems, field, `must be an array of fractions of the USD limit like [0.5, 0.8, 1], got ${typeName(raw)}`);
    const before = problems.length;
    raw.forEach((value, index) => {
      if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > 10)
        problems.push(`${field}[${index}]: must be a fraction of the USD limit greater than 0 (1 = 100%)`);
    });
    return problems.length > before ? undefined : [...new Set(raw as number[])].sort((a, b) => a - b);
  },
  downgrade_to: (raw, field, problems) => {
    const text = readString(raw, field, problems);
    if (text === undefined) return undefined;
    const model = collapseModelName(text);
    const invisible = invisibleCharacter(model);
    if (invisible) return fail(problems, field, `holds an invisible or control character (${invisible})`);
    const slash = model.indexOf('/');
    return slash > 0 && slash < model.length - 1 ? model : fail(problems, field, `must be a provider-prefixed model like "openai/gpt-4o-mini", got "${text}"`);
  },
  downgrade_at: (raw, field, problems) => {
    if (typeof raw !== 'number' || !Number.isFinite(raw) || raw <= 0)
      return fail(problems, field, 'must be a fraction of the USD limit greater than 0, like 0.8');
    return raw;
  },
  session: (raw, field, problems) =>
    readSessionBlock({
      raw,
      field,
      problems,
      readers: { usd: readUsd, count: readCount, behavior: readBehavior, duration: parseWindow, maxIdleMs: LEDGER_RETENTION_MS },
    }),
  loop: (raw, field, problems) => readLoopBlock({ raw, field, problems, duration: parseWindow }),
  forecast_alert: (raw, field, problems) => (typeof raw === 'boolean' ? raw : fail(problems, field, `must be true or false, got ${typeName(raw)}`)),
  cap_output_tokens: (raw, field, problems) => (typeof raw === 'boolean' ? raw : fail(problems, field, `must be true or false, got ${typeName(raw)}`)),
  reason: readString,
  set_by: readString,
  expires_at: (raw, field, problems) => {
    const text = readString(raw, field, problems);
    if (text === undefined) return undefined;
    const ms = Date.parse(text);
    return Number.isFinite(ms) ? { text, ms } : fail(problems, field, `must be an ISO-8601 time like 2026-01-31T18:00:00Z, got "${text}"`);
  },
};

export const POLICY_FIELDS = Object.keys(READERS) as PolicyField[];

/**
 * Reads one source. `raw` undefined/null means the source is absent (an empty result). `prefix` is prepended to field
 * names in messages. Shared budget files accept only limit fields; anything else is a warning.
 */
export function parsePolicySource(input: { raw: unknown; source: PolicySource; prefix?: string }): ParsedSource {
  const { raw, source } = input;
  const prefix = input.prefix ?? '';
  const empty = { source, prefix, values: {}, invalid: new Map(), warnings: [] };
  if (raw === undefined || raw === null) return { ...empty, fatal: null };
  if (!isObject(raw)) return { ...empty, fatal: `${prefix ? `${prefix.replace(/\.$/, '')}: ` : ''}must be a JSON object, got ${typeName(raw)}` };
  const values: Record<string, unknown> = {};
  const invalid = new Map<PolicyField, FieldProblem>();
  const warnings: string[] = [];
  for (const [key, value] of Object.entries(raw)) {
    if (!(key in READERS)) {
      warnings.push(`${prefix}${key}: unknown field, ignored`);
      continue;
    }
    if (source.kind === 'shared' && !SHARED_FIELDS.has(key)) {
      warnings.push(`${prefix}${key}: does not apply to a shared budget, ignored`);
      continue;
    }
    if (value === null || (typeof value === 'string' && value.trim() === '' && key !== 'reason' && key !== 'set_by')) continue;
    const field = key as PolicyField;
    const problems: string[] = [];
    const parsed = READERS[field](value, `${prefix}${key}`, problems);
    if (problems.length > 0 || parsed === undefined)
      invalid.set(field, { field, messages: problems.length > 0 ? problems : [`${prefix}${key}: invalid value`] });
    else values[key] = parsed;
  }
  return { source, prefix, values: values as Partial<FieldValues>, invalid, fatal: null, warnings };
}

/** A source that could not be read or parsed at all. */
export function unusableSource(source: PolicySource, message: string): ParsedSource {
  return { source, prefix: '', values: {}, invalid: new Map(), fatal: message, warnings: [] };
}

/** Every problem of a source as `field: message` lines, without the file (the caller names it). */
export function sourceProblems(parsed: ParsedSource): string[] {
  if (parsed.fatal) return [parsed.fatal];
  return [...parsed.invalid.values()].flatMap((problem) => problem.messages);
}

function readLimits(raw: unknown, field: string, problems: string[]): LimitEntry[] | undefined {
  if (!Array.isArray(raw)) return fail(problems, field, `must be an array of limits, got ${typeName(raw)}`);
  const before = problems.length;
  const entries: LimitEntry[] = [];
  raw.forEach((item, index) => {
    const entry = readLimitEntry(item, `${field}[${index}]`, problems);
    if (entry) entries.push(entry);
  });
  return problems.length > before ? undefined : entries;
}

function readLimitEntry(raw: unknown, field: string, problems: string[]): LimitEntry | undefined {
  if (!isObject(raw)) return fail(problems, field, `must be an object with a window and at least one limit, got ${typeName(raw)}`);
  const before = problems.length;
  for (const key of Object.keys(raw)) {
    if (!LIMIT_ENTRY_FIELDS.has(key)) problems.push(`${field}.${key}: unknown field in a limit (allowed: ${[...LIMIT_ENTRY_FIELDS].join(', ')})`);
  }
  const amounts: Record<string, number> = {};
  for (const key of AMOUNT_FIELDS) {
    if (raw[key] === undefined || raw[key] === null) continue;
    const value = READERS[key](raw[key], `${field}.${key}`, problems);
    if (typeof value === 'number') amounts[key] = value;
  }
  if (Object.keys(amounts).length === 0 && problems.length === before) problems.push(`${field}: must set at least one of ${AMOUNT_FIELDS.join(', ')}`);
  let window: WindowValue | undefined;
  if (raw.window === undefined || raw.window === null || (typeof raw.window === 'string' && raw.window.trim() === '')) {
    problems.push(`${field}.window: ${WINDOW_MESSAGE} (required in every limit)`);
  } else {
    window = READERS.window(raw.window, `${field}.window`, problems) as typeof window;
  }
  const behavior = raw.behavior === undefined || raw.behavior === null ? undefined : readBehavior(raw.behavior, `${field}.behavior`, problems);
  let models: string[] | null = null;
  if (raw.models !== undefined && raw.models !== null) {
    if (!Array.isArray(raw.models) || raw.models.length === 0 || raw.models.some((glob) => typeof glob !== 'string' || glob.trim() === '')) {
      problems.push(`${field}.models: must be a non-empty array of provider/model patterns like "openai/*"`);
    } else {
      models = raw.models.map((glob: string) => glob.trim());
    }
  }
  if (problems.length > before || !window) return undefined;
  return { amounts, window: window.text, windowMs: window.ms, ...(window.fixed ? { fixed: window.fixed } : {}), ...(behavior ? { behavior } : {}), models };
}

function readUsd(raw: unknown, field: string, problems: string[]): number | undefined {
  if (typeof raw !== 'number' || !Number.isFinite(raw)) return fail(problems, field, `must be a number of US dollars, got ${typeName(raw)}`);
  if (raw <= 0) return fail(problems, field, 'must be > 0');
  if (usdToMicros(raw) < 1) return fail(problems, field, 'must be at least 0.000001 (one micro-dollar)');
  return raw;
}

function readCount(raw: unknown, field: string, problems: string[]): number | undefined {
  if (typeof raw !== 'number' || !Number.isFinite(raw)) return fail(problems, field, `must be a whole number, got ${typeName(raw)}`);
  if (!Number.isSafeInteger(raw)) return fail(problems, field, 'must be a whole number');
  if (raw <= 0) return fail(problems, field, 'must be > 0');
  return raw;
}

/** Behaviour names are matched case-insensitively (`Hard_Stop` works; cllama refused it and disabled the budget). */
function readBehavior(raw: unknown, field: string, problems: string[]): Behavior | undefined {
  const text = readString(raw, field, problems);
  if (text === undefined) return undefined;
  const behavior = text.trim().toLowerCase() as Behavior;
  return BEHAVIORS.includes(behavior) ? behavior : fail(problems, field, `must be one of ${BEHAVIORS.join(', ')}, got "${text}"`);
}

function readString(raw: unknown, field: string, problems: string[]): string | undefined {
  return typeof raw === 'string' ? raw : fail(problems, field, `must be a string, got ${typeName(raw)}`);
}

function fail(problems: string[], field: string, message: string): undefined {
  problems.push(`${field}: ${message}`);
  return undefined;
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${String(value)}`;
}
