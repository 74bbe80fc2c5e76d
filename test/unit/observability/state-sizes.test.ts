// The state gauges a soak reads: every scrape reads the parts afresh, and the embedded ledger's held state is among them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExpositionWriter } from '../../../src/observability/exposition.ts';
import { ledgerParts, stateFamilies } from '../../../src/observability/state-sizes.ts';
import { MemoryLedger } from '../../../src/ledger/memory.ts';

function valuesOf(families: ReturnType<typeof stateFamilies>, name: string): Record<string, number> {
  const family = families.find((candidate) => candidate.name === name)!;
  return Object.fromEntries([...family.series].map((series) => [series.labels[0], series.value]));
}

test('each scrape reads every part again (not a value or an iterator kept from the first)', () => {
  let held = 1;
  const families = stateFamilies({ held: () => held });
  assert.equal(valuesOf(families, 'tollgate_state_entries').held, 1);
  held = 5;
  assert.equal(valuesOf(families, 'tollgate_state_entries').held, 5);
  assert.equal(valuesOf(families, 'tollgate_state_entries').held, 5, 'a third scrape still sees it');
  assert.ok(valuesOf(families, 'tollgate_heap_bytes').used > 0);
  assert.ok(Object.keys(valuesOf(families, 'tollgate_active_resources')).length >= 0);
});

test('a part that throws is left out of that scrape, the others are written', async () => {
  const families = stateFamilies({
    closed: () => {
      throw new Error('closed');
    },
    open: () => 2,
  });
  assert.deepEqual(valuesOf(families, 'tollgate_state_entries'), { open: 2 });
  const writer = new ExpositionWriter();
  for (const family of families) await writer.family(family);
  assert.match(writer.pieces().join(''), /^tollgate_state_entries\{part="open"\} 2$/m);
});

test('the embedded ledger reports its reservations, ended ids and scopes; a ledger without them reports none', async () => {
  const ledger = new MemoryLedger({ sweepIntervalMs: 0 });
  await ledger.reserve({ id: 'r1', scopes: ['agent:a'], amounts: { requests: 1 }, checks: [], leaseMs: 60_000 });
  const parts = ledgerParts(ledger);
  assert.equal(parts.ledger_reservations(), 1);
  await ledger.settle({ id: 'r1', amounts: { requests: 1 } });
  assert.equal(parts.ledger_reservations(), 0);
  assert.equal(parts.ledger_ended_ids(), 1);
  assert.equal(parts.ledger_scopes(), 1);
  await ledger.close();
  assert.deepEqual(ledgerParts({}), {});
});
