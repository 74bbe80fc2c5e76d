// One session-history entry in the cllama format (plus tollgate's own non-colliding fields) and how to build one.
import { hash } from 'node:crypto';
import type { Usage } from '../protocol/usage.ts';
import { totalInputTokens } from '../protocol/usage.ts';
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
  /** Integer micro-dollars; absent when the cost is unknown (never a silent 0). */
  readonly cost_micros?: number;
  readonly cost_source?: PriceSource;
}

/** How the call ended. cllama records only `complete` 2xx; we also record charged cut streams and errors with usage. */
export type HistoryOutcome = 'complete' | 'client_aborted' | 'upstream_cut' | 'upstream_error';

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
  readonly latency_ms?: number;
  readonly interventions?: readonly string[];
  readonly outcome?: HistoryOutcome;
}

export interface HistoryEntryInput {
  readonly requestId: string;
  /** Request start: ms since epoch or a Date. */
  readonly startedAt: number | Date;
  readonly agentId: string;
  readonly path: string;
  readonly requestedModel: string;
  readonly effectiveProvider: string;
  readonly effectiveModel: string;
  readonly statusCode: number;
  readonly stream: boolean;
  readonly requestOriginal?: unknown;
  readonly requestEffective?: unknown;
  readonly response: HistoryResponse;
  readonly usage: Usage | null | undefined;
  readonly price?: PriceQuote | null;
  readonly latencyMs: number;
  readonly interventions?: readonly string[];
  readonly outcome?: HistoryOutcome;
}

/** The serialised line (without newline) of entries built here, so the writer does not stringify twice. */
const serialisedLines = new WeakMap<HistoryEntry, string>();

/** Builds a frozen entry; `id` = "hist1_" + hex(sha256(JSON of the entry without id)), as cllama computes it. */
export function buildHistoryEntry(input: HistoryEntryInput): HistoryEntry {
  const startedAt = input.startedAt instanceof Date ? input.startedAt : new Date(input.startedAt);
  // Filled in key order with plain assignments (this runs once per call; conditional spreads cost more than the rest)
  const withoutId: Record<string, unknown> = {
    version: HISTORY_ENTRY_VERSION,
    ts: startedAt.toISOString(),
    claw_id: input.agentId,
    path: input.path,
    requested_model: input.requestedModel,
    effective_provider: input.effectiveProvider,
    effective_model: input.effectiveModel,
    status_code: input.statusCode,
    stream: input.stream,
  };
  if (input.requestOriginal !== undefined) withoutId.request_original = input.requestOriginal;
  if (input.requestEffective !== undefined) withoutId.request_effective = input.requestEffective;
  withoutId.response = buildResponse(input.response);
  withoutId.usage = buildUsage(input.usage, input.price);
  withoutId.request_id = input.requestId;
  withoutId.latency_ms = Number.isFinite(input.latencyMs) ? Math.max(0, Math.round(input.latencyMs)) : 0;
  if (input.interventions && input.interventions.length > 0) withoutId.interventions = [...input.interventions];
  if (input.outcome !== undefined) withoutId.outcome = input.outcome;
  const jsonWithoutId = JSON.stringify(withoutId);
  const id = HISTORY_ID_PREFIX + sha256Hex(jsonWithoutId);
  const fields: Record<string, unknown> = { version: HISTORY_ENTRY_VERSION, id };
  for (const key in withoutId) if (key !== 'version') fields[key] = withoutId[key];
  const entry = Object.freeze(fields) as unknown as HistoryEntry;
  // Splice the id in after `{"version":1,` instead of serialising the (possibly large) entry a second time.
  const head = `{"version":${HISTORY_ENTRY_VERSION},`;
  serialisedLines.set(entry, `${head}"id":${JSON.stringify(id)},${jsonWithoutId.slice(head.length)}`);
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
    return Math.round(usage.reported_cost_usd * 1_000_000);
  }
  return null;
}

/** cllama's IDFromJSON: the id a reader gives a line that has none. */
export function historyIdFromRawLine(rawLine: string): string {
  return HISTORY_ID_PREFIX + sha256Hex(rawLine.trim());
}

function buildResponse(response: HistoryResponse): HistoryResponse {
  const out: { format: HistoryResponse['format']; json?: unknown; text?: string } = { format: response.format };
  if (response.json !== undefined) out.json = response.json;
  if (response.text !== undefined) out.text = response.text;
  return out;
}

function buildUsage(usage: Usage | null | undefined, price: PriceQuote | null | undefined): HistoryUsage {
  const u = usage ?? {};
  const anyInput = u.inputTokens !== undefined || u.cacheReadTokens !== undefined || u.cacheWriteTokens !== undefined;
  const costMicros = price?.costMicros ?? null;
  const costUsd = costMicros !== null ? costMicros / 1_000_000 : u.reportedCostUsd;
  const out: { -readonly [K in keyof HistoryUsage]: HistoryUsage[K] } = {};
  if (anyInput) out.prompt_tokens = totalInputTokens(u);
  if (u.outputTokens !== undefined) out.completion_tokens = u.outputTokens;
  if (costUsd !== undefined) out.reported_cost_usd = costUsd;
  if (u.cacheReadTokens !== undefined) out.cache_read_tokens = u.cacheReadTokens;
  if (u.cacheWriteTokens !== undefined) out.cache_write_tokens = u.cacheWriteTokens;
  if (costMicros !== null) out.cost_micros = costMicros;
  if (price) out.cost_source = price.source;
  return out;
}

function sha256Hex(text: string): string {
  return hash('sha256', text, 'hex'); // one-shot: no Hash object per entry
}
