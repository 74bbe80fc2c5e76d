// Start-up reconciliation of the embedded ledger with session history: calls history has and the journal lacks are charged once, by request id.
import type { JournaledCalls } from './journal/replay.ts';
import type { RecordInput } from './ledger.ts';
import { historyAmounts, type HistoryUsageEntry } from './rebuild.ts';

/** What start-up found and did, for the log and `/health` (`reconciliation`); documented in docs/budgets.md. */
export interface ReconcileReport {
  /** `reconciled`; `no_watermark` (a journal of an older version: nothing to match by id, nothing charged). */
  readonly status: 'reconciled' | 'no_watermark';
  /** The journal's last watermark (ISO-8601): history entries that ended after it were checked. */
  readonly watermark: string | null;
  /** History entries that ended after the watermark. */
  readonly checked: number;
  /** Of those, already in the journal (by request id). */
  readonly journaled: number;
  /** Of those, missing from the journal and charged now (a crash between the history line and the journal line). */
  readonly charged: number;
  readonly charged_micros: number;
  /** Entries whose request id an earlier entry had: charged once. */
  readonly duplicates: number;
  /** Entries without a request id (written by cllama) or older than the retention: not charged. */
  readonly ignored: number;
  /** History lines that were not entries (a line torn by the crash, or foreign text): skipped. */
  readonly skipped_lines: number;
  readonly ms: number;
}

export interface ReconcileOptions {
  readonly journaled: JournaledCalls;
  /** The history entries that may have ended after `since` (more is fine: the rest are ignored); bad lines are counted. */
  readonly scan: (input: { readonly since: number; readonly onSkippedLine: () => void }) => AsyncIterable<HistoryUsageEntry>;
  readonly ledger: { record(input: RecordInput): Promise<void> };
  /** Scopes a history entry counts in (the same rule as a rebuild from history: budget/history-scopes.ts). */
  readonly scopesFor: (entry: HistoryUsageEntry) => readonly string[];
  readonly now: number;
  readonly retentionMs: number;
}

/**
 * Every history entry that ended after the journal's watermark is looked up by its request id among the calls the
 * journal holds since that watermark; one that is missing is recorded now, with its id, so a second start does not
 * charge it again. An id seen twice is charged once.
 */
export async function reconcileWithHistory(options: ReconcileOptions): Promise<ReconcileReport> {
  const started = performance.now();
  const { watermark, requestIds } = options.journaled;
  const counts = { checked: 0, journaled: 0, charged: 0, charged_micros: 0, duplicates: 0, ignored: 0, skipped_lines: 0 };
  if (watermark === null) return { status: 'no_watermark', watermark: null, ...counts, ms: Math.round(performance.now() - started) };
  const cutoff = options.now - options.retentionMs;
  const charged = new Set<string>();
  const onSkippedLine = (): void => {
    counts.skipped_lines += 1;
  };
  for await (const entry of options.scan({ since: watermark, onSkippedLine })) {
    const endedAt = endOf(entry);
    if (endedAt === null || endedAt <= watermark) continue;
    counts.checked += 1;
    const id = entry.request_id;
    if (typeof id !== 'string' || id === '' || endedAt <= cutoff) counts.ignored += 1;
    else if (requestIds.has(id)) counts.journaled += 1;
    else if (charged.has(id)) counts.duplicates += 1;
    else {
      const scopes = options.scopesFor(entry);
      if (scopes.length === 0) {
        counts.ignored += 1;
        continue;
      }
      const amounts = historyAmounts(entry);
      await options.ledger.record({ scopes, amounts, at: Math.min(endedAt, options.now), requestId: id });
      charged.add(id);
      counts.charged += 1;
      counts.charged_micros += amounts.usd_micros ?? 0;
    }
  }
  return { status: 'reconciled', watermark: new Date(watermark).toISOString(), ...counts, ms: Math.round(performance.now() - started) };
}

/** When the call ended (ms since epoch): its start plus its latency; null without a usable time. */
function endOf(entry: HistoryUsageEntry): number | null {
  const at = Date.parse(entry.ts);
  if (!Number.isFinite(at)) return null;
  const latency = entry.latency_ms;
  return typeof latency === 'number' && Number.isFinite(latency) && latency > 0 ? at + latency : at;
}
