// Pages of an agent's session history for the admin API: newest first by default, cllama's oldest-after paging on request.
import type { HistoryEntry } from '../history/entry.ts';
import { historyCostMicros } from '../history/entry.ts';
import { readHistoryPage } from '../history/reader.ts';
import { microsToUsd } from '../pricing/money.ts';
import { readNewestHistoryPage } from './history-tail.ts';

export const ADMIN_HISTORY_DEFAULT_LIMIT = 50;
export const ADMIN_HISTORY_MAX_LIMIT = 1000;

export interface HistoryPageQuery {
  readonly dir: string;
  readonly agentId: string;
  readonly after: Date | null;
  readonly before: Date | null;
  readonly limit: number;
  readonly full: boolean;
}

/**
 * One page, chosen by ts (see history/page-select.ts): it can hold more than `limit` entries when the last ones share
 * a ts, so `next` never splits them. `skipped` says what the read passed over (lines that are not entries, files
 * that could not be read).
 */
export async function historyPage(query: HistoryPageQuery): Promise<Record<string, unknown>> {
  const forward = query.after !== null;
  const page = forward
    ? await readForward(query)
    : await readNewestHistoryPage({ dir: query.dir, agentId: query.agentId, before: query.before, limit: query.limit });
  const { entries, skippedLines } = page;
  const last = entries.at(-1);
  const full = entries.length >= query.limit && last !== undefined;
  return {
    agent: query.agentId,
    order: forward ? 'oldest_first' : 'newest_first',
    entries: query.full ? entries : entries.map(callSummary),
    next: full ? (forward ? { after: last.ts } : { before: last.ts }) : null,
    skipped: { lines: skippedLines, unreadable_files: page.unreadableFiles },
  };
}

async function readForward(query: HistoryPageQuery): Promise<{ entries: HistoryEntry[]; skippedLines: number; unreadableFiles: number }> {
  const page = await readHistoryPage({ dir: query.dir, agentId: query.agentId, after: query.after, limit: query.limit });
  return { entries: page.entries, skippedLines: page.skippedLines + page.tornLines, unreadableFiles: page.unreadableFiles };
}

/** One call without its bodies: what was asked, where it went, what it used and cost, how it ended. */
export function callSummary(entry: HistoryEntry): Record<string, unknown> {
  const usage = (entry.usage ?? {}) as Record<string, unknown>;
  const costMicros = historyCostMicros(entry);
  return {
    id: entry.id,
    ts: entry.ts,
    request_id: entry.request_id ?? null,
    path: entry.path,
    requested_model: entry.requested_model,
    provider: entry.effective_provider,
    model: entry.effective_model,
    status_code: entry.status_code,
    stream: entry.stream,
    input_tokens: typeof usage.prompt_tokens === 'number' ? usage.prompt_tokens : null,
    output_tokens: typeof usage.completion_tokens === 'number' ? usage.completion_tokens : null,
    cost_usd: costMicros === null ? null : microsToUsd(costMicros),
    cost_micros: costMicros,
    latency_ms: entry.latency_ms ?? null,
    outcome: entry.outcome ?? (entry.status === 'error' ? 'error' : 'complete'),
    interventions: entry.interventions ?? [],
  };
}
