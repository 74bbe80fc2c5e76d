// What the process holds, as gauges: entries of its long-lived maps and its active handles, to show nothing grows per call.
import type { Family, Series } from './exposition.ts';

/** A named count read at scrape time (a map's size, files open, ...). */
export type StateParts = Readonly<Record<string, () => number>>;

/**
 * `tollgate_state_entries{part}`: the size of each long-lived structure given (the ledger's reservations and ended ids,
 * the history writer's agents, the loop breaker's agents, ...); `tollgate_active_resources{type}`: the process's active
 * handles and requests by kind (TCPSocketWrap, Timeout, FSReqCallback, ...), as Node reports them; and
 * `tollgate_heap_bytes{kind}`. Read afresh at every scrape. A soak at steady load (bench/soak.ts) reads them: under a
 * steady load none may grow with the number of calls.
 */
export function stateFamilies(parts: StateParts): readonly Family[] {
  return [
    {
      name: 'tollgate_state_entries',
      help: 'Entries held by long-lived in-memory structures, by part.',
      type: 'gauge',
      labelNames: ['part'],
      series: { [Symbol.iterator]: () => partSeries(parts) },
    },
    {
      name: 'tollgate_active_resources',
      help: 'Active handles and requests keeping the event loop alive, by type.',
      type: 'gauge',
      labelNames: ['type'],
      series: { [Symbol.iterator]: resourceSeries },
    },
    {
      name: 'tollgate_heap_bytes',
      help: 'V8 heap and off-heap memory, by kind (used, total, external, array_buffers).',
      type: 'gauge',
      labelNames: ['kind'],
      series: { [Symbol.iterator]: heapSeries },
    },
  ];
}

function* partSeries(parts: StateParts): Iterator<Series> {
  for (const [part, read] of Object.entries(parts)) {
    let value: number;
    try {
      value = read();
    } catch {
      continue; // a part that cannot be read now (closed) is left out of this scrape
    }
    yield { labels: [part], value };
  }
}

function* resourceSeries(): Iterator<Series> {
  const counts = new Map<string, number>();
  for (const type of process.getActiveResourcesInfo()) counts.set(type, (counts.get(type) ?? 0) + 1);
  for (const [type, count] of [...counts].sort(([a], [b]) => a.localeCompare(b))) yield { labels: [type], value: count };
}

function* heapSeries(): Iterator<Series> {
  const memory = process.memoryUsage();
  yield { labels: ['used'], value: memory.heapUsed };
  yield { labels: ['total'], value: memory.heapTotal };
  yield { labels: ['external'], value: memory.external };
  yield { labels: ['array_buffers'], value: memory.arrayBuffers };
}

/** The embedded ledger's held state (MemoryLedger's diagnostics); none for a ledger without them (Redis). */
export function ledgerParts(ledger: object): StateParts {
  const held = ledger as Partial<Record<'openReservations' | 'scopesHeld' | 'sessionsHeld' | 'tombstonesHeld' | 'claimsHeld', number>>;
  if (typeof held.tombstonesHeld !== 'number') return {};
  return {
    ledger_reservations: () => held.openReservations ?? 0,
    ledger_scopes: () => held.scopesHeld ?? 0,
    ledger_sessions: () => held.sessionsHeld ?? 0,
    ledger_ended_ids: () => held.tombstonesHeld ?? 0,
    ledger_claims: () => held.claimsHeld ?? 0,
  };
}
