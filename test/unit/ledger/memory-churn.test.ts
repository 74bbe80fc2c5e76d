// The embedded ledger holds nothing for deleted agents once their usage has left the retention: scopes, leases and claims all go.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryLedger } from '../../../src/ledger/memory.ts';

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

test('3,000 agents that called once and were deleted: after the retention the sweep holds no scope, reservation or claim', async () => {
  let now = 1_000_000;
  const ledger = new MemoryLedger({ now: () => now, sweepIntervalMs: 0, retentionMs: 2 * DAY });
  try {
    for (let index = 0; index < 3000; index++) {
      const scopes = [`agent:a${index}`, `agent:a${index}|model:openai/*`, 'shared:team'];
      const id = `r${index}`;
      assert.ok((await ledger.reserve({ id, scopes, amounts: { usd_micros: 10, requests: 1 }, checks: [], leaseMs: 10 * MINUTE })).admitted);
      if (index % 3 === 0) await ledger.reserve({ id: `lost${index}`, scopes, amounts: { usd_micros: 5 }, checks: [], leaseMs: 10 * MINUTE }); // never settled
      await ledger.settle({ id, amounts: { usd_micros: 7, requests: 1 } });
      await ledger.claimOnce({ key: `alert:agent:a${index}/usd/1d@0.8`, ttlMs: DAY });
      now += 100;
    }
    ledger.sweep();
    assert.equal(ledger.scopesHeld, 6001);
    assert.equal(ledger.openReservations, 1000);
    now += 11 * MINUTE;
    ledger.sweep();
    assert.equal(ledger.openReservations, 0, 'unsettled holds expire with their lease');
    now += DAY;
    ledger.sweep();
    assert.equal(ledger.claimsHeld, 0, 'claims go when they expire');
    assert.ok(ledger.scopesHeld > 0, 'usage inside the retention is kept');
    now += 2 * DAY;
    ledger.sweep();
    assert.equal(ledger.scopesHeld, 0, 'no scope is held once its usage has left the retention');
  } finally {
    await ledger.close();
  }
});
