// Micro-benchmark of what every call pays after the relay: the bus events of one call through each subscriber alone.
// `node bin/run-ts.js bench/micro-observers.ts`: µs per call (request + budget decision + response events), medians.
import pino from 'pino';
import { EventBus } from '../src/observability/events.ts';
import { attachBareMetrics, TIMING, timeCalls } from './call-events.ts';
import { attachAuditLog } from '../src/observability/audit-log.ts';
import { EventFeed } from '../src/admin/event-feed.ts';
import { CostTotals } from '../src/admin/cost-totals.ts';

const observers: [string, (bus: EventBus) => void][] = [
  ['bus only', () => undefined],
  // /dev/null written synchronously: the write syscalls are counted, not the disk
  ['audit log', (bus) => attachAuditLog({ bus, destination: pino.destination({ dest: '/dev/null', sync: true }) })],
  ['dashboard feed, no client', (bus) => new EventFeed({ bus })],
  ['metrics', attachBareMetrics],
  ['cost totals', (bus) => void new CostTotals({ bus, historyDir: null, scanHistory: async function* () {} }).start()],
];

const results = await timeCalls(
  observers.map(([label, attach]) => {
    const bus = new EventBus();
    attach(bus);
    return { label, bus };
  }),
);
const base = results[0].medianUs;
for (const { label, medianUs } of results) {
  console.log(
    `${label.padEnd(28)} ${medianUs.toFixed(2).padStart(7)} µs per call${label === results[0].label ? '' : `, +${(medianUs - base).toFixed(2)} over the bus alone`}`,
  );
}
console.log(`(3 events over 2 turns per call, ${TIMING})`);
