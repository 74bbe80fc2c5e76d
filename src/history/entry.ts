// One session-history entry in the cllama format (plus tollgate's own non-colliding fields) and how to build one.
import { hash } from 'node:crypto';
import type { Usage } from '../protocol/usage.ts';
import { totalInputTokens } from '../protocol/usage.ts';
import { microsToUsd, usdToMicros } from '../pricing/money.ts';
import type { PriceQuote, PriceSource } from '../pricing/pricer.ts';

export const HISTORY_ENTRY_VERSION = 1;
export const HISTORY_ID_PREFIX = 'hist1_';

export interface HistoryResponse {
  readonly format: 'json' | 'sse';
  /** Parsed JSON body (format json). */
  readonly json?: unknown;
  /** Raw SSE text as relayed (format sse). */
  readonly text?: string;
}

export interface HistoryUsage {
  /** cllama meaning: all prompt-side tokens (fresh + cache read + cache write). Absent when not reported. */
  readonly prompt_tokens?: number;
  readonly completion_tokens?: number;
  /** Historical name: the computed cost in USD when known, else the provider-reported cost, else absent. */
  readonly reported_cost_usd?: number;
  // tollgate's own fields
  readonly cache_read_tokens?: number;
  readonly cache_write_tokens?: number;
  /** The part of completion_tokens spent reasoning (OpenAI `reasoning_tokens`), when reported. */
  readonly reasoning_tokens?: number;
  /** Integer micro-dollars; absent when the cost is unknown (never a silent 0). */
  readonly cost_micros?: number;
  readonly cost_source?: PriceSource;
  /** Present (true) when some counts are tollgate's estimate: the provider did not report them. */
  readonly estimated?: true;
}

/** How the call ended. cllama records only `complete` 2xx; we also record charged cut streams and errors with usage. */
export type HistoryOutcome = 'complete' | 'client_aborted' | 'upstream_cut' | 'upstream_error' | 'incomplete';

export interface HistoryEntry {
  readonly version: number;
  readonly id: string;
  /** Managed-tool entries written by cllama carry `ok` / `error`; tollgate never writes it. */
  readonly status?: string;
  /** Request start, ISO-8601 UTC with milliseconds (cllama files hold second precision; both are read). */
  readonly ts: string;
  readonly claw_id: string;
  readonly path: string;
  readonly requested_model: string;
  readonly effective_provider: string;
  readonly effective_model: string;
  readonly status_code: number;
  readonly stream: boolean;
  readonly request_original?: unknown;
  readonly request_effective?: unknown;
  readonly response: HistoryResponse;
  readonly usage: HistoryUsage;
  // tollgate's own top-level fields
  readonly request_id?: string;
  /** The upstream's own id of the call, when it sent one. */
  readonly upstream_request_id?: string;
  readonly latency_ms?: number;
  readonly interventions?: readonly string[];
  readonly outcome?: HistoryOutcome;
  /** The stream ran past TOLLGATE_MAX_RESPONSE_BYTES: `response.text` holds its beginning only. */
  readonly response_truncated?: true;
  /** Under a model policy: what was asked for, what answered, and every upstream attempt in order. */
  readonly routing?: HistoryRouting;
}

/** A call's routing under a model policy (docs/model-policy.md). */
export interface HistoryRouting {
  /** The model the agent asked for, normalized ('' when it sent none). */
  readonly requested_model: string;
  /** `provider/model` that answered. */
  readonly effective_model: string;
  /** How the requested model was changed (cllama's names), or null. */
  readonly resolution: string | null;
  readonly attempts: readonly HistoryAttempt[];
}

export interface HistoryAttempt {
  readonly provider: string;
  readonly model: string;
  /** The upstream's status (0: no answer: refused, reset, timed out). */
  readonly status_code: number;
  readonly latency_ms: number;
  /** USD the attempt was charged (0: released); null when its usage was charged at an unknown price. */
  readonly charged_usd: number | null;
}

/** What every entry says about its call, however its bodies are given. */
interface HistoryCall {
  readonly requestId: string;
  readonly upstreamRequestId?: string;
  readonly agentId: string;
  readonly path: string;
  readonly requestedModel: string;
  readonly effectiveProvider: string;
  readonly effectiveModel: string;
  readonly statusCode: number;
  readonly stream: boolean;
  readonly latencyMs: number;
  readonly interventions?: readonly string[];
  readonly outcome?: HistoryOutcome;
  readonly routing?: HistoryRouting;
}

/**
 * One finished call as the pipeline hands it to session history: plain data, the bodies already JSON text on one
 * line (the text the agent sent, the text sent upstream, the text upstream answered), so nothing is serialised twice.
 */
export interface HistoryRecord extends HistoryCall {
  /** Request start, ms since epoch. */
  readonly startedAt: number;
  /** JSON text on one line (see jsonOnOneLine). */
  readonly requestOriginalJson?: string;
  readonly requestEffectiveJson?: string;
  /** format json: the body as JSON text on one line (a JSON string when upstream's body was not JSON); sse: raw text. */
  readonly response: { readonly format: 'json'; readonly jsonText: string } | { readonly format: 'sse'; readonly text: string };
  readonly usage: HistoryUsage;
  /** The response text is the beginning of a longer stream. */
  readonly responseTruncated?: boolean;
}

/**
 * The JSONL line (no newline) of one record: `id` = "hist1_" + hex(sha256(the line without id)), as cllama computes
 * it. Built by concatenation in the cllama field order; the bodies go in as the text they already are.
 */
export function historyLine(record: HistoryRecord): string {
  let rest =
    `"ts":"${isoTime(record.startedAt)}","claw_id":${JSON.stringify(record.agentId)},"path":${JSON.stringify(record.path)}` +
    `,"requested_model":${JSON.stringify(record.requestedModel)},"effective_provider":${JSON.stringify(record.effectiveProvider)}` +
    `,"effective_model":${JSON.stringify(record.effectiveModel)},"status_code":${jsonNumber(record.statusCode)},"stream":${record.stream ? 'true' : 'false'}`;
  if (record.requestOriginalJson !== undefined) rest += `,"request_original":${record.requestOriginalJson}`;
  if (record.requestEffectiveJson !== undefined) rest += `,"request_effective":${record.requestEffectiveJson}`;
  rest +=
    record.response.format === 'json'
      ? `,"response":{"format":"json","json":${record.response.jsonText}}`
      : `,"response":{"format":"sse","text":${JSON.stringify(record.response.text)}}`;
  rest += `,"usage":${flatJson(record.usage)},"request_id":${JSON.stringify(record.requestId)}`;
  if (record.upstreamRequestId !== undefined) rest += `,"upstream_request_id":${JSON.stringify(record.upstreamRequestId)}`;
  rest += `,"latency_ms":${Number.isFinite(record.latencyMs) ? Math.max(0, Math.round(record.latencyMs)) : 0}`;
  if (record.interventions && record.interventions.length > 0) rest += `,"interventions":${JSON.stringify(record.interventions)}`;
  if (record.outcome !== undefined) rest += `,"outcome":${JSON.stringify(record.outcome)}`;
  if (record.responseTruncated) rest += ',"response_truncated":true';
  if (record.routing !== undefined) rest += `,"routing":${JSON.stringify(record.routing)}`;
  rest += '}';
  const head = `{"version":${HISTORY_ENTRY_VERSION},`;
  const id = HISTORY_ID_PREFIX + sha256Hex(head + rest);
  return `${head}"id":"${id}",${rest}`;
}

/**
 * JSON text that JSON.parse accepted, on one line: raw CR and LF can only be whitespace between tokens there (inside
 * strings they must be escaped), so dropping them keeps the value and makes the text fit a JSONL line.
 */
export function jsonOnOneLine(parsedText: string): string {
  return parsedText.indexOf('\n') < 0 && parsedText.indexOf('\r') < 0 ? parsedText : parsedText.replace(LINE_BREAKS, '');
}

const LINE_BREAKS = /[\r\n]/g;

/** The usage block of an entry: computed cost first, provider-reported cost next, absent (not 0) when unknown. */
export function historyUsage(usage: Usage | null | undefined, price: PriceQuote | null | undefined): HistoryUsage {
  const u = usage ?? {};
  const anyInput = u.inputTokens !== undefined || u.cacheReadTokens !== undefined || u.cacheWriteTokens !== undefined;
  const costMicros = price?.costMicros ?? null;
  const costUsd = costMicros !== null ? microsToUsd(costMicros) : u.reportedCostUsd;
  const out: { -readonly [K in keyof HistoryUsage]: HistoryUsage[K] } = {};
  if (anyInput) out.prompt_tokens = totalInputTokens(u);
  if (u.outputTokens !== undefined) out.completion_tokens = u.outputTokens;
  if (costUsd !== undefined) out.reported_cost_usd = costUsd;
  if (u.cacheReadTokens !== undefined) out.cache_read_tokens = u.cacheReadTokens;
  if (u.cacheWriteTokens !== undefined) out.cache_write_tokens = u.cacheWriteTokens;
  if (u.reasoningTokens !== undefined) out.reasoning_tokens = u.reasoningTokens;
  if (costMicros !== null) out.cost_micros = costMicros;
  if (price) out.cost_source = price.source;
  if (u.estimated) out.estimated = true;
  return out;
}

/** An entry from parsed parts (fixtures, tools); the proxy itself records through historyLine. */
export interface HistoryEntryInput extends HistoryCall {
  /** Request start: ms since epoch or a Date. */
  readonly startedAt: number | Date;
  readonly requestOriginal?: unknown;
  readonly requestEffective?: unknown;
  readonly response: HistoryResponse;
  readonly usage: Usage | null | undefined;
  readonly price?: PriceQuote | null;
}

/** The serialised line (without newline) of entries built here, so the writer does not stringify twice. */
const serialisedLines = new WeakMap<HistoryEntry, string>();

/** Builds a frozen entry with the same line historyLine gives the equivalent record. */
export function buildHistoryEntry(input: HistoryEntryInput): HistoryEntry {
  const line = historyLine({
    requestId: input.requestId,
    upstreamRequestId: input.upstreamRequestId,
    startedAt: input.startedAt instanceof Date ? input.startedAt.getTime() : input.startedAt,
    agentId: input.agentId,
    path: input.path,
    requestedModel: input.requestedModel,
    effectiveProvider: input.effectiveProvider,
    effectiveModel: input.effectiveModel,
    statusCode: input.statusCode,
    stream: input.stream,
    requestOriginalJson: input.requestOriginal === undefined ? undefined : JSON.stringify(input.requestOriginal),
    requestEffectiveJson: input.requestEffective === undefined ? undefined : JSON.stringify(input.requestEffective),
    response:
      input.response.format === 'sse'
        ? { format: 'sse', text: input.response.text ?? '' }
        : { format: 'json', jsonText: JSON.stringify(input.response.json) ?? 'null' },
    usage: historyUsage(input.usage, input.price),
    latencyMs: input.latencyMs,
    interventions: input.interventions,
    outcome: input.outcome,
  });
  const entry = deepFreeze(JSON.parse(line)) as HistoryEntry;
  serialisedLines.set(entry, line);
  return entry;
}

/** One JSONL line (no trailing newline). Entries are immutable once built, so a built entry's line is reused. */
export function serializeHistoryEntry(entry: HistoryEntry): string {
  return serialisedLines.get(entry) ?? JSON.stringify(entry);
}

/** An entry's cost in integer micro-dollars for rebuilds: our cost_micros, else cllama's USD float, else null (unknown). */
export function historyCostMicros(entry: Pick<HistoryEntry, 'usage'>): number | null {
  const usage = entry.usage as HistoryUsage | undefined;
  if (typeof usage?.cost_micros === 'number' && Number.isFinite(usage.cost_micros)) return Math.round(usage.cost_micros);
  if (typeof usage?.reported_cost_usd === 'number' && Number.isFinite(usage.reported_cost_usd)) {
    return usdToMicros(usage.reported_cost_usd);
  }
  return null;
}

/** cllama's IDFromJSON: the id a reader gives a line that has none. */
export function historyIdFromRawLine(rawLine: string): string {
  return HISTORY_ID_PREFIX + sha256Hex(rawLine.trim());
}

/** Seconds since epoch of the cached prefix, and the prefix: `YYYY-MM-DDTHH:MM:SS.` */
let isoSecond = Number.NaN;
let isoPrefix = '';
/** The last instant of year 9999: beyond it (and before 1970) toISOString writes other shapes. */
const LAST_FOUR_DIGIT_YEAR_MS = 253_402_300_799_999;

/**
 * `new Date(ms).toISOString()`, its date and time to the second formatted once per second (a busy proxy records many
 * calls within one); other instants (not a whole ms since 1970 up to year 9999) go through Date as they are.
 */
function isoTime(ms: number): string {
  if (!Number.isInteger(ms) || ms < 0 || ms > LAST_FOUR_DIGIT_YEAR_MS) return new Date(ms).toISOString();
  const second = Math.floor(ms / 1000);
  if (second !== isoSecond) {
    isoPrefix = new Date(second * 1000).toISOString().slice(0, 20);
    isoSecond = second;
  }
  const millis = ms - second * 1000;
  return `${isoPrefix}${millis < 10 ? '00' : millis < 100 ? '0' : ''}${millis}Z`;
}

/**
 * JSON.stringify of a flat object of numbers, strings and booleans (the usage block), written field by field; anything
 * else in it (an object, a list) goes through JSON.stringify whole.
 */
function flatJson(value: object): string {
  const fields = value as Readonly<Record<string, unknown>>;
  let out = '';
  for (const key in fields) {
    if (!Object.hasOwn(fields, key)) continue;
    const field = fields[key];
    const type = typeof field;
    let json: string;
    if (type === 'number') json = jsonNumber(field as number);
    else if (type === 'string') json = JSON.stringify(field);
    else if (type === 'boolean') json = field ? 'true' : 'false';
    else if (field === undefined) continue;
    else return JSON.stringify(value);
    out += `${out === '' ? '{' : ','}${quotedKey(key)}:${json}`;
  }
  return out === '' ? '{}' : `${out}}`;
}

const quotedKeys = new Map<string, string>();

function quotedKey(key: string): string {
  let quoted = quotedKeys.get(key);
  if (quoted === undefined) {
    quoted = JSON.stringify(key);
    if (quotedKeys.size < 64) quotedKeys.set(key, quoted); // the usage block's few names
  }
  return quoted;
}

function jsonNumber(value: number): string {
  return Number.isFinite(value) ? String(value) : 'null';
}

function deepFreeze(value: unknown): unknown {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key]);
    Object.freeze(value);
  }
  return value;
}

function sha256Hex(text: string): string {
  return hash('sha256', text, 'hex'); // one-shot: no Hash object per entry
}
