// The Redis ledger's running window sums: exact as usage leaves the window, fed by late records, recounted after idling.
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import type { Amounts, Ledger, LimitCheck } from '../../../src/ledger/ledger.ts';
import { MemoryLedger } from '../../../src/ledger/memory.ts';
import { makeTestLedger, REDIS_URL, requireRedis } from './redis-test-support.ts';

before(() => requireRedis());

const SECOND = 1000;

function limit(scope: string, windowMs: number, metric: LimitCheck['metric'] = 'usd_micros'): LimitCheck {
  return { id: `${scope}/${metric}/${windowMs}`, scope, metric, windowMs, limit: Number.MAX_SAFE_INTEGER };
}

async function spend(ledger: Ledger, scopes: string[], amounts: Amounts): Promise<void> {
  const id = randomUUID();
  assert.equal((await ledger.reserve({ id, scopes, amounts, checks: [], leaseMs: 30_000 })).admitted, true);
  assert.equal(await ledger.settle({ id, amounts }), true);
}

/** Waits until the next whole second plus `ms`, so a spend lands early in a fresh 1 s bucket. */
async function atSecond(ms = 50): Promise<void> {
  const target = Math.ceil(Date.now() / SECOND) * SECOND + ms;
  await sleep(target - Date.now());
}

describe('redis ledger running window sums', () => {
  it('drops exactly what left a window the sum already counted, and keeps the rest', async () => {
    const { ledger, cleanup } = await makeTestLedger('sums-roll');
    try {
      const scope = `agent:${randomUUID().slice(0, 8)}`;
      const window = limit(scope, 3 * SECOND);
      const requests = limit(scope, 3 * SECOND, 'requests');
      await ledger.standing([window, requests]); // the sums exist from here on
      await atSecond();
      await spend(ledger, [scope], { usd_micros: 1_000_003, requests: 1 });
      await atSecond();
      await spend(ledger, [scope], { usd_micros: 7, requests: 1 });
      await spend(ledger, [scope], { usd_micros: 11 });
      assert.deepEqual(
        (await ledger.standing([window, requests])).map((standing) => standing.used),
        [1_000_021, 2],
      );
      // a bucket counts until 3 s after it ends: the first spend's leaves at S + 4 (it was spent in second S), the
      // others' at S + 5
      for (let second = 0; second < 3; second++) await atSecond(300);
      const [usd, count] = await ledger.standing([window, requests]);
      assert.deepEqual([usd.used, count.used], [18, 1], 'exactly the first spend left, in every metric');
      assert.ok(usd.resetMs !== null && usd.resetMs <= SECOND, `the reset is when the second spend leaves (${usd.resetMs} ms)`);
    } finally {
      await cleanup();
    }
  });

  it('counts a late record inside a window it already sums, and not one before it', async () => {
    const { ledger, cleanup } = await makeTestLedger('sums-late');
    try {
      const scope = `agent:${randomUUID().slice(0, 8)}`;
      const minute = limit(scope, 60 * SECOND);
      await spend(ledger, [scope], { usd_micros: 5 });
      assert.equal((await ledger.standing([minute]))[0].used, 5);
      await ledger.record({ scopes: [scope], amounts: { usd_micros: 40 }, at: Date.now() - 30 * SECOND });
      await ledger.record({ scopes: [scope], amounts: { usd_micros: 900 }, at: Date.now() - 90 * SECOND });
      const [standing] = await ledger.standing([minute]);
      assert.equal(standing.used, 45, 'the record 30 s ago counts, the one 90 s ago does not');
      assert.ok(standing.resetMs !== null && standing.resetMs <= 31 * SECOND, `the reset follows the older record (${standing.resetMs} ms)`);
    } finally {
      await cleanup();
    }
  });

  it('answers like the embedded ledger for a window first asked for after its usage, and after the usage it held left', async () => {
    const { ledger, cleanup } = await makeTestLedger('sums-first');
    const memory = new MemoryLedger({ sweepIntervalMs: 0 });
    try {
      const scope = `shared:${randomUUID().slice(0, 8)}`;
      for (const amounts of [{ usd_micros: 3, requests: 1 }, { usd_micros: 4, input_tokens: 9 }, { requests: 2 }]) {
        await spend(ledger, [scope], amounts);
        await spend(memory, [scope], amounts);
      }
      const checks = [limit(scope, 2 * SECOND), limit(scope, 2 * SECOND, 'requests'), limit(scope, 60 * SECOND, 'input_tokens'), limit(scope, 3_600_000)];
      const used = async (of: Ledger) => (await of.standing(checks)).map((standing) => standing.used);
      assert.deepEqual(await used(ledger), await used(memory), 'first asked for: counted from the buckets');
      assert.deepEqual(await used(ledger), [7, 3, 9, 7]);
      await sleep(3.2 * SECOND);
      assert.deepEqual(await used(ledger), [0, 0, 9, 7], 'the 2 s windows emptied, the longer ones kept it all');
      assert.deepEqual(await used(ledger), await used(memory));
    } finally {
      await memory.close();
      await cleanup();
    }
  });

  it('keeps the sums in the scope state, one hash per scope that nothing else shares', async () => {
    const { ledger, prefix, cleanup } = await makeTestLedger('sums-state');
    const admin = new Redis(REDIS_URL);
    try {
      const scope = `agent:${randomUUID().slice(0, 8)}`;
      await spend(ledger, [scope], { usd_micros: 9 });
      await ledger.standing([limit(scope, 60 * SECOND), limit(scope, 3_600_000, 'requests')]);
      const fields = await admin.hkeys(`{${prefix}}:v3:s:${scope}`);
      assert.deepEqual(fields.sort(), ['h', 'u', 'w'], 'holds, usage and the running sums');
      assert.equal((await admin.hgetBuffer(`{${prefix}}:v3:s:${scope}`, 'w'))?.length, 2 * 6 * 8, 'two sums of six doubles');
    } finally {
      admin.disconnect();
      await cleanup();
    }
  });
});
