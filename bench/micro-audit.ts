// Micro-benchmark of the audit path: bus.emit → audit line → stdout-like sink, for the events of one budgeted call.
// `node bin/run-ts.js bench/micro-audit.ts [other-audit-log.ts]`: with a second implementation, runs both, interleaved.
import pino from 'pino';
import { randomUUID } from 'node:crypto';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { EventBus } from '../src/observability/events.ts';
import { attachAuditLog } from '../src/observability/audit-log.ts';

const ROUNDS = 7;
const CALLS = 20_000;

/** One call as the pipeline emits it: request and budget decision in one turn, the response in a later one. */
async function emitCall(bus: EventBus): Promise<void> {
  const id = randomUUID();
  bus.emit({ type: 'budget_decision', claw_id: 'governed', model: 'openai/gpt-4o', intervention: null, request_id: id, outcome: 'allow', behavior: 'hard_stop', limit_id: 'agent:governed/usd/1h', scope: 'agent:governed', metric: 'usd_micros', window: '1h', limit: 1_000_000_000_000, used: 123456, reserved: 2000, remaining: 999_999_874_544, source: '/ctx/governed/metadata.json', source_kind: 'metadata', field: 'budget.limit_usd', estimate_usd_micros: 2000 });
  bus.emit({ type: 'request', claw_id: 'governed', model: 'openai/gpt-4o', intervention: null, request_id: id, path: '/v1/chat/completions', provider: 'openai', upstream_model: 'gpt-4o', stream: false });
  await nextTurn();
  bus.emit({ type: 'response', claw_id: 'governed', model: 'openai/gpt-4o', intervention: null, request_id: id, path: '/v1/chat/completions', provider: 'openai', upstream_model: 'gpt-4o', status_code: 200, latency_ms: 3, stream: false, tokens_in: 10, tokens_out: 32, cost_usd: 0.000345, cost_micros: 345, cost_source: 'genai-prices' });
  await nextTurn();
}

type Attach = typeof attachAuditLog;
const implementations: [string, Attach][] = [['this tree', attachAuditLog]];
if (process.argv[2]) {
  const other = (await import(new URL(process.argv[2], `file://${process.cwd()}/`).href)) as { attachAuditLog: Attach };
  implementations.push([process.argv[2], other.attachAuditLog]);
}
implementations.push(['no audit log (bus only)', () => Object.assign(() => undefined, { detach: () => undefined, flush: async () => undefined })]);

const runs = implementations.map(([label, attach]) => {
  const bus = new EventBus();
  // /dev/null written synchronously: the write syscalls are counted, not the disk
  attach({ bus, destination: pino.destination({ dest: '/dev/null', sync: true }) });
  return { label, bus, perCall: [] as number[] };
});
for (const run of runs) for (let i = 0; i < CALLS; i++) await emitCall(run.bus); // warm-up
for (let round = 0; round < ROUNDS; round++) {
  for (const run of runs) {
    const started = process.hrtime.bigint();
    for (let i = 0; i < CALLS; i++) await emitCall(run.bus);
    run.perCall.push(Number(process.hrtime.bigint() - started) / 1000 / CALLS);
  }
}
for (const run of runs) {
  run.perCall.sort((a, b) => a - b);
  console.log(`${run.label.padEnd(36)} ${run.perCall[ROUNDS >> 1].toFixed(2).padStart(7)} µs per call (3 events over 2 turns), median of ${ROUNDS}×${CALLS.toLocaleString('en-US')}`);
}
