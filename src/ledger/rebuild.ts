// Re-seeds a ledger from session history (journal missing, or a Redis ledger lost): one record() per entry in retention.
import type { Amounts, Ledger } from './ledger.ts';
import { ledgerAmount } from './amounts.ts';

/** The fields of a session-history entry a rebuild reads (src/history/entry.ts HistoryEntry has them all). */
export interface HistoryUsageEntry {
  readonly claw_id: string;
  /** ISO-8601 time of the request. */
  readonly ts: string;
  readonly usage?: {
    readonly cost_micros?: number;
    /** cllama's field: computed cost when known, else the provider-reported cost (USD). */
    readonly reported_cost_usd?: number;
    readonly prompt_tokens?: number;
    readonly completion_tokens?: number;
  };
  readonly effective_provider?: string;
  readonly effective_model?: string;
  readonly requested_model?: string;
  /** tollgate's id of the call (start-up reconciliation matches it with the journal's); cllama's entries have none. */
  readonly request_id?: string;
  /** From the request's start to its entry being built: `ts` + this is when the call ended. */
  readonly latency_ms?: number;
}

export interface RebuildOptions {
  readonly scan: AsyncIterable<HistoryUsageEntry>;
  readonly ledger: Pick<Ledger, 'record'>;
  /** Current time (ms since epoch), or a clock. */
  readonly now: number | (() => number);
  readonly retentionMs: number;
  /** Scopes an entry's usage counts in, e.g. `agent:<id>` plus its shared budgets; an empty list skips the entry. */
  readonly scopesFor: (entry: HistoryUsageEntry) => readonly string[];
  /** Called every 50,000 entries and once at the end. */
  readonly onProgress?: (progress: { readonly records: number; readonly skipped: number }) => void;
}

export interface RebuildResult {
  readonly records: number;
  /** Entries with no usable time, or no scope. */
  readonly skipped: number;
  /** Entries older than the retention. */
  readonly expired: number;
  readonly ms: number;
}

const PROGRESS_EVERY = 50_000;

export async function rebuildFromHistory(options: RebuildOptions): Promise<RebuildResult> {
  const started = performance.now();
  const now = typeof options.now === 'function' ? options.now() : options.now;
  const cutoff = now - options.retentionMs;
  let records = 0;
  let skipped = 0;
  let expired = 0;
  let seen = 0;
  for await (const entry of options.scan) {
    seen += 1;
    const at = Date.parse(entry.ts);
    const scopes = Number.isFinite(at) ? options.scopesFor(entry) : [];
    if (scopes.length === 0) skipped += 1;
    else if (at <= cutoff) expired += 1;
    else {
      await options.ledger.record({ scopes, amounts: historyAmounts(entry), at });
      records += 1;
    }
    if (options.onProgress && seen % PROGRESS_EVERY === 0) options.onProgress({ records, skipped });
  }
  options.onProgress?.({ records, skipped });
  return { records, skipped, expired, ms: Math.round(performance.now() - started) };
}

/** What one history entry consumed, in ledger metrics. A cost that is absent counts as an unknown-cost request. */
export function historyAmounts(entry: HistoryUsageEntry): Amounts {
  const usage = entry.usage ?? {};
  const cost = costMicros(usage);
  const input = tokens(usage.prompt_tokens);
  const output = tokens(usage.completion_tokens);
  const amounts: Partial<Record<keyof Amounts, number>> = { requests: 1 };
  if (cost === null) amounts.unknown_cost_requests = 1;
  else if (cost > 0) amounts.usd_micros = cost;
  if (input > 0) amounts.input_tokens = input;
  if (output > 0) amounts.output_tokens = output;
  if (input + output > 0) amounts.total_tokens = ledgerAmount(input + output);
  return amounts;
}

function costMicros(usage: NonNullable<HistoryUsageEntry['usage']>): number | null {
  if (isUsableNumber(usage.cost_micros)) return ledgerAmount(Math.round(usage.cost_micros));
  if (isUsableNumber(usage.reported_cost_usd)) return ledgerAmount(Math.round(usage.reported_cost_usd * 1_000_000));
  return null;
}

function tokens(value: number | undefined): number {
  return isUsableNumber(value) ? ledgerAmount(Math.round(value)) : 0;
}

function isUsableNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}
