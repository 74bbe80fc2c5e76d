// The bus events of one budgeted call, as the pipeline emits them, for the micro-benchmarks of the bus's subscribers.
import { randomUUID } from 'node:crypto';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { EventBus } from '../src/observability/events.ts';
import { MemoryLedger } from '../src/ledger/memory.ts';
import { createMetrics } from '../src/observability/metrics.ts';

/** One call as the pipeline emits it: budget decision and request in one turn, the response in a later one. */
export async function emitCall(bus: EventBus): Promise<void> {
  const id = randomUUID();
  bus.emit({
    type: 'budget_decision',
    claw_id: 'governed',
    model: 'openai/gpt-4o',
    intervention: null,
    request_id: id,
    outcome: 'allow',
    behavior: 'hard_stop',
    limit_id: 'agent:governed/usd/1h',
    scope: 'agent:governed',
    metric: 'usd_micros',
    window: '1h',
    limit: 1_000_000_000_000,
    used: 123456,
    reserved: 2000,
    remaining: 999_999_874_544,
    source: '/ctx/governed/metadata.json',
    source_kind: 'metadata',
    field: 'budget.limit_usd',
    estimate_usd_micros: 2000,
  });
  bus.emit({
    type: 'request',
    claw_id: 'governed',
    model: 'openai/gpt-4o',
    intervention: null,
    request_id: id,
    path: '/v1/chat/completions',
    provider: 'openai',
    upstream_model: 'gpt-4o',
    stream: false,
  });
  await nextTurn();
  bus.emit({
    type: 'response',
    claw_id: 'governed',
    model: 'openai/gpt-4o',
    intervention: null,
    request_id: id,
    path: '/v1/chat/completions',
    provider: 'openai',
    upstream_model: 'gpt-4o',
    status_code: 200,
    latency_ms: 3,
    stream: false,
    tokens_in: 10,
    tokens_out: 32,
    cost_usd: 0.000345,
    cost_micros: 345,
    cost_source: 'genai-prices',
  });
  await nextTurn();
}

const ROUNDS = 7;
const CALLS = 20_000;
export const TIMING = `median of ${ROUNDS}×${CALLS.toLocaleString('en-US')}`;

/** Emits CALLS calls into each bus, ROUNDS times, taking turns (after a warm-up); the median µs per call of each. */
export async function timeCalls(runs: readonly { label: string; bus: EventBus }[]): Promise<{ label: string; medianUs: number }[]> {
  const perCall = runs.map(() => [] as number[]);
  for (const run of runs) for (let i = 0; i < CALLS; i++) await emitCall(run.bus); // warm-up
  for (let round = 0; round < ROUNDS; round++) {
    for (const [index, run] of runs.entries()) {
      const started = process.hrtime.bigint();
      for (let i = 0; i < CALLS; i++) await emitCall(run.bus);
      perCall[index].push(Number(process.hrtime.bigint() - started) / 1000 / CALLS);
    }
  }
  return runs.map((run, index) => ({ label: run.label, medianUs: [...perCall[index]].sort((a, b) => a - b)[ROUNDS >> 1] }));
}

/** tollgate's metrics subscribed to the bus, with no agents, an empty ledger and no policy behind them. */
export function attachBareMetrics(bus: EventBus): void {
  createMetrics({
    bus,
    ledger: new MemoryLedger({ sweepIntervalMs: 0 }),
    agents: { list: () => [] },
    policies: {
      effective: () => {
        throw new Error('not read here');
      },
    },
  });
}
