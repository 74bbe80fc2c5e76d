// `tollgate status` without a running proxy: per-agent spend, calls and tokens computed from the session history files.
import { historyCostMicros, type HistoryEntry } from '../history/entry.ts';
import { scanHistory } from '../history/reader.ts';

export interface WindowSums {
  spend_micros: number;
  requests: number;
  input_tokens: number;
  output_tokens: number;
  unknown_cost_requests: number;
}

export interface HistoryStatusAgent {
  readonly id: string;
  readonly last_1h: WindowSums;
  readonly last_24h: WindowSums;
  /** Everything the retained history holds (as /costs/api). */
  readonly totals: WindowSums;
  last_call_at: string | null;
}

export interface HistoryStatus {
  readonly source: 'history';
  readonly dir: string;
  readonly generated_at: string;
  readonly agents: HistoryStatusAgent[];
  readonly bad_lines: number;
}

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

function emptySums(): WindowSums {
  return { spend_micros: 0, requests: 0, input_tokens: 0, output_tokens: 0, unknown_cost_requests: 0 };
}

function add(sums: WindowSums, entry: HistoryEntry, cost: number | null): void {
  sums.requests += 1;
  sums.input_tokens += entry.usage?.prompt_tokens ?? 0;
  sums.output_tokens += entry.usage?.completion_tokens ?? 0;
  if (cost === null) sums.unknown_cost_requests += 1;
  else sums.spend_micros += cost;
}

/** One pass over every agent's history (rotated file first), bounded memory; `onProgress` every 10,000 entries. */
export async function historyStatus(options: { dir: string; now: number; onProgress?: (entries: number) => void }): Promise<HistoryStatus> {
  const { dir, now } = options;
  const agents = new Map<string, HistoryStatusAgent>();
  let badLines = 0;
  let seen = 0;
  for await (const entry of scanHistory({ dir, onBadLine: (bad) => (badLines += bad.torn ? 0 : 1) })) {
    seen += 1;
    if (seen % 10_000 === 0) options.onProgress?.(seen);
    let agent = agents.get(entry.claw_id);
    if (!agent) {
      agent = { id: entry.claw_id, last_1h: emptySums(), last_24h: emptySums(), totals: emptySums(), last_call_at: null };
      agents.set(entry.claw_id, agent);
    }
    const at = Date.parse(entry.ts);
    const cost = historyCostMicros(entry);
    add(agent.totals, entry, cost);
    if (at > now - DAY_MS) add(agent.last_24h, entry, cost);
    if (at > now - HOUR_MS) add(agent.last_1h, entry, cost);
    if (agent.last_call_at === null || at > Date.parse(agent.last_call_at)) agent.last_call_at = new Date(at).toISOString();
  }
  return {
    source: 'history',
    dir,
    generated_at: new Date(now).toISOString(),
    agents: [...agents.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)),
    bad_lines: badLines,
  };
}
