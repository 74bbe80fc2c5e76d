// Pages of an agent's session history for the admin API: newest first by default, cllama's oldest-after paging on request.
import type { HistoryEntry } from '../history/entry.ts';
import { historyCostMicros } from '../history/entry.ts';
import { readHistory } from '../history/reader.ts';
import { microsToUsd } from '../pricing/money.ts';
import { readNewestHistory } from './history-tail.ts';

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

export async function historyPage(query: HistoryPageQuery): Promise<Record<string, unknown>> {
  const forward = query.after !== null;
  const entries = forward
    ? await readHistory({ dir: query.dir, agentId: query.agentId, after: query.after, limit: query.limit })
    : await readNewestHistory({ dir: query.dir, agentId: query.agentId, before: query.before, limit: query.limit });
  const last = entries.at(-1);
  const full = entries.length >= query.limit && last !== undefined;
  return {
    agent: query.agentId,
    order: forward ? 'oldest_first' : 'newest_first',
    entries: query.full ? entries : entries.map(callSummary),
    next: full ? (forward ? { after: last.ts } : { before: last.ts }) : null,
  };
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
