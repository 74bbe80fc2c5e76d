// The per-agent budget gauges of /metrics: policies and ledger standings read in chunks of agents, as three gauge families.
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Agent } from '../auth/agent.ts';
import type { PolicyResult } from '../budget/policy/policy.ts';
import { checkOf } from '../budget/plan.ts';
import type { Ledger, LimitCheck } from '../ledger/ledger.ts';
import { microsToUsd } from '../pricing/money.ts';
import type { Family, Series } from './exposition.ts';

/**
 * Agents per ledger read; the reads yield to the event loop between chunks. Resolving a policy the store has not cached
 * (after any change to the files) costs ~25 µs an agent, so a chunk stays within a couple of milliseconds.
 */
export const AGENTS_PER_CHUNK = 64;

const LABEL_NAMES = ['agent', 'limit', 'metric', 'window'] as const;

/** One limit of one agent as the ledger stands: integers, micro-dollars for usd. */
export interface BudgetRow {
  /** agent, limit, metric, window. */
  readonly labels: readonly [string, string, string, string];
  readonly usd: boolean;
  readonly limit: number;
  /** Settled plus reserved. */
  readonly used: number;
  readonly remaining: number;
}

export interface BudgetReadInput {
  readonly agents: readonly Agent[];
  readonly policies: { effective(agent: Agent, now: number): PolicyResult };
  readonly ledger: Pick<Ledger, 'standing'>;
  readonly now: number;
}

/**
 * Every limit of every agent with a usable policy, in agent then limit order, one ledger read per chunk of agents.
 * Rejects when any read fails: the gauges are then left out whole, never shown for some agents only.
 */
export async function readBudgetRows(input: BudgetReadInput): Promise<BudgetRow[]> {
  const rows: BudgetRow[] = [];
  const indexByKey = new Map<string, number>();
  for (let start = 0; start < input.agents.length; start += AGENTS_PER_CHUNK) {
    if (start > 0) await nextTurn();
    const labels: BudgetRow['labels'][] = [];
    const checks: LimitCheck[] = [];
    for (const agent of input.agents.slice(start, start + AGENTS_PER_CHUNK)) {
      const policy = input.policies.effective(agent, input.now);
      if (policy.kind !== 'policy') continue;
      for (const spec of policy.limits) {
        labels.push([agent.id, spec.id, spec.metric === 'usd_micros' ? 'usd' : spec.metric, spec.window || 'none']);
        checks.push(checkOf(spec, Date.now()));
      }
    }
    const standings = checks.length > 0 ? await input.ledger.standing(checks) : [];
    standings.forEach((standing, index) => {
      const row = {
        labels: labels[index],
        usd: labels[index][2] === 'usd',
        limit: standing.limit,
        used: standing.used + standing.reserved,
        remaining: standing.remaining,
      };
      // the same labels twice (no agent or limit id repeats today) keep one series: the first place, the last value
      const key = row.labels.join('\u0000');
      const seen = indexByKey.get(key);
      if (seen === undefined) indexByKey.set(key, rows.push(row) - 1);
      else rows[seen] = row;
    });
  }
  return rows;
}

/** The three gauge families (USD for usd metrics, counts otherwise); no series when the ledger could not be read. */
export function budgetFamilies(rows: readonly BudgetRow[] | null): Family[] {
  const family = (name: string, help: string, value: (row: BudgetRow) => number): Family => ({
    name,
    help,
    type: 'gauge',
    labelNames: LABEL_NAMES,
    series: seriesOf(rows ?? [], value),
  });
  return [
    family('tollgate_budget_limit', 'Budget limit (USD for usd metrics, counts otherwise).', (row) => row.limit),
    family('tollgate_budget_used', 'Usage in the window, settled plus reserved (USD for usd metrics).', (row) => row.used),
    family('tollgate_budget_remaining', 'What is left of the limit (USD for usd metrics).', (row) => row.remaining),
  ];
}

function* seriesOf(rows: readonly BudgetRow[], value: (row: BudgetRow) => number): Generator<Series> {
  for (const row of rows) yield { labels: row.labels, value: row.usd ? microsToUsd(value(row)) : value(row) };
}
