// /metrics shows the calls in flight and the event loop's delay since the last scrape.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PolicyStore } from '../../../src/budget/policy/store.ts';
import { MemoryLedger } from '../../../src/ledger/memory.ts';
import { EventBus } from '../../../src/observability/events.ts';
import { createMetrics } from '../../../src/observability/metrics.ts';
import { InFlightCalls } from '../../../src/pipeline/in-flight.ts';
import { LoopLag } from '../../../src/observability/loop-lag.ts';

describe('runtime metrics', () => {
  it('reports the calls in flight and an event loop held busy', async () => {
    const inFlight = new InFlightCalls();
    const loopLag = new LoopLag();
    const metrics = createMetrics({
      bus: new EventBus(),
      ledger: new MemoryLedger({ sweepIntervalMs: 0 }),
      agents: { list: () => [] },
      policies: new PolicyStore({ governanceDir: null }),
      inFlight,
      loopLag,
    });
    inFlight.started();
    inFlight.started();
    inFlight.started();
    inFlight.ended();
    await new Promise((resolve) => setTimeout(resolve, 30)); // let the delay monitor take a sample or two
    const busyUntil = performance.now() + 80;
    while (performance.now() < busyUntil); // the loop is blocked: every timer, and the monitor's, is late
    await new Promise((resolve) => setTimeout(resolve, 30));
    const text = await metrics.render();
    assert.match(text, /^# TYPE tollgate_in_flight_calls gauge$/m);
    assert.match(text, /^tollgate_in_flight_calls 2$/m);
    const max = Number(/^tollgate_event_loop_lag_seconds\{stat="max"\} (\S+)$/m.exec(text)?.[1]);
    assert.ok(max >= 0.05, `a loop blocked for 80 ms shows as lag (max ${max} s)`);
    assert.match(text, /^tollgate_event_loop_lag_seconds\{stat="p99"\} \S+$/m);
    metrics.close();
    loopLag.stop();
  });
});
