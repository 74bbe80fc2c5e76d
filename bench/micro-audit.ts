// Micro-benchmark of the audit path: bus.emit → audit line → stdout-like sink, for the events of one budgeted call.
// `node bin/run-ts.js bench/micro-audit.ts [other-audit-log.ts]`: with a second implementation, runs both, interleaved.
import pino from 'pino';
import { EventBus } from '../src/observability/events.ts';
import { attachAuditLog } from '../src/observability/audit-log.ts';
import { TIMING, timeCalls } from './call-events.ts';

type Attach = typeof attachAuditLog;
const implementations: [string, Attach][] = [['this tree', attachAuditLog]];
if (process.argv[2]) {
  const other = (await import(new URL(process.argv[2], `file://${process.cwd()}/`).href)) as { attachAuditLog: Attach };
  implementations.push([process.argv[2], other.attachAuditLog]);
}
implementations.push(['no audit log (bus only)', () => Object.assign(() => undefined, { detach: () => undefined, flush: async () => undefined })]);

const results = await timeCalls(
  implementations.map(([label, attach]) => {
    const bus = new EventBus();
    // /dev/null written synchronously: the write syscalls are counted, not the disk
    attach({ bus, destination: pino.destination({ dest: '/dev/null', sync: true }) });
    return { label, bus };
  }),
);
for (const { label, medianUs } of results) {
  console.log(`${label.padEnd(36)} ${medianUs.toFixed(2).padStart(7)} µs per call (3 events over 2 turns), ${TIMING}`);
}
